//! The row is the request DaxPay acted on (issue 19, items 1–3), through real sockets: paybridge
//! in front of a relay that steers each of its calls on DaxPay (the sandbox) one by one, so
//! that requests, retries, clean-ups and callbacks interleave in exactly the order a test
//! chooses, without timing.
//!
//! Each test checks the order store's row (opened beside paybridge on the same SQLite file),
//! the merchant's notification (where it went, what it said) and what a later request answers.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::steering::Relay;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use paybridge::config::StoreUrl;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::{NotificationKind, NotificationStatus, OrderStore, RowState};
use paybridge_sandbox::Sandbox;
use serde_json::Value;
use tokio::net::TcpListener;

const PAY: &str = "/unipay/pay";
const REFUND: &str = "/unipay/refund";
const REFUND_QUERY: &str = "/unipay/query/refundOrder";

// ---------------------------------------------------------------------------------------------
// The merchant's notify endpoint and the world
// ---------------------------------------------------------------------------------------------

/// A notification as the merchant received it: its path and its form's parameters.
type Received = (String, BTreeMap<String, String>);

/// A merchant endpoint that acknowledges everything.
#[derive(Clone, Default)]
struct Merchant {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Merchant {
    async fn start() -> (Merchant, SocketAddr) {
        let merchant = Merchant::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = merchant.received.clone();
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let seen = seen.clone();
            async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let params = form_urlencoded::parse(&body).into_owned().collect();
                seen.lock().unwrap().push((path, params));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"SUCCESS"))))
            }
        });
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_millis(100),
        ));
        (merchant, addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The first notification, once one came (waiting at most 5 s).
    async fn first(&self) -> Received {
        for _ in 0..250 {
            if let Some(first) = self.received().into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no notification within 5 s");
    }
}

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    relay: Relay,
    /// The order store paybridge uses, opened on the same file.
    store: OrderStore,
    merchant: Merchant,
    steered: Vec<&'static str>,
    /// The merchant endpoint's base URL.
    notify: String,
    _sandbox: Running,
    _dir: tempfile::TempDir,
}

impl World {
    /// paybridge (its own `public_url`, a SQLite file, notifications retried every 50 ms) in
    /// front of a relay steering `steered`, in front of the sandbox.
    async fn start(steered: &[&'static str]) -> World {
        World::start_with(steered, "", "").await
    }

    /// The same, with `upstream` added to the DaxPay upstream's section and `extra` to the
    /// configuration.
    async fn start_with(steered: &[&'static str], upstream: &str, extra: &str) -> World {
        let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[]).replace(
            "[sandbox]\n",
            "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
        ))
        .await;
        let relay = Relay::start(sb.addr, steered).await;
        let (merchant, merchant_addr) = Merchant::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let toml = proxy_toml(
            relay.addr,
            "3.0",
            "hmac_sha256",
            "",
            // A way code DaxPay 3.0 has no strategy for (it answers 20030).
            "[merchants.way_codes]\nUP_QR = \"union_pay/qrcode\"\n",
        )
        .replace(
            "[server]\n",
            &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
        )
        .replace("timeout_ms = 2000", &format!("{upstream}timeout_ms = 8000"))
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
            + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n"
            + extra;
        let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
        let gateway = paybridge::proxy::Gateway::new(config.clone());
        gateway.start_notifier();
        if extra.contains("[settlement]") {
            gateway.start_settlement();
        }
        let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_secs(1),
        ));
        World {
            proxy,
            sandbox,
            relay,
            store: OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap(),
            merchant,
            steered: steered.to_vec(),
            notify: format!("http://{merchant_addr}"),
            _sandbox: sb,
            _dir: dir,
        }
    }

    /// Sends `body` to `path` in the background.
    fn send(&self, path: &'static str, body: Value) -> tokio::task::JoinHandle<Value> {
        let proxy = self.proxy;
        tokio::spawn(async move { post_json(proxy, path, &body).await.json() })
    }

    /// A paid order `no` of 10.00 yuan (no notify URL: no notification of its own).
    async fn paid_order(&mut self, no: &str) -> String {
        let pending = self.send("/api/pay/unifiedOrder", pay(no, "WX_NATIVE", "1000", None));
        if self.steered.contains(&PAY) {
            self.relay.next(PAY).await.forward();
        }
        let answer = pending.await.unwrap();
        assert_eq!(answer["code"], 0, "{answer}");
        let order_no = answer["data"]["payOrderId"].as_str().unwrap().to_owned();
        self.sandbox.pay_order(&order_no).unwrap();
        order_no
    }

    /// The notification jobs in the outbox, any status.
    async fn jobs(&self, kind: NotificationKind) -> Vec<paybridge::store::Notification> {
        let mut all = Vec::new();
        for status in [
            NotificationStatus::Pending,
            NotificationStatus::Delivered,
            NotificationStatus::Failed,
        ] {
            all.extend(self.store.notifications(status, 100).await.unwrap());
        }
        all.retain(|n| n.kind == kind);
        all
    }
}

