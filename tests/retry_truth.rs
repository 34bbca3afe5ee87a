//! Retries that say the truth (issue 19, items 4, 6, 7), through real sockets: a relay in front
//! of the DaxPay sandbox swallows answers, holds requests and fails lookups on cue.
//!
//! - An exact retry of a request whose outcome is unknown is answered from a lookup, or unknown
//!   again; it is never carried out blindly (a close sent twice is told `当前订单不可关闭`).
//! - Nothing is sent again while the first attempt may still land on DaxPay; once it provably
//!   cannot (DaxPay's request expiry, declared per upstream), the retry is sent afresh.
//! - Replay records live in the order store: an exact retry after a restart gets the first
//!   answer; a claim whose instance died is taken over within a lease, on one SQLite file, one
//!   PostgreSQL database or one Redis.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use paybridge_sandbox::OrderStatus;
use serde_json::Value;
use tokio::net::TcpListener;

const CLOSE: &str = "/unipay/close";
const REFUND: &str = "/unipay/refund";
const PAY_QUERY: &str = "/unipay/query/payOrder";
const STILL_UNKNOWN: &str = "系统异常[上次请求结果未知，请稍后查询订单]";

/// What the relay does, per DaxPay path.
#[derive(Default)]
struct Script {
    /// The next request is forwarded, and its answer never given.
    swallow_answer: Vec<&'static str>,
    /// The next request is held until [`Relay::release`], then forwarded (its answer goes to
    /// a caller that gave up long ago).
    hold: Vec<&'static str>,
    /// Answered HTTP 500, not forwarded, while listed.
    failing: Vec<&'static str>,
}

/// A relay in front of the sandbox.
struct Relay {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    /// Requests that arrived, per path.
    arrived: Arc<Mutex<HashMap<String, usize>>>,
    /// Requests the sandbox answered, per path.
    answered: Arc<Mutex<HashMap<String, usize>>>,
    release: tokio::sync::watch::Sender<bool>,
    _running: Running,
}

impl Relay {
    async fn start(sandbox: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let arrived = Arc::new(Mutex::new(HashMap::new()));
        let answered = Arc::new(Mutex::new(HashMap::new()));
        let (release, released) = tokio::sync::watch::channel(false);
        let (s, a, d) = (script.clone(), arrived.clone(), answered.clone());
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (script, arrived, answered) = (s.clone(), a.clone(), d.clone());
            let mut released = released.clone();
            async move {
                let (parts, body) = req.into_parts();
                let path = parts.uri.path().to_owned();
                let body = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                *arrived.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                let (fail, hold, swallow) = {
                    let mut script = script.lock().unwrap();
                    let fail = script.failing.iter().any(|p| *p == path);
                    let hold = take(&mut script.hold, &path);
                    let swallow = take(&mut script.swallow_answer, &path);
                    (fail, hold, swallow)
                };
                if fail {
                    return Ok::<_, Infallible>(
                        Response::builder()
                            .status(StatusCode::INTERNAL_SERVER_ERROR)
                            .body(Full::new(Bytes::from_static(b"{\"status\":500}")))
                            .unwrap(),
                    );
                }
                // Its own task: DaxPay goes on with a call whose caller hung up.
                let call = tokio::spawn(async move {
                    if hold {
                        let _ = released.wait_for(|r| *r).await;
                    }
                    let answer = forward(sandbox, &path, body).await;
                    *answered.lock().unwrap().entry(path).or_insert(0) += 1;
                    answer
                });
                let answer = call.await.unwrap();
                if swallow {
                    std::future::pending::<()>().await;
                }
                Ok(answer)
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(100),
        ));
        Relay {
            addr,
            script,
            arrived,
            answered,
            release,
            _running: Running::new(addr, stop),
        }
    }

    fn arrived(&self, path: &str) -> usize {
        self.arrived.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn answered(&self, path: &str) -> usize {
        self.answered
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn swallow_next_answer(&self, path: &'static str) {
        self.script.lock().unwrap().swallow_answer.push(path);
    }

    fn hold_next(&self, path: &'static str) {
        self.script.lock().unwrap().hold.push(path);
    }

    fn release(&self) {
        let _ = self.release.send(true);
    }

    fn fail(&self, path: &'static str, failing: bool) {
        let mut script = self.script.lock().unwrap();
        script.failing.retain(|p| *p != path);
        if failing {
            script.failing.push(path);
        }
    }
}

fn take(list: &mut Vec<&'static str>, path: &str) -> bool {
    match list.iter().position(|p| *p == path) {
        Some(at) => {
            list.remove(at);
            true
        }
        None => false,
    }
}

async fn forward(sandbox: SocketAddr, path: &str, body: Bytes) -> Response<Full<Bytes>> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method("POST")
        .uri(format!("http://{sandbox}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    let answer = client.request(request).await.unwrap();
    let status = answer.status();
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(bytes))
        .unwrap()
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// The proxy configuration: DaxPay 3.0 behind `relay`, an 800 ms upstream timeout, no breaker
/// (the faults here are deliberate), the order store at `store_url`, `extra` appended.
fn config(relay: SocketAddr, store_url: &str, extra_upstream: &str, extra: &str) -> String {
    let upstream = format!("breaker_failures = 0\n{extra_upstream}");
    proxy_toml(relay, "3.0", "hmac_sha256", &upstream, "")
        .replace("timeout_ms = 2000", "timeout_ms = 800")
        .replace(
            "url = \"sqlite::memory:\"",
            &format!("url = \"{store_url}\""),
        )
        + extra
}

/// Starts a gateway the way `serve` does (`Gateway::build`: Redis connected).
async fn start_gateway(toml: &str) -> Running {
    let config = Arc::new(paybridge::config::Config::from_toml(toml).unwrap());
    let gateway = paybridge::proxy::Gateway::build(config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::server::serve(
        listener,
        paybridge::app::proxy_service(gateway, 64),
        async move {
            let _ = stopped.await;
        },
        Duration::from_millis(200),
    ));
    Running::new(addr, stop)
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/orders.sqlite", dir.path().display())
}

fn refund_body(no: &str, refund_no: &str, fen: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", fen),
        ("currency", "cny"),
        ("refundReason", "r"),
    ])
}

