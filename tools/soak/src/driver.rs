//! The driver's shared state: the HTTP client, the pools of modelled orders, the ring of
//! answered requests duplicates are drawn from, and the check of one answer.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::cast::{BUSY, CLIENT_TIMEOUT, RING};
use crate::model::{DaxOrder, Expect, LegacyOrder, Recorded};
use crate::requests::{error_body, Req, Rng};
use crate::stats::Stats;

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) replay: bool,
    pub(crate) body: Bytes,
}

pub(crate) enum Outcome {
    /// Answered as expected: the matching alternative's label and the body.
    Right(&'static str, Bytes),
    /// 503 busy: nothing was done.
    Shed,
    Wrong,
    /// No answer (transport error, client-side timeout): the model no longer knows.
    Lost,
}

pub(crate) struct Shared {
    pub(crate) client: HttpClient,
    pub(crate) proxy: SocketAddr,
    pub(crate) deadline: Instant,
    pub(crate) stop: AtomicBool,
    pub(crate) dax_pool: Mutex<Vec<DaxOrder>>,
    pub(crate) legacy_pool: Mutex<Vec<LegacyOrder>>,
    pub(crate) fallback_pool: Mutex<Vec<LegacyOrder>>,
    pub(crate) ring: Mutex<VecDeque<Recorded>>,
    pub(crate) serial: AtomicU64,
    pub(crate) wrong_samples: Mutex<Vec<String>>,
    pub(crate) error_samples: Mutex<Vec<String>>,
}

impl Shared {
    pub(crate) fn serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) async fn send(&self, req: &Req) -> Result<Answer, String> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(format!("http://{}{}", self.proxy, req.uri));
        if let Some(ct) = req.content_type {
            builder = builder.header("content-type", ct);
        }
        if req.close_connection {
            builder = builder.header("connection", "close");
        }
        let request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| format!("request: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let mut chain = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    let _ = write!(chain, ": {s}");
                    source = s.source();
                }
                if e.is_connect() {
                    format!("transport/connect: {chain}")
                } else {
                    format!("transport: {chain}")
                }
            })?;
            let status = response.status();
            let replay = response
                .headers()
                .get("x-paybridge-replay")
                .is_some_and(|v| v == "true");
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("transport/body: {e}"))?
                .to_bytes();
            Ok(Answer {
                status,
                replay,
                body,
            })
        };
        match tokio::time::timeout(CLIENT_TIMEOUT, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "client timeout: no answer within {CLIENT_TIMEOUT:?}"
            )),
        }
    }

    pub(crate) fn note_wrong(&self, kind: &str, req: &Req, expect: &Expect, got: &Answer) {
        let mut samples = self.wrong_samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < 10 {
            samples.push(format!(
                "[{kind}] request: {}\n    expected: {}\n    got: {} {} (replay: {})",
                req.describe(),
                expect.describe(),
                got.status.as_u16(),
                String::from_utf8_lossy(&got.body),
                got.replay
            ));
        }
    }

    pub(crate) fn note_error(&self, stats: &mut Stats, kind: &str, req: &Req, error: &str) {
        let class = error.split(':').next().unwrap_or(error).to_owned();
        *stats.errors.entry(class).or_default() += 1;
        let mut samples = self.error_samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < 10 {
            samples.push(format!("[{kind}] {}: {error}", req.describe()));
        }
    }

    /// Sends one request and checks its answer against `expect`.
    pub(crate) async fn check(
        &self,
        stats: &mut Stats,
        kind: &'static str,
        req: &Req,
        expect: &Expect,
    ) -> Outcome {
        stats.kind(kind).sent += 1;
        let started = Instant::now();
        let answer = match self.send(req).await {
            Ok(a) => a,
            Err(e) => {
                self.note_error(stats, kind, req, &e);
                return Outcome::Lost;
            }
        };
        let elapsed = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        let k = stats.kind(kind);
        k.answered += 1;
        k.latencies_us.push(elapsed);
        if answer.status == StatusCode::SERVICE_UNAVAILABLE
            && answer.body.as_ref() == error_body(10, BUSY).as_slice()
            && !answer.replay
        {
            *k.outcomes.entry("shed (503)").or_default() += 1;
            stats.shed += 1;
            return Outcome::Shed;
        }
        let matched = expect.alts.iter().find(|a| {
            a.status == answer.status.as_u16()
                && if a.prefix {
                    answer.body.starts_with(&a.body)
                } else {
                    answer.body.as_ref() == a.body.as_slice()
                }
        });
        match matched {
            Some(a) if answer.replay == expect.replay => {
                *k.outcomes.entry(a.label).or_default() += 1;
                if answer.replay {
                    stats.replays_seen += 1;
                }
                Outcome::Right(a.label, answer.body)
            }
            _ => {
                k.wrong += 1;
                *k.outcomes.entry("WRONG").or_default() += 1;
                if answer.replay {
                    stats.replays_seen += 1;
                }
                self.note_wrong(kind, req, expect, &answer);
                Outcome::Wrong
            }
        }
    }

    pub(crate) fn record(&self, req: Req, answer: Bytes, sign: Option<String>) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= RING {
            ring.pop_front();
        }
        ring.push_back(Recorded { req, answer, sign });
    }
}

pub(crate) fn checkout<T: Clone>(pool: &Mutex<Vec<T>>, rng: &mut Rng) -> Option<T> {
    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
    if pool.is_empty() {
        return None;
    }
    let i = rng.below(pool.len());
    Some(pool.swap_remove(i))
}

pub(crate) fn give_back<T>(pool: &Mutex<Vec<T>>, item: T) {
    pool.lock().unwrap_or_else(|e| e.into_inner()).push(item);
}

pub(crate) fn sign_of(fields: &[(&'static str, String)]) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| *k == "sign")
        .map(|(_, v)| v.clone())
}

pub(crate) fn without(fields: &[(&'static str, String)], key: &str) -> Vec<(&'static str, String)> {
    fields.iter().filter(|(k, _)| *k != key).cloned().collect()
}