fn pay(no: &str, way: &str, fen: &str, notify: Option<&str>) -> Value {
    let mut fields = vec![
        ("mchOrderNo", no),
        ("wayCode", way),
        ("amount", fen),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ];
    if way.ends_with("_BAR") {
        fields.push(("channelExtra", r#"{"authCode":"134567890123456789"}"#));
    }
    if let Some(notify) = notify {
        fields.push(("notifyUrl", notify));
    }
    jeepay_body(&fields)
}

fn refund(order: &str, no: &str, fen: &str, reason: &str, notify: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", order),
        ("mchRefundNo", no),
        ("refundAmount", fen),
        ("currency", "cny"),
        ("refundReason", reason),
        ("notifyUrl", notify),
        ("extParam", &format!("ext-{fen}")),
    ])
}

fn refund_query(no: &str) -> Value {
    jeepay_body(&[("mchRefundNo", no)])
}

/// DaxPay 3.0 refusing a call before its handler acted: a validation error, unsigned.
const REFUSED_BEFORE_ACTING: &str =
    r#"{"code":10506,"msg":"验证参数错误","data":null,"resTime":"2026-01-01 00:00:00"}"#;
/// A request of a number whose earlier request may still land: unknown, nothing sent.
const EARLIER_UNKNOWN: &str = "系统异常[上次请求结果未知，请稍后查询订单]";
/// DaxPay 3.0's answer to a concurrent refund under the same number (its lock is taken).
const REFUND_LOCKED: &str = r#"{"code":20043,"msg":"退款处理中，请勿重复操作","data":null,"resTime":"2026-01-01 00:00:00"}"#;

// ---------------------------------------------------------------------------------------------
// 1. A retry that joins a pending number is not undone by the first request's clean-up
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_pay_retry_that_joined_survives_the_first_requests_clean_up() {
    let mut w = World::start(&[PAY]).await;
    let notify = format!("{}/pay", w.notify);
    let first = w.send(
        "/api/pay/unifiedOrder",
        pay("P1", "WX_NATIVE", "1230", Some(&notify)),
    );
    let first_call = w.relay.next(PAY).await;
    // The merchant retries (same fields, new reqTime) while the first has no answer yet.
    let retry = w.send(
        "/api/pay/unifiedOrder",
        pay("P1", "WX_NATIVE", "1230", Some(&notify)),
    );
    let release_retry = w.relay.next(PAY).await.forward_held();
    // DaxPay refused the first before acting: its clean-up runs while the retry's order exists.
    first_call.answer(StatusCode::OK, REFUSED_BEFORE_ACTING);
    let refused = first.await.unwrap();
    assert_ne!(refused["code"], 0, "{refused}");
    release_retry.send(()).unwrap();
    let created = retry.await.unwrap();
    assert_eq!(created["code"], 0, "{created}");
    let order_no = created["data"]["payOrderId"].as_str().unwrap();

    let row = w.store.pay_by_mch_order_no(JEEPAY_MCH, "P1").await.unwrap();
    let row = row.expect("the row of the order DaxPay made");
    assert_eq!(
        (row.state, row.pay_order_id.as_deref(), row.amount_fen),
        (RowState::Created, Some(order_no), 1230)
    );
    // DaxPay's callback finds its order: the merchant is notified.
    w.sandbox.pay_order(order_no).unwrap();
    let (path, n) = w.merchant.first().await;
    assert_eq!(
        (path.as_str(), n["payOrderId"].as_str(), n["state"].as_str()),
        ("/pay", order_no, "2")
    );
    assert_eq!(n["wayCode"], "WX_NATIVE");
    let again = post_json(
        w.proxy,
        "/api/pay/unifiedOrder",
        &pay("P1", "WX_NATIVE", "1230", Some(&notify)),
    )
    .await;
    assert_eq!(again.body, error(9999, "商户订单[P1]已存在"));
    assert_eq!(
        w.relay.calls(PAY),
        2,
        "the number never reached DaxPay again"
    );
}