/// A paid order `no` of `fen` on the sandbox, paid through the proxy.
async fn paid(proxy: SocketAddr, sandbox: &paybridge_sandbox::Sandbox, no: &str, fen: &str) {
    let body = jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", fen),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    let answer = post_json(proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    sandbox
        .pay_order(answer["data"]["payOrderId"].as_str().unwrap())
        .unwrap();
}

fn assert_unknown(answer: &Value) {
    assert_eq!(answer["code"], 10, "{answer}");
    assert!(
        answer["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("结果未知"),
        "{answer}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 4: a close whose first attempt closed the order
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_close_retry_whose_lookup_fails_is_unknown_never_closed_again() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("P4", "M4", "progress")],
    ))
    .await;
    let relay = Relay::start(sb.addr).await;
    let proxy = start_proxy(&config(relay.addr, "sqlite::memory:", "", "")).await;
    // The close reaches DaxPay (which closes the order) but its answer never comes; every
    // lookup gets an HTTP 500.
    relay.swallow_next_answer(CLOSE);
    relay.fail(PAY_QUERY, true);
    let close = close_body(Some("P4"), None);
    let first = post_json(proxy.addr, "/api/pay/close", &close).await.json();
    assert_unknown(&first);
    assert_eq!(sandbox.order_status("P4"), Some(OrderStatus::Close));

    // The exact retry: its lookup fails too. Unknown again, not closed a second time (which
    // DaxPay would refuse with 20044: `当前订单不可关闭`, a lie about the merchant's own close).
    let retry = post_json(proxy.addr, "/api/pay/close", &close).await;
    assert_eq!(retry.body, error(10, STILL_UNKNOWN));
    assert_eq!(relay.arrived(CLOSE), 1, "close sent once");

    // Lookups work again: the retry is answered from what DaxPay holds, then replayed.
    relay.fail(PAY_QUERY, false);
    let settled = post_json(proxy.addr, "/api/pay/close", &close).await;
    assert_eq!(settled.body, jeepay_success(JEEPAY_SECRET));
    let replayed = post_json(proxy.addr, "/api/pay/close", &close).await;
    assert_eq!(replayed.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(replayed.headers["x-paybridge-replay"], "true");
    assert_eq!(relay.arrived(CLOSE), 1, "close sent once");
}

