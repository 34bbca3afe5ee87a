//! The faults between paybridge and DaxPay, all played by the driver:
//!
//! - [`FaultRelay`]: paybridge's DaxPay upstream. About 30 % of the calls fail: before DaxPay
//!   acts (connection dropped, HTTP 500, nothing forwarded), after it acted (forwarded, then the
//!   answer dropped, a 502 instead of it, or the answer held past paybridge's timeout), landing
//!   late (held past paybridge's timeout, *then* forwarded: DaxPay acts after paybridge gave
//!   up), or merely delayed. A forward, once started, completes even when paybridge hangs up.
//! - [`CallbackRelay`]: DaxPay's callbacks to paybridge (paybridge's `public_url` points here).
//!   Some are refused without forwarding (3.0 retries; 2.0.8 makes one attempt, so only
//!   paybridge's polling settles those), delayed, duplicated; after some a forged copy (status
//!   or amount changed under the genuine signature, or the signature broken) is sent too:
//!   paybridge must refuse it. 3.0's callbacks carry their fields in a `data` object, 2.0's are
//!   flat (lifecycle-2.0.md §7.2).
//! - [`balance`]: a round-robin TCP balancer in front of the paybridge instances (a connection
//!   that cannot be made to one goes to the next: nothing was sent).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use super::cast::*;
use super::dax::Dax;
use super::net::{post, Call, Handler, HttpClient, Reply};
use crate::requests::Rng;

/// Counts by label, for the report.
#[derive(Default)]
pub(crate) struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    pub(crate) fn add(&self, label: impl Into<String>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(label.into())
            .or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Pass,
    DropBefore,
    Status500Before,
    DropAfter,
    Status502After,
    HoldAnswer,
    LandLate,
    Delay,
}

impl Fault {
    fn label(self) -> &'static str {
        match self {
            Fault::Pass => "passed",
            Fault::DropBefore => "before: dropped",
            Fault::Status500Before => "before: HTTP 500",
            Fault::DropAfter => "after: answer dropped",
            Fault::Status502After => "after: HTTP 502",
            Fault::HoldAnswer => "after: answer held past timeout",
            Fault::LandLate => "late: forwarded after timeout",
            Fault::Delay => "delayed",
        }
    }
}

pub(crate) struct FaultRelay {
    client: HttpClient,
    sandbox: SocketAddr,
    rng: Mutex<Rng>,
    pub(crate) faults_on: AtomicBool,
    pub(crate) tally: Tally,
}

impl FaultRelay {
    pub(crate) fn new(client: HttpClient, sandbox: SocketAddr, seed: u64) -> Arc<FaultRelay> {
        Arc::new(FaultRelay {
            client,
            sandbox,
            rng: Mutex::new(Rng(seed)),
            faults_on: AtomicBool::new(true),
            tally: Tally::default(),
        })
    }

    pub(crate) fn handler(self: &Arc<Self>) -> Handler {
        let relay = Arc::clone(self);
        Arc::new(move |call| {
            let relay = Arc::clone(&relay);
            Box::pin(async move { relay.handle(call).await })
        })
    }

    fn pick(&self) -> (Fault, u64) {
        let mut rng = lock(&self.rng);
        let jitter = rng.below(600) as u64;
        if !self.faults_on.load(Ordering::Relaxed) {
            return (Fault::Pass, jitter);
        }
        let r = rng.below(1000) as u64;
        let fault = match r % 7 {
            _ if r >= UPSTREAM_FAULTS_PER_MILLE => Fault::Pass,
            0 => Fault::DropBefore,
            1 => Fault::Status500Before,
            2 => Fault::DropAfter,
            3 => Fault::Status502After,
            4 => Fault::HoldAnswer,
            5 => Fault::LandLate,
            _ => Fault::Delay,
        };
        (fault, jitter)
    }