#[tokio::test]
async fn a_refund_retry_that_joins_is_not_sent_and_the_number_is_free_after_the_clean_up() {
    let mut w = World::start(&[REFUND]).await;
    w.paid_order("P2").await;
    let notify = format!("{}/refund", w.notify);
    let first = w.send(
        "/api/refund/refundOrder",
        refund("P2", "RF-1", "100", "r", &notify),
    );
    let first_call = w.relay.next(REFUND).await;
    // The retry joins while the first is on its way: it may still land, so the retry is
    // answered unknown and never sent (gap 2), and gives its attempt up.
    let retry = post_json(
        w.proxy,
        "/api/refund/refundOrder",
        &refund("P2", "RF-1", "100", "r", &notify),
    )
    .await;
    assert_eq!(retry.body, error(10, EARLIER_UNKNOWN));
    assert_eq!(w.relay.calls(REFUND), 1, "the retry was not sent");
    // The first is DaxPay's concurrent duplicate: refused (20043), nothing made for it. Its
    // clean-up frees the number (no other request relies on it).
    first_call.answer(StatusCode::OK, REFUND_LOCKED);
    let refused = first.await.unwrap();
    assert_ne!(refused["code"], 0, "{refused}");
    assert!(w
        .store
        .refund_by_mch_refund_no(JEEPAY_MCH, "RF-1")
        .await
        .unwrap()
        .is_none());
    let again = w.send(
        "/api/refund/refundOrder",
        refund("P2", "RF-1", "100", "r", &notify),
    );
    w.relay.next(REFUND).await.forward();
    let refunded = again.await.unwrap();
    assert_eq!(
        (
            refunded["code"].as_i64(),
            refunded["data"]["state"].as_i64()
        ),
        (Some(0), Some(2)),
        "{refunded}"
    );
    let refund_no = refunded["data"]["refundOrderId"].as_str().unwrap();
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-1").await;
    let row = row.unwrap().expect("the row of the refund DaxPay made");
    assert_eq!(
        (
            row.state,
            row.refund_order_id.as_deref(),
            row.refund_amount_fen
        ),
        (RowState::Created, Some(refund_no), 100)
    );
    // DaxPay's success callback reaches the merchant.
    let (path, n) = w.merchant.first().await;
    assert_eq!(
        (
            path.as_str(),
            n["refundOrderId"].as_str(),
            n["state"].as_str()
        ),
        ("/refund", refund_no, "2")
    );
    assert_eq!(w.sandbox.refunds().len(), 1);
}

#[tokio::test]
async fn a_concurrent_duplicate_daxpay_refuses_20030_does_not_lose_the_order() {
    let mut w = World::start(&[PAY]).await;
    // A: a way code DaxPay cannot serve (20030), to …/A; B: the same number, to …/B.
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    let a = w.send(
        "/api/pay/unifiedOrder",
        pay("P3", "UP_QR", "100", Some(&to_a)),
    );
    let release_a = w.relay.next(PAY).await.forward_held();
    let b = w.send(
        "/api/pay/unifiedOrder",
        pay("P3", "WX_NATIVE", "300", Some(&to_b)),
    );
    let release_b = w.relay.next(PAY).await.forward_held();
    release_a.send(()).unwrap();
    let refused = a.await.unwrap();
    assert_eq!(refused["code"], 9999, "{refused}");
    release_b.send(()).unwrap();
    let created = b.await.unwrap();
    assert_eq!(created["code"], 0, "{created}");
    let order_no = created["data"]["payOrderId"].as_str().unwrap();

    let row = w.store.pay_by_mch_order_no(JEEPAY_MCH, "P3").await.unwrap();
    let row = row.expect("the row of B's order");
    assert_eq!(
        (
            row.pay_order_id.as_deref(),
            row.way_code.as_str(),
            row.amount_fen
        ),
        (Some(order_no), "WX_NATIVE", 300)
    );
    assert_eq!(row.notify_url.as_deref(), Some(to_b.as_str()));
    let q = post_json(
        w.proxy,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "P3")]),
    )
    .await
    .json();
    assert_eq!(q["data"]["wayCode"], "WX_NATIVE", "{q}");
    w.sandbox.pay_order(order_no).unwrap();
    let (path, n) = w.merchant.first().await;
    assert_eq!((path.as_str(), n["amount"].as_str()), ("/B", "300"));
}

