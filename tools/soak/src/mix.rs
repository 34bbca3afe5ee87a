//! The request mix and the worker that sends it: every request with the answer it must get.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::cast::*;
use crate::config::dax_order;
use crate::driver::{checkout, give_back, sign_of, Answer, Outcome, Shared};
use crate::invalid::invalid;
use crate::model::{alt, DaxState, Expect};
use crate::requests::{
    close_fields, error_body, md5_upper, now, success_body, unique_micros, Encoding, Req, Rng,
};
use crate::stats::Stats;

/// The request mix, per mille.
pub(crate) const MIX: [(&str, usize); 12] = [
    ("close: modelled DaxPay order", 220),
    ("close: unknown order", 200),
    ("fallback: unknown everywhere", 40),
    ("fallback: legacy order", 30),
    ("duplicate", 120),
    ("duplicate: concurrent pair", 30),
    ("invalid", 180),
    ("passthrough", 100),
    ("fault: dead upstream", 50),
    ("fault: dead upstream, sent twice", 10),
    ("fault: slow upstream", 10),
    ("routing: 404 / 405", 10),
];

pub(crate) async fn worker(shared: Arc<Shared>, seed: u64) -> Stats {
    let mut rng = Rng(seed);
    let mut stats = Stats::default();
    let success_t1 = success_body(T1.secret);
    let success_t2 = success_body(T2.secret);
    let success_legacy = success_body(LEGACY.secret);
    let not_closable = || error_body(9999, "当前订单不可关闭");
    let no_order = || error_body(9999, "订单不存在");
    while Instant::now() < shared.deadline && !shared.stop.load(Ordering::Relaxed) {
        let mut roll = rng.below(1000);
        let mut choice = 0;
        for (i, (_, weight)) in MIX.iter().enumerate() {
            if roll < *weight {
                choice = i;
                break;
            }
            roll -= weight;
        }
        let close_connection = rng.chance(20);
        let finish = |mut r: Req| {
            r.close_connection = close_connection;
            r
        };
        match choice {
            // A close (or cancel) of a sandbox order whose state the driver knows.
            0 => {
                let Some(mut order) = checkout(&shared.dax_pool, &mut rng) else {
                    continue;
                };
                let m = if rng.chance(500) { T1 } else { T2 };
                let (no, _) = dax_order(order.index);
                let by_biz = rng.chance(20);
                let biz = format!("B{no}");
                let fields = close_fields(
                    m,
                    unique_micros().to_string(),
                    (!by_biz).then_some(no.as_str()),
                    by_biz.then_some(biz.as_str()),
                );
                let path = if rng.chance(250) {
                    "/api/pay/cancel"
                } else {
                    "/api/pay/close"
                };
                let encoding = match rng.below(10) {
                    0 => Encoding::Form,
                    1 => Encoding::Query,
                    _ => Encoding::Json,
                };
                let req = finish(Req::build(path, encoding, &fields));
                let success = if m.mch == T1.mch {
                    success_t1.clone()
                } else {
                    success_t2.clone()
                };
                let expect = match order.state {
                    DaxState::Open(_) => Expect::one("closed", 200, success),
                    _ => Expect::one("not closable", 200, not_closable()),
                };
                match shared
                    .check(&mut stats, "close: modelled DaxPay order", &req, &expect)
                    .await
                {
                    Outcome::Right(label, body) => {
                        if label == "closed" {
                            order.state = DaxState::Closed;
                        }
                        give_back(&shared.dax_pool, order);
                        let sign = (encoding == Encoding::Json)
                            .then(|| sign_of(&fields))
                            .flatten();
                        shared.record(req, body, sign);
                    }
                    Outcome::Shed => give_back(&shared.dax_pool, order),
                    // The order's state is no longer known: it leaves the model.
                    Outcome::Wrong | Outcome::Lost => {}
                }
            }
            // A translated close of an order DaxPay does not have.
            1 => {
                let id = format!("NX{}", shared.serial());
                let t = now();
                let req_time = match rng.below(4) {
                    0 => t.as_secs().to_string(),
                    1 => t.as_micros().to_string(),
                    _ => t.as_millis().to_string(),
                };
                let fields = close_fields(T1, req_time, Some(&id), None);
                let encoding = if rng.chance(100) {
                    Encoding::Form
                } else {
                    Encoding::Json
                };
                let req = finish(Req::build("/api/pay/close", encoding, &fields));
                let expect = Expect::one("no such order", 200, no_order());
                if let Outcome::Right(_, body) = shared
                    .check(&mut stats, "close: unknown order", &req, &expect)
                    .await
                {
                    let sign = (encoding == Encoding::Json)
                        .then(|| sign_of(&fields))
                        .flatten();
                    shared.record(req, body, sign);
                }
            }
            // DaxPay says 20041, the legacy gateway does not have it either.
            2 => {
                let id = format!("FX{}", shared.serial());
                let fields = close_fields(T2, unique_micros().to_string(), Some(&id), None);
                let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                let expect = Expect::one("legacy: no such order", 200, no_order());
                if let Outcome::Right(_, body) = shared
                    .check(&mut stats, "fallback: unknown everywhere", &req, &expect)
                    .await
                {
                    shared.record(req, body, sign_of(&fields));
                }
            }
            // DaxPay says 20041, the legacy gateway closes (once) or refuses.
            3 => {
                let Some(mut order) = checkout(&shared.fallback_pool, &mut rng) else {
                    continue;
                };
                let fields = close_fields(T2, unique_micros().to_string(), Some(&order.id), None);
                let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                let expect = if order.open {
                    Expect::one("legacy: closed", 200, success_t2.clone())
                } else {
                    Expect::one("legacy: not closable", 200, not_closable())
                };
                match shared
                    .check(&mut stats, "fallback: legacy order", &req, &expect)
                    .await
                {
                    Outcome::Right(label, body) => {
                        if label == "legacy: closed" {
                            order.open = false;
                        }
                        give_back(&shared.fallback_pool, order);
                        shared.record(req, body, sign_of(&fields));
                    }
                    Outcome::Shed => give_back(&shared.fallback_pool, order),
                    Outcome::Wrong | Outcome::Lost => {}
                }
            }
            // The same signed request again: the first answer, replayed.
            4 => {
                let picked = {
                    let ring = shared.ring.lock().unwrap_or_else(|e| e.into_inner());
                    if ring.is_empty() {
                        None
                    } else {
                        // Recent ones mostly, any of the ring sometimes.
                        let n = ring.len();
                        let back = if rng.chance(700) {
                            rng.below(n.min(16))
                        } else {
                            rng.below(n)
                        };
                        ring.get(n - 1 - back).cloned()
                    }
                };
                let Some(recorded) = picked else { continue };
                let (kind, req) = match &recorded.sign {
                    // Jeepay compares signatures case-insensitively: so does the replay key.
                    Some(sign) if rng.chance(250) => {
                        let body = String::from_utf8_lossy(&recorded.req.body)
                            .replace(sign.as_str(), &sign.to_ascii_lowercase());
                        let mut req = recorded.req.clone();
                        req.body = Bytes::from(body);
                        ("duplicate: sign in lower case", req)
                    }
                    _ => ("duplicate: exact", recorded.req.clone()),
                };
                let expect = Expect {
                    alts: vec![alt("replayed", 200, recorded.answer.to_vec())],
                    replay: true,
                };
                shared.check(&mut stats, kind, &finish(req), &expect).await;
            }
            // Two copies of a new request at once: one goes upstream, the other waits for it.
            5 => {
                let id = format!("CX{}", shared.serial());
                let fields = close_fields(T1, unique_micros().to_string(), Some(&id), None);
                let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                let kind = "duplicate: concurrent pair";
                let either = Expect {
                    alts: vec![alt("no such order", 200, no_order())],
                    replay: false,
                };
                let started = Instant::now();
                let timed = || async { (shared.send(&req).await, started.elapsed()) };
                let (a, b) = tokio::join!(timed(), timed());
                stats.kind(kind).sent += 2;
                let mut answers = Vec::new();
                for (r, took) in [a, b] {
                    match r {
                        Ok(a) => {
                            let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
                            stats.kind(kind).latencies_us.push(us);
                            answers.push(a);
                        }
                        Err(e) => shared.note_error(&mut stats, kind, &req, &e),
                    }
                }
                let busy = error_body(10, BUSY);
                let served: Vec<&Answer> = answers
                    .iter()
                    .filter(|a| !(a.status == StatusCode::SERVICE_UNAVAILABLE && a.body == busy))
                    .collect();
                let shed = answers.len() - served.len();
                let replays = served.iter().filter(|a| a.replay).count();
                let bodies_right = served
                    .iter()
                    .all(|a| a.status == StatusCode::OK && a.body.as_ref() == no_order());
                // Exactly one of the served copies went upstream, unless both were answered.
                let replays_right = served.is_empty() || replays == served.len() - 1;
                stats.replays_seen += replays as u64;
                stats.shed += shed as u64;
                let k = stats.kind(kind);
                k.answered += answers.len() as u64;
                *k.outcomes.entry("shed (503)").or_default() += shed as u64;
                if bodies_right && replays_right {
                    *k.outcomes.entry("first").or_default() += (served.len() - replays) as u64;
                    *k.outcomes.entry("replayed").or_default() += replays as u64;
                } else {
                    k.wrong += served.len() as u64;
                    *k.outcomes.entry("WRONG").or_default() += served.len() as u64;
                    for a in served {
                        shared.note_wrong(kind, &req, &either, a);
                    }
                }
            }
            // Requests paybridge must refuse, each with Jeepay's own words.
            6 => {
                let (kind, req, expect) = invalid(&mut rng, &shared);
                shared.check(&mut stats, kind, &finish(req), &expect).await;
            }
            // Not migrated: the legacy gateway answers, byte for byte.
            7 => {
                let sub = rng.below(10);
                if (4..8).contains(&sub) {
                    let Some(mut order) = checkout(&shared.legacy_pool, &mut rng) else {
                        continue;
                    };
                    let fields =
                        close_fields(LEGACY, unique_micros().to_string(), Some(&order.id), None);
                    let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                    let expect = if order.open {
                        Expect::one("closed", 200, success_legacy.clone())
                    } else {
                        Expect::one("not closable", 200, not_closable())
                    };
                    let kind = "passthrough: legacy order";
                    match shared.check(&mut stats, kind, &req, &expect).await {
                        Outcome::Right(label, _) => {
                            if label == "closed" {
                                order.open = false;
                            }
                            give_back(&shared.legacy_pool, order);
                        }
                        Outcome::Shed => give_back(&shared.legacy_pool, order),
                        Outcome::Wrong | Outcome::Lost => {}
                    }
                    continue;
                }
                let (kind, req, expect) = match sub {
                    0..=3 => {
                        let id = format!("LX{}", shared.serial());
                        let fields =
                            close_fields(LEGACY, now().as_millis().to_string(), Some(&id), None);
                        (
                            "passthrough: unknown order",
                            Req::build("/api/pay/close", Encoding::Json, &fields),
                            Expect::one("no such order", 200, no_order()),
                        )
                    }
                    8 => {
                        // Jeepay's quirk: HTTP 200 and an empty body, passed on as is.
                        let id = format!("LE{}", rng.below(4));
                        let fields =
                            close_fields(LEGACY, unique_micros().to_string(), Some(&id), None);
                        (
                            "passthrough: empty answer",
                            Req::build("/api/pay/close", Encoding::Json, &fields),
                            Expect::one("empty", 200, Vec::new()),
                        )
                    }
                    _ => {
                        let mut fields = close_fields(
                            LEGACY,
                            now().as_millis().to_string(),
                            Some("LP00001"),
                            None,
                        );
                        if let Some((_, sign)) = fields.iter_mut().find(|(k, _)| *k == "sign") {
                            *sign = md5_upper(sign);
                        }
                        (
                            "passthrough: bad signature",
                            Req::build("/api/pay/close", Encoding::Json, &fields),
                            Expect::one("验签失败 (legacy)", 200, error_body(9999, "验签失败")),
                        )
                    }
                };
                shared.check(&mut stats, kind, &finish(req), &expect).await;
            }
            // Connection refused, retried, then the circuit opens and closes again.
            8 | 9 => {
                let id = format!("DX{}", shared.serial());
                let fields = close_fields(DEAD, unique_micros().to_string(), Some(&id), None);
                let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                let expect = Expect {
                    alts: vec![
                        alt("connection failed", 200, error_body(10, CONNECT_FAILED)),
                        alt("circuit open", 200, error_body(10, CIRCUIT_OPEN)),
                    ],
                    replay: false,
                };
                // Nothing was sent: a duplicate is carried out afresh, never replayed.
                let times = if choice == 9 { 2 } else { 1 };
                for _ in 0..times {
                    let kind = if choice == 9 {
                        "fault: dead upstream, sent twice"
                    } else {
                        "fault: dead upstream"
                    };
                    shared.check(&mut stats, kind, &req, &expect).await;
                }
            }
            // Sent, no answer in time, and the query times out too: the outcome is unknown.
            10 => {
                let id = format!("SX{}", shared.serial());
                let fields = close_fields(SLOW, unique_micros().to_string(), Some(&id), None);
                let req = finish(Req::build("/api/pay/close", Encoding::Json, &fields));
                let expect = Expect::one("timed out", 200, error_body(10, TIMED_OUT));
                shared
                    .check(&mut stats, "fault: slow upstream", &req, &expect)
                    .await;
            }
            // Paths and methods paybridge does not serve.
            _ => {
                let fields = close_fields(T1, unique_micros().to_string(), Some("SK0000001"), None);
                let (kind, req, expect) = if rng.chance(500) {
                    (
                        "routing: unknown path (404)",
                        Req::build("/api/pay/nope", Encoding::Json, &fields),
                        Expect::one(
                            "not found",
                            404,
                            error_body(9999, "请求路径不存在[/api/pay/nope]"),
                        ),
                    )
                } else {
                    (
                        "routing: OPTIONS (405)",
                        Req::raw(Method::OPTIONS, "/api/pay/close", None, ""),
                        Expect::one(
                            "method not allowed",
                            405,
                            error_body(9999, "请求方法不支持[OPTIONS]"),
                        ),
                    )
                };
                shared.check(&mut stats, kind, &finish(req), &expect).await;
            }
        }
    }
    stats
}
