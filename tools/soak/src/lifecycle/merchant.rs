//! The merchants' notify endpoint, played by the driver: flaky on purpose (some 500s, some
//! answers later than paybridge waits, some slow), and recording every notification received
//! with its Jeepay MD5 checked here, independently of paybridge.
//!
//! `notifyUrl`s are `http://127.0.0.1:<port>/n/<merchant>/<field set>`: the path says which
//! request's `notifyUrl` a notification was sent to. The epay merchant's `notify_url`s are
//! `/e/<field set>`: its notifications are GETs whose query string is checked with epay's MD5
//! ([`super::epay::verify`]) and acknowledged with `success` (epay.md §11); they are kept apart
//! (`received_epay`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;

use super::cast::*;
use super::jeepay::verify;
use super::net::{Call, Handler, Reply};
use crate::requests::Rng;

/// What the endpoint did with one notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Answered `SUCCESS` in time.
    Acknowledged,
    /// Answered HTTP 500.
    Refused,
    /// Answered only after paybridge's attempt timeout.
    Hung,
}

#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) path: String,
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) sign_ok: bool,
    pub(crate) disposition: Disposition,
    /// Whether it came as a GET (epay's must).
    pub(crate) get: bool,
}

pub(crate) struct Endpoint {
    rng: Mutex<Rng>,
    pub(crate) flaky: AtomicBool,
    pub(crate) received: Mutex<Vec<Received>>,
    pub(crate) received_epay: Mutex<Vec<Received>>,
}

impl Endpoint {
    pub(crate) fn new(seed: u64) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            rng: Mutex::new(Rng(seed)),
            flaky: AtomicBool::new(true),
            received: Mutex::new(Vec::new()),
            received_epay: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn handler(self: &Arc<Self>) -> Handler {
        let endpoint = Arc::clone(self);
        Arc::new(move |call| {
            let endpoint = Arc::clone(&endpoint);
            Box::pin(async move { endpoint.handle(call).await })
        })
    }

    pub(crate) fn snapshot(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn snapshot_epay(&self) -> Vec<Received> {
        self.received_epay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn handle(self: Arc<Self>, call: Call) -> Reply {
        let at = Instant::now();
        let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
        let epay = path.starts_with("/e/");
        let fields: BTreeMap<String, String> = match epay {
            true => form_urlencoded::parse(query.as_bytes()),
            false => form_urlencoded::parse(&call.body),
        }
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
        let sign_ok = match epay {
            true => {
                fields.get("pid").map(String::as_str) == Some(EPAY.pid)
                    && super::epay::verify(&fields, EPAY.key)
            }
            false => fields
                .get("mchNo")
                .and_then(|mch| MERCHANTS.iter().find(|m| m.mch == mch))
                .map(|m| m.secret)
                .is_some_and(|s| verify(&fields, s)),
        };
        let (r, slow) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.below(1000) as u64, rng.below(500) as u64)
        };
        let flaky = self.flaky.load(Ordering::Relaxed);
        let disposition = match r {
            _ if !flaky => Disposition::Acknowledged,
            r if r < MERCHANT_REFUSE => Disposition::Refused,
            r if r < MERCHANT_REFUSE + MERCHANT_HANGS => Disposition::Hung,
            _ => Disposition::Acknowledged,
        };
        let received = Received {
            at,
            path: path.to_owned(),
            fields,
            sign_ok,
            disposition,
            get: call.get,
        };
        let list = if epay {
            &self.received_epay
        } else {
            &self.received
        };
        list.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(received);
        // epay's merchants answer `success` (EpayCore's samples) and `fail`.
        let (ok, refused) = match epay {
            true => ("success", "fail"),
            false => ("SUCCESS", "FAIL"),
        };
        match disposition {
            Disposition::Refused => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, refused),
            Disposition::Hung => {
                tokio::time::sleep(MERCHANT_HANG).await;
                Reply::text(StatusCode::OK, ok)
            }
            Disposition::Acknowledged => {
                if flaky && r < MERCHANT_REFUSE + MERCHANT_HANGS + MERCHANT_SLOW {
                    tokio::time::sleep(Duration::from_millis(100 + slow)).await;
                }
                Reply::text(StatusCode::OK, ok)
            }
        }
    }
}