// ---------------------------------------------------------------------------------------------
// 2. The notification goes to the request DaxPay accepted, with its fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refund_is_notified_to_the_request_daxpay_accepted() {
    // DaxPay rejects requests older than 1 s, as the operator declares: once A's latest landing
    // moment is past (1 s + the margin after its call ended), B may be sent.
    let mut w = World::start_with(&[REFUND], "request_expiry_secs = 1\n", "").await;
    w.paid_order("P4").await;
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    // A never reaches DaxPay, but paybridge cannot know: its outcome is unknown (code 10).
    let a = w.send(
        "/api/refund/refundOrder",
        refund("P4", "RF-2", "100", "r", &to_a),
    );
    w.relay
        .next(REFUND)
        .await
        .answer(StatusCode::BAD_GATEWAY, "");
    let unknown = a.await.unwrap();
    assert_eq!(unknown["code"], 10, "{unknown}");
    tokio::time::sleep(
        Duration::from_secs(1)
            + paybridge::replay::landing::LANDING_MARGIN
            + Duration::from_millis(300),
    )
    .await;
    // B, the same number with other fields, is made.
    let b = w.send(
        "/api/refund/refundOrder",
        refund("P4", "RF-2", "300", "r", &to_b),
    );
    w.relay.next(REFUND).await.forward();
    let refunded = b.await.unwrap();
    assert_eq!(refunded["data"]["state"], 2, "{refunded}");

    let (path, n) = w.merchant.first().await;
    assert_eq!(
        (
            path.as_str(),
            n["refundAmount"].as_str(),
            n["extParam"].as_str()
        ),
        ("/B", "300", "ext-300")
    );
    let jobs = w.jobs(NotificationKind::Refund).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].url.ends_with("/B"), "{}", jobs[0].url);
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-2").await;
    let row = row.unwrap().unwrap();
    assert_eq!(
        (
            row.refund_amount_fen,
            row.notify_url.as_deref(),
            row.ext_param.as_deref()
        ),
        (300, Some(to_b.as_str()), Some("ext-300"))
    );
    let q = post_json(w.proxy, "/api/refund/query", &refund_query("RF-2"))
        .await
        .json();
    assert_eq!(
        (
            q["data"]["refundAmount"].as_i64(),
            q["data"]["extParam"].as_str()
        ),
        (Some(300), Some("ext-300")),
        "{q}"
    );
}

/// Gap 2: a request with other fields (or the same fields and a new `reqTime`) that joins a
/// refund number whose earlier request is on its way is never sent while that one may land:
/// DaxPay 3.0 would run a failed refund again for it, after its failure (state 3) was
/// notified. The earlier one fails at once; the merchant is told so once, and DaxPay ran the
/// refund once.
#[tokio::test]
async fn a_refund_request_joining_one_that_may_land_is_never_sent() {
    let mut w = World::start(&[REFUND]).await;
    w.paid_order("P7").await;
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    let a = w.send(
        "/api/refund/refundOrder",
        refund("P7", "RF-7", "100", paybridge_sandbox::REFUND_FAIL, &to_a),
    );
    // A is on its way: the relay holds it before DaxPay sees it.
    let a_call = w.relay.next(REFUND).await;
    let b = post_json(
        w.proxy,
        "/api/refund/refundOrder",
        &refund("P7", "RF-7", "300", "r", &to_b),
    )
    .await;
    assert_eq!(b.body, error(10, EARLIER_UNKNOWN));
    assert_eq!(w.relay.calls(REFUND), 1, "B was never sent");
    let attempts = w.store.refund_attempts(JEEPAY_MCH, "RF-7").await.unwrap();
    assert_eq!(attempts.len(), 1, "B gave its attempt up: {attempts:?}");
    // A fails at once at DaxPay: its answer says so, and the failure is notified, once.
    a_call.forward();
    let failed = a.await.unwrap();
    assert_eq!(failed["data"]["state"], 3, "{failed}");
    let (path, n) = w.merchant.first().await;
    assert_eq!((path.as_str(), n["state"].as_str()), ("/A", "3"));
    assert_eq!(w.jobs(NotificationKind::Refund).await.len(), 1);
    assert_eq!(w.sandbox.refunds().len(), 1, "DaxPay ran the refund once");
}

