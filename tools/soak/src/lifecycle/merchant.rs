//! The merchants' notify endpoint, played by the driver: flaky on purpose (some 500s, some
//! answers later than paybridge waits, some slow), and recording every notification received
//! with its Jeepay MD5 checked here, independently of paybridge.
//!
//! `notifyUrl`s are `http://127.0.0.1:<port>/n/<merchant>/<field set>`: the path says which
//! request's `notifyUrl` a notification was sent to.

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
}

pub(crate) struct Endpoint {
    rng: Mutex<Rng>,
    pub(crate) flaky: AtomicBool,
    pub(crate) received: Mutex<Vec<Received>>,
}

impl Endpoint {
    pub(crate) fn new(seed: u64) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            rng: Mutex::new(Rng(seed)),
            flaky: AtomicBool::new(true),
            received: Mutex::new(Vec::new()),
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

    async fn handle(self: Arc<Self>, call: Call) -> Reply {
        let at = Instant::now();
        let fields: BTreeMap<String, String> = form_urlencoded::parse(&call.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let secret = fields
            .get("mchNo")
            .and_then(|mch| MERCHANTS.iter().find(|m| m.mch == mch))
            .map(|m| m.secret);
        let sign_ok = secret.is_some_and(|s| verify(&fields, s));
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
        let path = call.path.split('?').next().unwrap_or("").to_owned();
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Received {
                at,
                path,
                fields,
                sign_ok,
                disposition,
            });
        match disposition {
            Disposition::Refused => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "FAIL"),
            Disposition::Hung => {
                tokio::time::sleep(MERCHANT_HANG).await;
                Reply::text(StatusCode::OK, "SUCCESS")
            }
            Disposition::Acknowledged => {
                if flaky && r < MERCHANT_REFUSE + MERCHANT_HANGS + MERCHANT_SLOW {
                    tokio::time::sleep(Duration::from_millis(100 + slow)).await;
                }
                Reply::text(StatusCode::OK, "SUCCESS")
            }
        }
    }
}
