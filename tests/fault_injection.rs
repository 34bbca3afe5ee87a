//! Fault injection through real sockets: raw-TCP fake upstreams written byte by byte (so every
//! byte and its timing is ours), each fault tried on a translated merchant (DaxPay upstream) and
//! on a passthrough merchant (legacy Jeepay upstream).
//!
//! Every case checks the exact Jeepay-dialect answer, that nothing is reported as success, that
//! the answer comes within the upstream timeout + 2 s, and that the proxy still serves a healthy
//! sandbox-backed merchant afterwards. A passthrough returns whatever *HTTP answer* the legacy
//! gateway gives (an HTTP 500, HTML, an empty body) unchanged; only faults where no complete
//! answer exists (refused, hang, reset, truncation, oversize, timeout) become `系统异常[...]`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use paybridge_sandbox::{OrderStatus, Sandbox};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// `timeout_ms` of both faulty upstreams.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// Every answer must come within this.
const BOUND: Duration = Duration::from_millis(1000 + 2000);
/// The size of the "huge" answers: far above paybridge's 1 MiB cap.
const HUGE: usize = 20 * 1024 * 1024;
/// One byte of a dripping answer every this long.
const DRIP_EVERY: Duration = Duration::from_millis(200);

const CONNECT: &str = "上游连接失败，订单未处理";
const TIMED_OUT: &str = "上游应答超时，结果未知，请稍后查询订单";
const BROKEN: &str = "上游连接中断，结果未知，请稍后查询订单";
const UNPARSABLE: &str = "上游应答无法解析，结果未知，请稍后查询订单";
const STATUS_500: &str = "上游HTTP状态500，结果未知，请稍后查询订单";
const TOO_LARGE: &str = "上游应答过大，结果未知，请稍后查询订单";

/// What a proxy in front of a dead Java service typically serves.
const HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
/// Spring Boot's default error body.
const ERROR_500: &str = r#"{"timestamp":"2025-08-26T04:00:00.000+00:00","status":500,"error":"Internal Server Error","path":"/api/pay/close"}"#;
/// Shaped like a DaxPay success (never completed, so its signature never matters).
const SUCCESS_LIKE: &str = r#"{"code":0,"msg":"success","data":{"status":"close"},"sign":"0123456789ABCDEF0123456789ABCDEF","resTime":"2025-08-26 12:00:01","traceId":"t1"}"#;

// ---------------------------------------------------------------------------------------------
// Raw-TCP fake upstreams
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing listens on the port.
    Refuse,
    /// Accepts, reads the request, never answers (nor closes).
    Hang,
    /// Reads the request, then resets the connection (SO_LINGER 0) before any answer byte.
    ResetBeforeAnswer,
    /// Writes the head and half the body of an answer, then resets the connection.
    ResetMidAnswer,
    /// HTTP 200 with an HTML page.
    Html,
    /// HTTP 500 with Spring Boot's JSON error body.
    Http500,
    /// HTTP 200, `Content-Length: 0`.
    EmptyBody,
    /// `Content-Length` of a whole JSON answer, half of it sent, then a clean close (FIN).
    TruncatedJson,
    /// HTTP 200 with a 20 MiB body announced by `Content-Length`.
    Huge,
    /// HTTP 200 with a 20 MiB chunked body (no length announced).
    HugeChunked,
    /// A complete answer, one byte every 200 ms.
    Drip,
    /// HTTP 200, `text/plain`, a body of exactly this many `a`s.
    Sized(usize),
}

/// What a fake saw and did.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicUsize,
    /// Complete requests read.
    requests: AtomicUsize,
    /// Huge answers written to the end (the client never stopped reading).
    huge_completed: AtomicUsize,
}

impl Seen {
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A fake upstream misbehaving on every connection, until dropped.
struct Fake {
    addr: SocketAddr,
    seen: Arc<Seen>,
    /// The fault of connections accepted from now on.
    fault: Arc<std::sync::Mutex<Fault>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection task.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Fake {
    async fn start(fault: Fault) -> Fake {
        let seen = Arc::new(Seen::default());
        let current = Arc::new(std::sync::Mutex::new(fault));
        if fault == Fault::Refuse {
            // A port that was just free: connecting to it is refused.
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            return Fake {
                addr,
                seen,
                fault: current,
                task: None,
            };
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = seen.clone();
        let chosen = current.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        counters.connections.fetch_add(1, Ordering::SeqCst);
                        let fault = *chosen.lock().unwrap();
                        connections.spawn(misbehave(stream, fault, counters.clone()));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
                while connections.try_join_next().is_some() {}
            }
        });
        Fake {
            addr,
            seen,
            fault: current,
            task: Some(task),
        }
    }