#[tokio::test]
async fn a_callback_before_the_answer_notifies_the_request_daxpay_accepted() {
    let mut w = World::start(&[PAY]).await;
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    let a = w.send(
        "/api/pay/unifiedOrder",
        pay("P5", "WX_BAR", "100", Some(&to_a)),
    );
    w.relay.next(PAY).await.answer(StatusCode::BAD_GATEWAY, "");
    let unknown = a.await.unwrap();
    assert_eq!(unknown["code"], 10, "{unknown}");
    // B's bar code is paid at once: DaxPay calls back before paybridge has B's answer.
    let b = w.send(
        "/api/pay/unifiedOrder",
        pay("P5", "ALI_BAR", "300", Some(&to_b)),
    );
    let release_b = w.relay.next(PAY).await.forward_held();
    let (path, n) = w.merchant.first().await;
    assert_eq!(
        (path.as_str(), n["amount"].as_str(), n["wayCode"].as_str()),
        ("/B", "300", "ALI_BAR")
    );
    release_b.send(()).unwrap();
    let paid = b.await.unwrap();
    assert_eq!(
        (paid["code"].as_i64(), paid["data"]["orderState"].as_i64()),
        (Some(0), Some(2)),
        "{paid}"
    );
    let jobs = w.jobs(NotificationKind::Pay).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].url.ends_with("/B"), "{}", jobs[0].url);
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "P5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.state, row.way_code.as_str(), row.amount_fen),
        (RowState::Created, "ALI_BAR", 300)
    );
    let q = post_json(
        w.proxy,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "P5")]),
    )
    .await
    .json();
    assert_eq!(q["data"]["wayCode"], "ALI_BAR", "{q}");
}

// ---------------------------------------------------------------------------------------------
// 3. A refund that failed at once is notified however paybridge learns it
// ---------------------------------------------------------------------------------------------

/// A refund DaxPay fails at once (no callback follows), its answer lost and the lookup after
/// it failing too: the merchant is told the outcome is unknown.
async fn a_failed_refund_paybridge_did_not_see(w: &mut World, no: &str) -> String {
    w.paid_order("P6").await;
    let notify = format!("{}/refund", w.notify);
    let body = refund("P6", no, "100", paybridge_sandbox::REFUND_FAIL, &notify);
    let pending = w.send("/api/refund/refundOrder", body);
    w.relay.next(REFUND).await.forward_and_lose();
    w.relay
        .next(REFUND_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
    let unknown = pending.await.unwrap();
    assert_eq!(unknown["code"], 10, "{unknown}");
    let refunds = w.sandbox.refunds();
    assert_eq!(refunds.len(), 1);
    assert!(w.merchant.received().is_empty());
    notify
}

async fn assert_failure_notified(w: &World, no: &str) {
    let (path, n) = w.merchant.first().await;
    assert_eq!(
        (
            path.as_str(),
            n["mchRefundNo"].as_str(),
            n["state"].as_str()
        ),
        ("/refund", no, "3")
    );
    assert_eq!(n["refundAmount"], "100");
    let jobs = w.jobs(NotificationKind::Refund).await;
    assert_eq!(jobs.len(), 1, "once: {jobs:?}");
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, no).await;
    let row = row.unwrap().unwrap();
    assert_eq!(
        (row.state, row.status),
        (RowState::Created, Some(RefundOrderStatus::Fail))
    );
}