    async fn handle(self: Arc<Self>, call: Call) -> Reply {
        let op = call.path.rsplit('/').next().unwrap_or("?").to_owned();
        let (fault, jitter) = self.pick();
        self.tally.add(format!("{op}: {}", fault.label()));
        match fault {
            Fault::Pass => self.forward(call, Duration::ZERO).await,
            Fault::DropBefore => Reply::Drop,
            Fault::Status500Before => Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"code":10500,"msg":"系统错误","data":null}"#,
            ),
            Fault::DropAfter => {
                let _ = self.forward(call, Duration::ZERO).await;
                Reply::Drop
            }
            Fault::Status502After => {
                let _ = self.forward(call, Duration::ZERO).await;
                Reply::text(StatusCode::BAD_GATEWAY, "Bad Gateway")
            }
            Fault::HoldAnswer => {
                let answer = self.forward(call, Duration::ZERO).await;
                tokio::time::sleep(HOLD).await;
                answer
            }
            Fault::LandLate => self.forward(call, HOLD).await,
            Fault::Delay => {
                self.forward(call, Duration::from_millis(100 + jitter))
                    .await
            }
        }
    }

    /// Forwards after `wait`, in a task of its own: it completes even if paybridge hangs up.
    async fn forward(self: &Arc<Self>, call: Call, wait: Duration) -> Reply {
        let relay = Arc::clone(self);
        let task = tokio::spawn(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            match post(
                &relay.client,
                relay.sandbox,
                &call.path,
                "application/json;charset=UTF-8",
                call.body,
                Duration::from_secs(10),
            )
            .await
            {
                Ok(got) => Reply::json(got.status, got.body),
                Err(_) => Reply::text(StatusCode::BAD_GATEWAY, "sandbox unreachable"),
            }
        });
        task.await
            .unwrap_or_else(|_| Reply::text(StatusCode::BAD_GATEWAY, "relay task failed"))
    }
}

/// DaxPay's callbacks on their way to paybridge.
pub(crate) struct CallbackRelay {
    client: HttpClient,
    front: SocketAddr,
    rng: Mutex<Rng>,
    pub(crate) faults_on: AtomicBool,
    pub(crate) tally: Tally,
    pub(crate) forged_sent: AtomicU64,
    /// Forged callbacks paybridge acknowledged: each a wrong.
    pub(crate) forged_acked: Mutex<Vec<String>>,
    dax: Dax,
}

impl CallbackRelay {
    pub(crate) fn new(
        client: HttpClient,
        front: SocketAddr,
        seed: u64,
        dax: Dax,
    ) -> Arc<CallbackRelay> {
        Arc::new(CallbackRelay {
            client,
            front,
            rng: Mutex::new(Rng(seed)),
            faults_on: AtomicBool::new(true),
            tally: Tally::default(),
            forged_sent: AtomicU64::new(0),
            forged_acked: Mutex::new(Vec::new()),
            dax,
        })
    }

    pub(crate) fn handler(self: &Arc<Self>) -> Handler {
        let relay = Arc::clone(self);
        Arc::new(move |call| {
            let relay = Arc::clone(&relay);
            Box::pin(async move { relay.handle(call).await })
        })
    }