#[tokio::test]
async fn an_exact_retry_after_a_restart_gets_the_first_answer() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("R1", "MR1", "progress"), ("R2", "MR2", "progress")],
    ))
    .await;
    let relay = Relay::start(sb.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config(relay.addr, &sqlite_url(&dir), "", "");

    // Before the restart: R1's close closes the order, its answer is lost, the lookup fails
    // (unknown); R2's close is answered.
    let first = start_proxy(&toml).await;
    relay.swallow_next_answer(CLOSE);
    relay.fail(PAY_QUERY, true);
    let close_r1 = close_body(Some("R1"), None);
    assert_unknown(
        &post_json(first.addr, "/api/pay/close", &close_r1)
            .await
            .json(),
    );
    relay.fail(PAY_QUERY, false);
    let close_r2 = close_body(Some("R2"), None);
    let answered = post_json(first.addr, "/api/pay/close", &close_r2).await;
    assert_eq!(answered.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(relay.arrived(CLOSE), 2);
    drop(first);

    // After it, on the same store: R1's retry is resolved by a lookup (not closed again and
    // refused), R2's gets its first answer without reaching DaxPay.
    let second = start_proxy(&toml).await;
    let retry_r1 = post_json(second.addr, "/api/pay/close", &close_r1).await;
    assert_eq!(retry_r1.body, jeepay_success(JEEPAY_SECRET));
    let retry_r2 = post_json(second.addr, "/api/pay/close", &close_r2).await;
    assert_eq!(retry_r2.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(retry_r2.headers["x-paybridge-replay"], "true");
    assert_eq!(relay.arrived(CLOSE), 2, "each close sent once");
    assert_eq!(sandbox.order_status("R1"), Some(OrderStatus::Close));
    assert_eq!(sandbox.order_status("R2"), Some(OrderStatus::Close));
}

// ---------------------------------------------------------------------------------------------
// Item 6: a refund DaxPay holds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_held_refund_is_never_sent_again_while_it_may_land() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let relay = Relay::start(sb.addr).await;
    let proxy = start_proxy(&config(relay.addr, "sqlite::memory:", "", "")).await;
    paid(proxy.addr, &sandbox, "H6", "1000").await;

    // DaxPay holds the refund: paybridge times out, its lookup finds nothing yet.
    relay.hold_next(REFUND);
    let refund = refund_body("H6", "H6R", "600");
    assert_unknown(
        &post_json(proxy.addr, "/api/refund/refundOrder", &refund)
            .await
            .json(),
    );
    // The exact retry finds nothing either: that proves nothing (DaxPay 3.0 with no declared
    // request expiry may act on the held call at any time), so nothing is sent again.
    for _ in 0..2 {
        let retry = post_json(proxy.addr, "/api/refund/refundOrder", &refund).await;
        assert_eq!(retry.body, error(10, STILL_UNKNOWN));
    }
    assert_eq!(relay.arrived(REFUND), 1, "the refund sent once");
    assert!(sandbox.refunds().is_empty());

    // The held call lands: the retry learns the refund from the lookup.
    relay.release();
    until("the held refund landed", || relay.answered(REFUND) == 1).await;
    let settled = post_json(proxy.addr, "/api/refund/refundOrder", &refund)
        .await
        .json();
    assert_eq!(settled["code"], 0, "{settled}");
    assert!(sdk_accepts(&settled, JEEPAY_SECRET));
    assert_eq!(settled["data"]["mchRefundNo"], "H6R");
    assert_eq!(settled["data"]["refundAmount"], 600);
    assert_eq!(settled["data"]["state"], 2, "{settled}");
    assert_eq!(relay.arrived(REFUND), 1, "the refund sent once");
    assert_eq!(sandbox.refunds().len(), 1);
}

#[tokio::test]
async fn once_the_first_refund_cannot_land_the_retry_sends_it_afresh() {
    // DaxPay rejects requests more than 1 s old (the app enables the check), and the operator
    // declares it: after 1 s + the landing margin, "not found" is proof.
    let (sb, sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[]).replace(
            "version = \"3.0\"",
            "version = \"3.0\"\nreq_time_window_secs = 1",
        )),
    )
    .await;
    let relay = Relay::start(sb.addr).await;
    let proxy = start_proxy(&config(
        relay.addr,
        "sqlite::memory:",
        "request_expiry_secs = 1",
        "",
    ))
    .await;
    paid(proxy.addr, &sandbox, "E6", "1000").await;
    relay.hold_next(REFUND);
    let refund = refund_body("E6", "E6R", "400");
    assert_unknown(
        &post_json(proxy.addr, "/api/refund/refundOrder", &refund)
            .await
            .json(),
    );
    let early = post_json(proxy.addr, "/api/refund/refundOrder", &refund).await;
    assert_eq!(early.body, error(10, STILL_UNKNOWN));
    assert_eq!(relay.arrived(REFUND), 1, "not sent again while it may land");

    // Past its expiry (1 s) and the margin (5 s), the held call lands too late: DaxPay rejects
    // it. The retry then finds nothing, which is now proof, and sends the refund afresh.
    tokio::time::sleep(
        Duration::from_secs(1)
            + paybridge::replay::landing::LANDING_MARGIN
            + Duration::from_millis(500),
    )
    .await;
    relay.release();
    until("the held refund was answered", || {
        relay.answered(REFUND) == 1
    })
    .await;
    assert!(
        sandbox.refunds().is_empty(),
        "DaxPay rejected the stale call"
    );
    let resent = post_json(proxy.addr, "/api/refund/refundOrder", &refund)
        .await
        .json();
    assert_eq!(resent["code"], 0, "{resent}");
    assert_eq!(resent["data"]["state"], 2, "{resent}");
    assert_eq!(relay.arrived(REFUND), 2);
    assert_eq!(sandbox.refunds().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Item 7: an instance dies with a claim
// ---------------------------------------------------------------------------------------------

/// Gateway A (its own runtime) sends a close whose answer never comes, and dies mid-request;
/// gateway B, on the same stores, takes the claim over within a lease and answers the exact
/// retry from a lookup. While A lives, its renewed claim holds.
async fn a_dead_instances_claim_is_taken_over(store_url: &str, replay: &str) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("K7", "MK7", "progress")],
    ))
    .await;
    let relay = Relay::start(sb.addr).await;
    let lease = "claim_lease_ms = 600\n";
    let section = format!("\n[replay]\n{replay}{lease}");
    // A waits long for its answer: it is still in the middle of the call when it dies.
    let toml_a = config(relay.addr, store_url, "", &section)
        .replace("timeout_ms = 800", "timeout_ms = 30000");
    let toml_b = config(relay.addr, store_url, "", &section);

    let runtime_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (ready, addr_a) = tokio::sync::oneshot::channel();
    runtime_a.spawn(async move {
        let a = start_gateway(&toml_a).await;
        let _ = ready.send(a.addr);
        std::future::pending::<()>().await;
        drop(a);
    });
    let addr_a = addr_a.await.unwrap();
    relay.swallow_next_answer(CLOSE);
    let close = close_body(Some("K7"), None);
    {
        let close = close.clone();
        runtime_a.spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let request = Request::builder()
                .method("POST")
                .uri(format!("http://{addr_a}/api/pay/close"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(close.to_string())))
                .unwrap();
            let _ = client.request(request).await;
        });
    }
    until("A's close reached DaxPay", || relay.answered(CLOSE) == 1).await;
    assert_eq!(sandbox.order_status("K7"), Some(OrderStatus::Close));

    let b = start_gateway(&toml_b).await;
    // A lives and renews its claim: B's duplicate waits, then is told it is in progress.
    let busy = post_json(b.addr, "/api/pay/close", &close).await;
    assert_eq!(busy.body, error(9999, "相同请求正在处理中，请稍后重试"));

    // A dies (as with kill -9: nothing released). B takes its claim over within a lease and
    // answers from the lookup; the close is not sent again.
    runtime_a.shutdown_background();
    let retry = post_json(b.addr, "/api/pay/close", &close).await;
    assert_eq!(retry.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(relay.arrived(CLOSE), 1, "close sent once");
}

#[tokio::test]
async fn a_dead_instances_claim_on_one_sqlite_file_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    a_dead_instances_claim_is_taken_over(&sqlite_url(&dir), "").await;
}

#[tokio::test]
async fn a_dead_instances_claim_on_one_postgres_database_is_taken_over() {
    let Some(url) = postgres_database("retry_truth_takeover").await else {
        return;
    };
    a_dead_instances_claim_is_taken_over(&url, "").await;
}

#[tokio::test]
async fn a_dead_instances_claim_in_redis_is_taken_over() {
    let Some(redis) = common::redis::redis_server(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let replay = format!("store = \"{}\"\n", redis.url());
    a_dead_instances_claim_is_taken_over(&sqlite_url(&dir), &replay).await;
}