#[tokio::test]
async fn a_refund_failure_learnt_by_a_query_is_notified() {
    let mut w = World::start(&[REFUND, REFUND_QUERY]).await;
    a_failed_refund_paybridge_did_not_see(&mut w, "RF-3").await;
    let q = w.send("/api/refund/query", refund_query("RF-3"));
    w.relay.next(REFUND_QUERY).await.forward();
    let q = q.await.unwrap();
    assert_eq!(q["data"]["state"], 3, "{q}");
    assert_failure_notified(&w, "RF-3").await;
    // Asked again: nothing more is queued.
    let again = w.send("/api/refund/query", refund_query("RF-3"));
    w.relay.next(REFUND_QUERY).await.forward();
    assert_eq!(again.await.unwrap()["data"]["state"], 3);
    assert_eq!(w.jobs(NotificationKind::Refund).await.len(), 1);
}

#[tokio::test]
async fn a_refund_failure_learnt_by_a_retry_is_notified_and_not_run_again() {
    let mut w = World::start(&[REFUND, REFUND_QUERY]).await;
    let notify = a_failed_refund_paybridge_did_not_see(&mut w, "RF-4").await;
    let retry = w.send(
        "/api/refund/refundOrder",
        refund("P6", "RF-4", "100", "r", &notify),
    );
    // The retry looks the number up first: DaxPay holds the failed refund.
    w.relay.next(REFUND_QUERY).await.forward();
    let answer = retry.await.unwrap();
    assert_eq!(
        answer.to_string(),
        error(9999, "商户退款订单号[RF-4]已存在")
    );
    assert_failure_notified(&w, "RF-4").await;
    assert_eq!(
        w.relay.calls(REFUND),
        1,
        "DaxPay's refund never called again"
    );
}

// ---------------------------------------------------------------------------------------------
// Gap 3: a row written again by a completion is followed by the settlement worker at once
// ---------------------------------------------------------------------------------------------