    async fn handle(self: Arc<Self>, call: Call) -> Reply {
        let (r, forge, jitter, variant) = {
            let mut rng = lock(&self.rng);
            (
                rng.below(1000) as u64,
                rng.below(1000) as u64,
                rng.below(2700) as u64,
                rng.below(3),
            )
        };
        let on = self.faults_on.load(Ordering::Relaxed);
        if on && forge < CALLBACK_FORGE {
            let relay = Arc::clone(&self);
            let (path, body) = (call.path.clone(), call.body.clone());
            tokio::spawn(async move { relay.forge(&path, &body, variant).await });
        }
        if !on || r >= CALLBACK_DROP + CALLBACK_DELAY + CALLBACK_DUPLICATE {
            self.tally.add("forwarded");
            return self.forward(&call).await;
        }
        if r < CALLBACK_DROP {
            self.tally.add(if self.dax.is_2_0() {
                "refused, not forwarded (2.0.8 makes no retry)"
            } else {
                "refused, not forwarded (DaxPay retries)"
            });
            return Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "FAIL");
        }
        if r < CALLBACK_DROP + CALLBACK_DELAY {
            self.tally.add("delayed 0.3-3 s");
            tokio::time::sleep(Duration::from_millis(300 + jitter)).await;
            return self.forward(&call).await;
        }
        self.tally.add("duplicated");
        let relay = Arc::clone(&self);
        let copy = Call {
            get: call.get,
            path: call.path.clone(),
            body: call.body.clone(),
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(jitter / 3)).await;
            let _ = relay.forward(&copy).await;
        });
        self.forward(&call).await
    }

    async fn forward(&self, call: &Call) -> Reply {
        match post(
            &self.client,
            self.front,
            &call.path,
            "application/json;charset=UTF-8",
            call.body.clone(),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(got) => Reply::text(got.status, got.body),
            Err(_) => Reply::text(StatusCode::BAD_GATEWAY, "FAIL"),
        }
    }

    /// Sends a forged copy of a genuine callback: the `data` (2.0: the body's own fields)
    /// changed (status or amount) under the genuine signature, or the signature altered.
    async fn forge(&self, path: &str, body: &[u8], variant: usize) {
        let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let flat = self.dax.is_2_0();
        let fields = match flat {
            true => body_fields,
            false => data_fields,
        };
        let what = match variant {
            0 => {
                let Some(data) = fields(&mut value) else {
                    return;
                };
                let flipped = match data.get("status").and_then(Value::as_str) {
                    Some("success") => "close",
                    _ => "success",
                };
                data.insert("status".to_owned(), Value::from(flipped));
                "status changed"
            }
            1 => {
                let Some(data) = fields(&mut value) else {
                    return;
                };
                // 3.0's amounts are yuan, 2.0's fen.
                let amount = match flat {
                    true => Value::from(9_999_999_u64),
                    false => Value::from(99_999.99_f64),
                };
                data.insert("amount".to_owned(), amount);
                "amount changed"
            }
            _ => {
                let Some(sign) = value.get("sign").and_then(Value::as_str) else {
                    return;
                };
                let mut forged: Vec<char> = sign.chars().collect();
                if let Some(last) = forged.last_mut() {
                    *last = if *last == '0' { '1' } else { '0' };
                }
                value["sign"] = Value::from(forged.into_iter().collect::<String>());
                "signature altered"
            }
        };
        self.forged_sent.fetch_add(1, Ordering::Relaxed);
        self.tally.add(format!("forged copy sent ({what})"));
        let answer = post(
            &self.client,
            self.front,
            path,
            "application/json;charset=UTF-8",
            value.to_string().into(),
            Duration::from_secs(5),
        )
        .await;
        if let Ok(got) = answer {
            if String::from_utf8_lossy(&got.body).eq_ignore_ascii_case("SUCCESS") {
                lock(&self.forged_acked).push(format!(
                    "forged callback ({what}) to {path} acknowledged: {}",
                    String::from_utf8_lossy(&value.to_string().into_bytes())
                        .chars()
                        .take(300)
                        .collect::<String>()
                ));
            }
        }
    }
}

/// A 2.0 callback's fields: the body itself (flat).
fn body_fields(value: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    value.as_object_mut()
}

/// A 3.0 callback's fields: its `data` object.
fn data_fields(value: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    value.get_mut("data").and_then(Value::as_object_mut)
}

/// A round-robin TCP balancer over `backends` on `listener`.
pub(crate) async fn balance(listener: TcpListener, backends: Vec<SocketAddr>) {
    let next = Arc::new(AtomicUsize::new(0));
    let backends = Arc::new(backends);
    loop {
        let Ok((mut down, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = down.set_nodelay(true);
        let (next, backends) = (Arc::clone(&next), Arc::clone(&backends));
        tokio::spawn(async move {
            let start = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..backends.len() {
                let addr = backends[(start + i) % backends.len()];
                let connect =
                    tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr));
                if let Ok(Ok(mut up)) = connect.await {
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    return;
                }
            }
        });
    }
}