    /// Changes how the next connections misbehave (not `Refuse`: the port stays bound).
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

fn head(status_line: &str, content_type: &str, framing: &str) -> String {
    format!("HTTP/1.1 {status_line}\r\nContent-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n")
}

fn whole(status_line: &str, content_type: &str, body: &str) -> Vec<u8> {
    let mut out = head(
        status_line,
        content_type,
        &format!("Content-Length: {}", body.len()),
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads one request (head, then a `Content-Length` body); `None` if the peer went away first.
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(buf)
}

/// Reads until the peer closes (or resets).
async fn drain(s: &mut TcpStream) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = s.read(&mut chunk).await {
        if n == 0 {
            break;
        }
    }
}

/// Closes with an RST rather than a FIN.
fn reset(s: TcpStream) {
    s.set_zero_linger().expect("SO_LINGER 0");
    drop(s);
}

/// Writes a whole answer, then closes cleanly.
async fn answer(mut s: TcpStream, bytes: &[u8]) {
    if s.write_all(bytes).await.is_ok() {
        let _ = s.shutdown().await;
        // Let the client close first, so nothing of ours is cut short.
        let _ = tokio::time::timeout(Duration::from_secs(5), drain(&mut s)).await;
    }
}

async fn misbehave(mut s: TcpStream, fault: Fault, seen: Arc<Seen>) {
    if read_request(&mut s).await.is_none() {
        return;
    }
    seen.requests.fetch_add(1, Ordering::SeqCst);
    match fault {
        Fault::Refuse => unreachable!("nothing listens"),
        Fault::Hang => drain(&mut s).await,
        Fault::ResetBeforeAnswer => reset(s),
        Fault::ResetMidAnswer => {
            let mut half = head(
                "200 OK",
                "application/json",
                &format!("Content-Length: {}", SUCCESS_LIKE.len()),
            )
            .into_bytes();
            half.extend_from_slice(&SUCCESS_LIKE.as_bytes()[..SUCCESS_LIKE.len() / 2]);
            if s.write_all(&half).await.is_ok() {
                // Let the half answer arrive before the reset does.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            reset(s);
        }
        Fault::Html => answer(s, &whole("200 OK", "text/html; charset=utf-8", HTML)).await,
        Fault::Http500 => {
            answer(
                s,
                &whole("500 Internal Server Error", "application/json", ERROR_500),
            )
            .await
        }
        Fault::EmptyBody => answer(s, &whole("200 OK", "application/json", "")).await,
        Fault::TruncatedJson => {
            let mut part = head(
                "200 OK",
                "application/json",
                &format!("Content-Length: {}", SUCCESS_LIKE.len()),
            )
            .into_bytes();
            part.extend_from_slice(&SUCCESS_LIKE.as_bytes()[..SUCCESS_LIKE.len() / 2]);
            if s.write_all(&part).await.is_ok() {
                let _ = s.shutdown().await;
                let _ = tokio::time::timeout(Duration::from_secs(5), drain(&mut s)).await;
            }
        }
        Fault::Huge => {
            let head = head(
                "200 OK",
                "application/json",
                &format!("Content-Length: {HUGE}"),
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            let mut written = 0;
            while written < HUGE {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
                written += chunk.len();
            }
            seen.huge_completed.fetch_add(1, Ordering::SeqCst);
        }
        Fault::HugeChunked => {
            let head = head("200 OK", "application/json", "Transfer-Encoding: chunked");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let size = 64 * 1024;
            let mut chunk = format!("{size:x}\r\n").into_bytes();
            chunk.extend(std::iter::repeat_n(b'a', size));
            chunk.extend_from_slice(b"\r\n");
            let mut written = 0;
            while written < HUGE {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
                written += size;
            }
            if s.write_all(b"0\r\n\r\n").await.is_ok() {
                seen.huge_completed.fetch_add(1, Ordering::SeqCst);
            }
        }
        Fault::Sized(n) => {
            let mut bytes =
                head("200 OK", "text/plain", &format!("Content-Length: {n}")).into_bytes();
            bytes.extend(std::iter::repeat_n(b'a', n));
            answer(s, &bytes).await
        }
        Fault::Drip => {
            for byte in whole("200 OK", "application/json", SUCCESS_LIKE) {
                if s.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(DRIP_EVERY).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy under test
// ---------------------------------------------------------------------------------------------

/// The proxy with three merchants: the default one translated to the faulty DaxPay upstream,
/// `M3` passed through to the faulty legacy upstream (the same fake), and `M2` translated to a
/// healthy sandbox.
struct Stack {
    proxy: Running,
    sandbox: Sandbox,
    _sandbox_server: Running,
}

const HEALTHY_ORDERS: [&str; 4] = ["OK1", "OK2", "OK3", "OK4"];

async fn stack(fault: SocketAddr) -> Stack {
    stack_with(fault, "", "").await
}

/// [`stack`] with extra keys for `[server]` and for both faulty upstreams.
async fn stack_with(fault: SocketAddr, server_extra: &str, upstream_extra: &str) -> Stack {
    let orders: Vec<(&str, &str, &str)> = HEALTHY_ORDERS
        .iter()
        .map(|o| (*o, *o, "progress"))
        .collect();
    let (sandbox_server, sandbox) = start_sandbox(&sandbox_toml("3.0", "md5", &orders)).await;
    let timeout_ms = TIMEOUT.as_millis();
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server_extra}

[upstreams.fault]
base_url = "http://{fault}"
version = "3.0"
sign_type = "md5"
secret = "{DAX_SECRET}"
timeout_ms = {timeout_ms}
connect_timeout_ms = 500
{upstream_extra}

[upstreams.legacy]
kind = "legacy"
base_url = "http://{fault}"
timeout_ms = {timeout_ms}
connect_timeout_ms = 500
{upstream_extra}

[upstreams.healthy]
base_url = "http://{healthy}"
version = "3.0"
sign_type = "md5"
secret = "{DAX_SECRET}"

[routing]
default = {{ action = "translate" }}

[[routes]]
name = "legacy merchant"
mch_no = ["M3"]
action = "passthrough"
upstream = "legacy"

[[merchants]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[merchants.daxpay]
upstream = "fault"
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP}"

[[merchants]]
mch_no = "M2"
app_id = "app-of-m2"
secret = "secret-of-m2"
[merchants.daxpay]
upstream = "healthy"
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP}"
"#,
        healthy = sandbox_server.addr
    );
    Stack {
        proxy: start_proxy(&toml).await,
        sandbox,
        _sandbox_server: sandbox_server,
    }
}

impl Stack {
    /// A close for the healthy merchant succeeds and closes the sandbox's order.
    async fn assert_healthy(&self, order: &str, context: &str) {
        let body = signed(
            &[
                ("mchNo", "M2"),
                ("appId", "app-of-m2"),
                ("version", "1.0"),
                ("signType", "MD5"),
                ("reqTime", req_time()),
                ("payOrderId", order),
            ],
            "secret-of-m2",
        );
        let a = post_json(self.proxy.addr, "/api/pay/close", &body).await;
        assert_eq!(
            (a.status.as_u16(), a.body.as_str()),
            (200, jeepay_success("secret-of-m2").as_str()),
            "{context}: the healthy merchant must still be served"
        );
        assert_eq!(
            self.sandbox.order_status(order),
            Some(OrderStatus::Close),
            "{context}"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The default merchant, translated to the faulty DaxPay upstream.
    Translated,
    /// `M3`, passed through to the faulty legacy gateway.
    Passthrough,
}

fn request(via: Via) -> Value {
    match via {
        Via::Translated => close_body(Some("X1"), None),
        Via::Passthrough => signed(
            &[
                ("mchNo", "M3"),
                ("appId", "app-of-m3"),
                ("version", "1.0"),
                ("signType", "MD5"),
                ("reqTime", req_time()),
                ("payOrderId", "L1"),
            ],
            "secret-of-m3",
        ),
    }
}

#[derive(Debug)]
enum Expect {
    /// `{"code":10,"msg":"系统异常[<reason>]"}`, HTTP 200.
    System(&'static str),
    /// The legacy gateway's own answer, unchanged.
    Legacy {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
}

fn assert_no_success(a: &Answer, context: &str) {
    if let Ok(v) = serde_json::from_str::<Value>(&a.body) {
        assert_ne!(
            v.get("code").and_then(Value::as_i64),
            Some(0),
            "{context}: success reported: {}",
            a.body
        );
        assert!(
            v.get("sign").is_none() && v.get("data").is_none(),
            "{context}: a signed or data-carrying answer: {}",
            a.body
        );
    }
    assert!(
        !a.body.contains("SUCCESS"),
        "{context}: success reported: {}",
        a.body
    );
}

fn check(a: &Answer, expect: &Expect, context: &str) {
    assert!(
        a.headers.contains_key("x-request-id"),
        "{context}: every answer carries X-Request-Id"
    );
    match expect {
        Expect::System(reason) => {
            assert_eq!(a.status, 200, "{context}");
            assert_eq!(
                a.body,
                error(10, &format!("系统异常[{reason}]")),
                "{context}"
            );
            assert_eq!(
                a.headers.get("content-type").map(|v| v.as_bytes()),
                Some(&b"application/json;charset=UTF-8"[..]),
                "{context}"
            );
        }
        Expect::Legacy {
            status,
            content_type,
            body,
        } => {
            assert_eq!(
                (a.status.as_u16(), a.body.as_str()),
                (*status, *body),
                "{context}: the legacy answer is passed on unchanged"
            );
            assert_eq!(
                a.headers.get("content-type").map(|v| v.as_bytes()),
                Some(content_type.as_bytes()),
                "{context}"
            );
        }
    }
    assert_no_success(a, context);
}

/// One fault, one route: the answer, its timing, and the proxy's health afterwards.
async fn fault_case(fault: Fault, via: Via, expect: Expect) {
    let context = format!("{fault:?} via {via:?}");
    let fake = Fake::start(fault).await;
    let stack = stack(fake.addr).await;
    let started = Instant::now();
    let a = post_json(stack.proxy.addr, "/api/pay/close", &request(via)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < BOUND,
        "{context}: answered in {elapsed:?}, bound {BOUND:?}"
    );
    check(&a, &expect, &context);
    if fault == Fault::Refuse {
        assert_eq!(fake.seen.connections(), 0, "{context}");
    } else {
        assert!(
            fake.seen.requests() >= 1,
            "{context}: the request reached the faulty upstream"
        );
    }
    if matches!(fault, Fault::Hang | Fault::Drip) {
        assert!(
            elapsed >= TIMEOUT,
            "{context}: answered in {elapsed:?}, before the upstream timeout"
        );
    }
    if matches!(fault, Fault::Huge | Fault::HugeChunked) {
        // The proxy stopped reading at its cap and dropped the connection.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            fake.seen.huge_completed.load(Ordering::SeqCst),
            0,
            "{context}: a 20 MiB answer was read to its end"
        );
    }
    stack.assert_healthy("OK1", &context).await;
}

// ---------------------------------------------------------------------------------------------
// Translated merchant (DaxPay upstream)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn translated_refused() {
    fault_case(Fault::Refuse, Via::Translated, Expect::System(CONNECT)).await;
}

#[tokio::test]
async fn translated_hang() {
    fault_case(Fault::Hang, Via::Translated, Expect::System(TIMED_OUT)).await;
}

#[tokio::test]
async fn translated_reset_before_answer() {
    fault_case(
        Fault::ResetBeforeAnswer,
        Via::Translated,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn translated_reset_mid_answer() {
    fault_case(
        Fault::ResetMidAnswer,
        Via::Translated,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn translated_html() {
    fault_case(Fault::Html, Via::Translated, Expect::System(UNPARSABLE)).await;
}

#[tokio::test]
async fn translated_http_500() {
    fault_case(Fault::Http500, Via::Translated, Expect::System(STATUS_500)).await;
}

#[tokio::test]
async fn translated_empty_body() {
    fault_case(
        Fault::EmptyBody,
        Via::Translated,
        Expect::System(UNPARSABLE),
    )
    .await;
}

#[tokio::test]
async fn translated_truncated_json() {
    fault_case(
        Fault::TruncatedJson,
        Via::Translated,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn translated_huge_body() {
    fault_case(Fault::Huge, Via::Translated, Expect::System(TOO_LARGE)).await;
}

#[tokio::test]
async fn translated_huge_chunked_body() {
    fault_case(
        Fault::HugeChunked,
        Via::Translated,
        Expect::System(TOO_LARGE),
    )
    .await;
}

#[tokio::test]
async fn translated_drip() {
    fault_case(Fault::Drip, Via::Translated, Expect::System(TIMED_OUT)).await;
}

// ---------------------------------------------------------------------------------------------
// Passthrough merchant (legacy Jeepay upstream)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn passthrough_refused() {
    fault_case(Fault::Refuse, Via::Passthrough, Expect::System(CONNECT)).await;
}

#[tokio::test]
async fn passthrough_hang() {
    fault_case(Fault::Hang, Via::Passthrough, Expect::System(TIMED_OUT)).await;
}

#[tokio::test]
async fn passthrough_reset_before_answer() {
    fault_case(
        Fault::ResetBeforeAnswer,
        Via::Passthrough,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn passthrough_reset_mid_answer() {
    fault_case(
        Fault::ResetMidAnswer,
        Via::Passthrough,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn passthrough_html_is_passed_on() {
    fault_case(
        Fault::Html,
        Via::Passthrough,
        Expect::Legacy {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: HTML,
        },
    )
    .await;
}

#[tokio::test]
async fn passthrough_http_500_is_passed_on() {
    fault_case(
        Fault::Http500,
        Via::Passthrough,
        Expect::Legacy {
            status: 500,
            content_type: "application/json",
            body: ERROR_500,
        },
    )
    .await;
}

#[tokio::test]
async fn passthrough_empty_body_is_passed_on() {
    fault_case(
        Fault::EmptyBody,
        Via::Passthrough,
        Expect::Legacy {
            status: 200,
            content_type: "application/json",
            body: "",
        },
    )
    .await;
}

#[tokio::test]
async fn passthrough_truncated_json() {
    fault_case(
        Fault::TruncatedJson,
        Via::Passthrough,
        Expect::System(BROKEN),
    )
    .await;
}

#[tokio::test]
async fn passthrough_huge_body() {
    fault_case(Fault::Huge, Via::Passthrough, Expect::System(TOO_LARGE)).await;
}

#[tokio::test]
async fn passthrough_huge_chunked_body() {
    fault_case(
        Fault::HugeChunked,
        Via::Passthrough,
        Expect::System(TOO_LARGE),
    )
    .await;
}

#[tokio::test]
async fn passthrough_drip() {
    fault_case(Fault::Drip, Via::Passthrough, Expect::System(TIMED_OUT)).await;
}

// ---------------------------------------------------------------------------------------------
// Load and misbehaving clients
// ---------------------------------------------------------------------------------------------

/// 50 translated and 50 passthrough requests at once into an upstream that never answers: all
/// are answered "timed out" in bounded time, and the proxy keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_requests_into_a_hanging_upstream() {
    const EACH: usize = 50;
    let fake = Fake::start(Fault::Hang).await;
    let stack = stack(fake.addr).await;
    let proxy = stack.proxy.addr;
    let started = Instant::now();
    let mut calls = JoinSet::new();
    for i in 0..2 * EACH {
        let via = if i % 2 == 0 {
            Via::Translated
        } else {
            Via::Passthrough
        };
        calls.spawn(async move {
            let a = post_json(proxy, "/api/pay/close", &request(via)).await;
            (via, started.elapsed(), a)
        });
    }
    let mut answered = 0;
    while let Some(joined) = calls.join_next().await {
        let (via, elapsed, a) = joined.expect("the request task ended normally");
        let context = format!("concurrent hang via {via:?}");
        assert!(elapsed < BOUND, "{context}: answered after {elapsed:?}");
        check(&a, &Expect::System(TIMED_OUT), &context);
        answered += 1;
    }
    assert_eq!(answered, 2 * EACH);
    assert!(
        fake.seen.requests() >= 2 * EACH,
        "every request reached the hanging upstream at once ({} seen)",
        fake.seen.requests()
    );
    stack.assert_healthy("OK1", "after concurrent hangs").await;
    // The faulty merchants are still answered, at once or in bounded time, never with success
    // (the circuit may now be open: then nothing is sent).
    for via in [Via::Translated, Via::Passthrough] {
        let started = Instant::now();
        let a = post_json(proxy, "/api/pay/close", &request(via)).await;
        let context = format!("after concurrent hangs via {via:?}");
        assert!(started.elapsed() < BOUND, "{context}");
        assert_eq!(a.status, 200, "{context}");
        assert_eq!(a.json()["code"], 10, "{context}: {}", a.body);
        assert_no_success(&a, &context);
    }
    stack.assert_healthy("OK2", "after concurrent hangs").await;
}

/// The head of a POST whose body is `length` bytes.
fn post_head(length: usize) -> String {
    format!(
        "POST /api/pay/close HTTP/1.1\r\nHost: paybridge\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Clients that send half a body and leave (closing, or resetting): nothing is forwarded, and
/// the next requests are served as usual.
#[tokio::test]
async fn a_client_leaving_mid_request_disturbs_nothing() {
    let fake = Fake::start(Fault::Http500).await;
    let stack = stack(fake.addr).await;
    for via in [Via::Translated, Via::Passthrough] {
        for rst in [false, true] {
            let body = request(via).to_string();
            let mut s = TcpStream::connect(stack.proxy.addr).await.unwrap();
            s.write_all(post_head(body.len()).as_bytes()).await.unwrap();
            s.write_all(&body.as_bytes()[..body.len() / 2])
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            if rst {
                reset(s);
            } else {
                drop(s);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fake.seen.connections(),
        0,
        "half a request must never be forwarded"
    );
    stack.assert_healthy("OK1", "after clients left").await;
    // The same merchants, whole requests this time: served as usual.
    let a = post_json(
        stack.proxy.addr,
        "/api/pay/close",
        &request(Via::Passthrough),
    )
    .await;
    check(
        &a,
        &Expect::Legacy {
            status: 500,
            content_type: "application/json",
            body: ERROR_500,
        },
        "whole passthrough after clients left",
    );
    let a = post_json(
        stack.proxy.addr,
        "/api/pay/close",
        &request(Via::Translated),
    )
    .await;
    check(
        &a,
        &Expect::System(STATUS_500),
        "whole translated after clients left",
    );
}

/// A client that gives up while its request waits on the upstream disturbs nothing either.
#[tokio::test]
async fn a_client_leaving_while_the_upstream_hangs_disturbs_nothing() {
    let fake = Fake::start(Fault::Hang).await;
    let stack = stack(fake.addr).await;
    for (i, via) in [Via::Translated, Via::Passthrough].into_iter().enumerate() {
        let body = request(via).to_string();
        let mut s = TcpStream::connect(stack.proxy.addr).await.unwrap();
        s.write_all(format!("{}{body}", post_head(body.len())).as_bytes())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while fake.seen.requests() < i + 1 {
            assert!(
                Instant::now() < deadline,
                "the request reached the upstream"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(s);
    }
    stack
        .assert_healthy("OK1", "after clients left a hanging call")
        .await;
    let (to_translate, to_pass) = (request(Via::Translated), request(Via::Passthrough));
    let started = Instant::now();
    let (translated, passthrough) = tokio::join!(
        post_json(stack.proxy.addr, "/api/pay/close", &to_translate),
        post_json(stack.proxy.addr, "/api/pay/close", &to_pass),
    );
    assert!(started.elapsed() < BOUND);
    check(
        &translated,
        &Expect::System(TIMED_OUT),
        "translated after clients left",
    );
    check(
        &passthrough,
        &Expect::System(TIMED_OUT),
        "passthrough after clients left",
    );
}

/// paybridge caps upstream answers at exactly 1 MiB: a legacy answer of 1 MiB is passed on
/// whole, one byte more is refused.
#[tokio::test]
async fn passthrough_answer_cap_is_exactly_one_mib() {
    const CAP: usize = 1024 * 1024;
    let at_cap = Fake::start(Fault::Sized(CAP)).await;
    let over_cap = Fake::start(Fault::Sized(CAP + 1)).await;
    let (at, over) = tokio::join!(stack(at_cap.addr), stack(over_cap.addr));
    let (to_at, to_over) = (request(Via::Passthrough), request(Via::Passthrough));
    let started = Instant::now();
    let (a, b) = tokio::join!(
        post_json(at.proxy.addr, "/api/pay/close", &to_at),
        post_json(over.proxy.addr, "/api/pay/close", &to_over),
    );
    assert!(started.elapsed() < BOUND);
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/plain");
    assert!(
        a.body.len() == CAP && a.body.bytes().all(|b| b == b'a'),
        "a 1 MiB legacy answer is passed on whole ({} bytes)",
        a.body.len()
    );
    check(&b, &Expect::System(TOO_LARGE), "1 MiB + 1 via Passthrough");
    at.assert_healthy("OK1", "after 1 MiB").await;
    over.assert_healthy("OK1", "after 1 MiB + 1").await;
}

/// A circuit-breaker probe whose client leaves mid-call must not leave the circuit half-open
/// forever: once the upstream is healthy again, calls must reach it again.
///
/// Observed: hyper drops the request future when the client disconnects; the probe's
/// `breaker::Permit` is a plain value, so `Breaker::record` is never called and the state stays
/// `HalfOpen { probing: true }`, for which `permit()` answers `None` forever: every later call is
/// `系统异常[上游暂不可用，订单未处理，请稍后重试]` without reaching the (recovered) upstream,
/// until a restart or reload. The translated path is affected the same way.
#[tokio::test]
async fn a_client_leaving_during_a_breaker_probe_does_not_wedge_the_circuit() {
    let fake = Fake::start(Fault::Hang).await;
    let stack = stack_with(
        fake.addr,
        "",
        "breaker_failures = 1\nbreaker_cooldown_ms = 200",
    )
    .await;
    let proxy = stack.proxy.addr;
    // One timeout opens the legacy upstream's circuit.
    let a = post_json(proxy, "/api/pay/close", &request(Via::Passthrough)).await;
    check(&a, &Expect::System(TIMED_OUT), "first call");
    assert_eq!(fake.seen.requests(), 1);
    // After the cool-down, the next call is the probe: its client leaves while it hangs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = request(Via::Passthrough).to_string();
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(format!("{}{body}", post_head(body.len())).as_bytes())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while fake.seen.requests() < 2 {
        assert!(Instant::now() < deadline, "the probe reached the upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(s);
    // The upstream recovers; well after the probe's own timeout and the cool-down, calls must
    // reach it again and pass its answer on.
    fake.set(Fault::EmptyBody);
    tokio::time::sleep(TIMEOUT + Duration::from_millis(500)).await;
    let mut last = None;
    for _ in 0..3 {
        let a = post_json(proxy, "/api/pay/close", &request(Via::Passthrough)).await;
        if a.status == 200 && a.body.is_empty() {
            return;
        }
        last = Some(a.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!(
        "the circuit stays open after a cancelled probe: {:?} ({} requests reached the recovered upstream)",
        last,
        fake.seen.requests() - 2
    );
}

/// A client that sends half a body and then stalls (without leaving) must not hold the proxy's
/// capacity forever.
///
/// Observed: `read_body` waits without a deadline inside the in-flight limit (hyper's
/// `header_read_timeout` covers only the head), so the stalled request keeps its slot: with
/// `max_in_flight = 1`, every other request is `503 系统繁忙` for as long as the client stays
/// (15 s and more observed, with no answer to the stalled client either). If a dedicated body
/// deadline is added, set it here below 3 s.
#[tokio::test]
async fn a_stalled_request_body_does_not_hold_capacity_forever() {
    let fake = Fake::start(Fault::EmptyBody).await;
    let stack = stack_with(
        fake.addr,
        "max_in_flight = 1\nheader_read_timeout_ms = 500\nbody_read_timeout_ms = 1000",
        "",
    )
    .await;
    let body = request(Via::Passthrough).to_string();
    let mut s = TcpStream::connect(stack.proxy.addr).await.unwrap();
    s.write_all(post_head(body.len()).as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a = post_json(
        stack.proxy.addr,
        "/api/pay/close",
        &request(Via::Passthrough),
    )
    .await;
    assert_eq!(
        (a.status.as_u16(), a.body.as_str()),
        (200, ""),
        "{}",
        a.body
    );
    drop(s);
}