/// A refund's row goes away while its call is on the way to DaxPay (a clean-up on a lagging
/// instance), and the settlement worker finds the row gone; the request's answer then writes the
/// row again. It is followed again at once (its ledger entry open), not only by the sweep
/// minutes later.
#[tokio::test]
async fn a_row_written_again_by_its_completion_is_followed_at_once() {
    use paybridge::store::{Abandoned, CheckResult, SettlementKind, SettlementStatus};
    let mut w = World::start(&[REFUND]).await;
    w.paid_order("P9").await;
    let notify = format!("{}/refund", w.notify);
    let pending = w.send(
        "/api/refund/refundOrder",
        refund("P9", "RF-9", "100", "r", &notify),
    );
    // The call is held before DaxPay sees it: once DaxPay has made the refund, its callback
    // could complete the pending row first, and then there is nothing to abandon (that race made
    // this test fail under CI's load, the entry left `gone` by the forged check below).
    let call = w.relay.next(REFUND).await;
    let attempts = w.store.refund_attempts(JEEPAY_MCH, "RF-9").await.unwrap();
    let attempt = attempts[0].attempt.clone().unwrap();
    assert_eq!(
        w.store
            .abandon_refund(JEEPAY_MCH, "RF-9", &attempt)
            .await
            .unwrap(),
        Abandoned::Removed
    );
    // The worker looks and finds the row gone.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let due = w
        .store
        .claim_due_settlements("test", now, now, 60_000, 100)
        .await
        .unwrap();
    let entry = due
        .iter()
        .find(|e| e.kind == SettlementKind::Refund && e.number == "RF-9")
        .expect("the refund's entry");
    let gone = CheckResult {
        status: SettlementStatus::Gone,
        dax_state: None,
        next_check_at_ms: now,
        error: None,
        settled_at_ms: Some(now),
    };
    assert!(w.store.record_check(entry.id, "test", &gone).await.unwrap());
    call.forward();
    let refunded = pending.await.unwrap();
    assert_eq!(refunded["data"]["state"], 2, "{refunded}");
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-9").await;
    assert_eq!(row.unwrap().unwrap().state, RowState::Created, "repaired");
    // Reopened: still open, or already followed by a worker and found final (read until it is
    // not `gone` any more, for at most 2 s: DaxPay's callback may be the one that wrote the row
    // again, and its intake's enrolment may come just after the answer).
    let mut entry = None;
    for _ in 0..40 {
        let read = w
            .store
            .settlement(SettlementKind::Refund, JEEPAY_MCH, "RF-9")
            .await
            .unwrap()
            .unwrap();
        let gone = read.status == SettlementStatus::Gone;
        entry = Some(read);
        if !gone {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let entry = entry.unwrap();
    assert!(
        matches!(
            entry.status,
            SettlementStatus::Open | SettlementStatus::Final
        ),
        "{entry:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Gap 4: a row whose request provably never reached DaxPay is released
// ---------------------------------------------------------------------------------------------

/// A pay request whose call never reached DaxPay (paybridge cannot know: its outcome is
/// unknown) on an upstream whose request expiry is declared (1 s): once the call can no longer
/// land, the settlement worker's "not found" is proof, and the row is released (the entry
/// `gone`) instead of being followed for two days and abandoned. The number is free again.
#[tokio::test]
async fn a_row_whose_request_cannot_land_any_more_is_released() {
    use paybridge::store::{SettlementKind, SettlementStatus};
    let w = World::start_with(
        &[PAY],
        "request_expiry_secs = 1\n",
        "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n",
    )
    .await;
    let mut w = w;
    let a = w.send(
        "/api/pay/unifiedOrder",
        pay("P10", "WX_NATIVE", "100", None),
    );
    w.relay.next(PAY).await.answer(StatusCode::BAD_GATEWAY, "");
    let unknown = a.await.unwrap();
    assert_eq!(unknown["code"], 10, "{unknown}");
    // While the call may land (1 s + the margin after it ended), the row stays.
    let row = w.store.pay_by_mch_order_no(JEEPAY_MCH, "P10").await;
    assert_eq!(row.unwrap().unwrap().state, RowState::Pending);
    let mut released = false;
    for _ in 0..600 {
        let entry = w
            .store
            .settlement(SettlementKind::Pay, JEEPAY_MCH, "P10")
            .await
            .unwrap()
            .unwrap();
        if entry.status == SettlementStatus::Gone {
            released = true;
            break;
        }
        assert_eq!(entry.status, SettlementStatus::Open);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entry = w
        .store
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "P10")
        .await
        .unwrap();
    assert!(released, "released within 12 s: {entry:?}");
    assert!(w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "P10")
        .await
        .unwrap()
        .is_none());
    // The number is the merchant's again.
    let again = w.send(
        "/api/pay/unifiedOrder",
        pay("P10", "WX_NATIVE", "100", None),
    );
    w.relay.next(PAY).await.forward();
    assert_eq!(again.await.unwrap()["code"], 0);
}

// ---------------------------------------------------------------------------------------------
// Gap 1: the records' own lookups follow the worker's rule; a joiner that found the refund gives up
// ---------------------------------------------------------------------------------------------

/// A joins and its call is lost after DaxPay made the refund (its lookup fails too: unknown).
/// B, the same number with other fields, looks it up first and finds it: B is told the number
/// is taken, gives its attempt up (it sent nothing), and the row is A's.
#[tokio::test]
async fn a_joiner_that_finds_the_refund_gives_its_attempt_up() {
    let mut w = World::start(&[REFUND, REFUND_QUERY]).await;
    w.paid_order("P11").await;
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    // A fails at DaxPay (no callback follows for a failure).
    let a = w.send(
        "/api/refund/refundOrder",
        refund("P11", "RF-11", "100", paybridge_sandbox::REFUND_FAIL, &to_a),
    );
    w.relay.next(REFUND).await.forward_and_lose();
    w.relay
        .next(REFUND_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
    assert_eq!(a.await.unwrap()["code"], 10);
    let b = w.send(
        "/api/refund/refundOrder",
        refund("P11", "RF-11", "300", "r", &to_b),
    );
    w.relay.next(REFUND_QUERY).await.forward();
    assert_eq!(
        b.await.unwrap().to_string(),
        error(9999, "商户退款订单号[RF-11]已存在")
    );
    let attempts = w.store.refund_attempts(JEEPAY_MCH, "RF-11").await.unwrap();
    assert_eq!(attempts.len(), 1, "B gave up: {attempts:?}");
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-11").await;
    let row = row.unwrap().unwrap();
    assert_eq!(
        (row.state, row.refund_amount_fen, row.notify_url.as_deref()),
        (RowState::Created, 100, Some(to_a.as_str()))
    );
    assert_eq!(w.relay.calls(REFUND), 1);
}

/// Two requests of a refund number may each have reached DaxPay (A's call can no longer land,
/// so B was sent; B's answer has not come). A refund query learns the refund meanwhile: nothing
/// says which request it was made from, so the row is left pending (as the settlement worker
/// leaves it) and B's own answer completes it with B's fields.
#[tokio::test]
async fn a_lookup_leaves_a_row_several_requests_joined_to_the_accepted_ones_answer() {
    let mut w = World::start_with(&[REFUND], "request_expiry_secs = 1\n", "").await;
    w.paid_order("P12").await;
    let to_a = format!("{}/A", w.notify);
    let a = w.send(
        "/api/refund/refundOrder",
        refund("P12", "RF-12", "100", "r", &to_a),
    );
    w.relay
        .next(REFUND)
        .await
        .answer(StatusCode::BAD_GATEWAY, "");
    assert_eq!(a.await.unwrap()["code"], 10);
    tokio::time::sleep(
        Duration::from_secs(1)
            + paybridge::replay::landing::LANDING_MARGIN
            + Duration::from_millis(300),
    )
    .await;
    // B gives no notify URL: no callback names its request before its answer does.
    let b = w.send(
        "/api/refund/refundOrder",
        jeepay_body(&[
            ("mchOrderNo", "P12"),
            ("mchRefundNo", "RF-12"),
            ("refundAmount", "200"),
            ("currency", "cny"),
            ("refundReason", "r"),
        ]),
    );
    let release_b = w.relay.next(REFUND).await.forward_held();
    let q = post_json(w.proxy, "/api/refund/query", &refund_query("RF-12"))
        .await
        .json();
    assert_eq!(q["data"]["state"], 2, "{q}");
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-12").await;
    assert_eq!(
        row.unwrap().unwrap().state,
        RowState::Pending,
        "left to the accepted request's answer"
    );
    release_b.send(()).unwrap();
    assert_eq!(b.await.unwrap()["data"]["state"], 2);
    let row = w.store.refund_by_mch_refund_no(JEEPAY_MCH, "RF-12").await;
    let row = row.unwrap().unwrap();
    assert_eq!(
        (row.state, row.refund_amount_fen, row.notify_url.as_deref()),
        (RowState::Created, 200, None)
    );
}

/// Gap 2's last rule: a refund's failure is not notified while another request of its number
/// may still land. B is on its way when A joins and looks the number up; B fails at once while
/// A's lookup is still out (A might yet be sent, as far as B's answer knows): B is told state 3
/// but nothing is queued. A's lookup then finds B's failed refund, A gives up, and the failure
/// is notified, once, to B's notify URL.
#[tokio::test]
async fn a_refund_failure_is_not_notified_while_another_request_may_land() {
    let mut w = World::start(&[REFUND, REFUND_QUERY]).await;
    w.paid_order("P13").await;
    let (to_a, to_b) = (format!("{}/A", w.notify), format!("{}/B", w.notify));
    let b = w.send(
        "/api/refund/refundOrder",
        refund("P13", "RF-13", "100", paybridge_sandbox::REFUND_FAIL, &to_b),
    );
    let b_call = w.relay.next(REFUND).await;
    let a = w.send(
        "/api/refund/refundOrder",
        refund("P13", "RF-13", "300", "r", &to_a),
    );
    let a_lookup = w.relay.next(REFUND_QUERY).await;
    b_call.forward();
    let failed = b.await.unwrap();
    assert_eq!(failed["data"]["state"], 3, "{failed}");
    assert!(
        w.jobs(NotificationKind::Refund).await.is_empty(),
        "not notified while A may still be sent"
    );
    a_lookup.forward();
    assert_eq!(
        a.await.unwrap().to_string(),
        error(9999, "商户退款订单号[RF-13]已存在")
    );
    let (path, n) = w.merchant.first().await;
    assert_eq!((path.as_str(), n["state"].as_str()), ("/B", "3"));
    assert_eq!(w.jobs(NotificationKind::Refund).await.len(), 1);
    assert_eq!(w.relay.calls(REFUND), 1, "A was never sent");
}
