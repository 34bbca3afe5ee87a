//! Heap allocations per translated request, counted by a counting `#[global_allocator]`.
//!
//! paybridge runs in-process on its own thread (a current-thread tokio runtime), against a DaxPay
//! sandbox over loopback that runs on another thread; the client (which pre-signs its requests)
//! runs on a third. Only allocations made *on the proxy's thread* are counted, so neither the
//! sandbox's nor the client's work is included, and everything the proxy does for a request is:
//! the upstream client's connection tasks run on the proxy's runtime too.
//!
//! Modes (each after a warm-up that fills the connection pools):
//!
//! * `gateway`: the `Gateway` tower service called directly with an `http::Request` (no HTTP
//!   server, no middleware): dialect work, routing, replay store, upstream client.
//! * `server`: the whole proxy as `paybridge serve` runs it (`app::bind` + `app::run`: hyper
//!   server, request id, access log, trace, panic guard, dialect errors, load shedding, metrics
//!   recorder installed), driven over a loopback keep-alive connection; no log subscriber.
//! * `server+log`: the same with a `tracing` fmt subscriber at `info` writing to a sink, as
//!   `paybridge serve` logs by default (the formatting is counted, the write is not).
//!
//! each with the replay store `off` and at its default (`memory`), and each for two answers:
//! `not_found` (an order DaxPay does not know: DaxPay's signed 20041, verified and mapped to
//! `订单不存在`, the request `scripts/bench` drives under load) and `success` (a real close of an
//! open order, then re-signed `SUCCESS`). Every request is freshly signed (a unique `reqTime`), so
//! the replay store always takes the first-sight path.
//!
//! Run: `cargo bench --bench alloc` (`-- --requests N` to change the 2,000 measured requests).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use paybridge::config::Config;
use paybridge::proxy::Gateway;
use tower::{Service, ServiceExt};

#[path = "support/close.rs"]
mod close_support;

// --- the counting allocator --------------------------------------------------------------------

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the proxy's thread only.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    // `try_with`: no panic while the thread is being torn down.
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

/// `--sites`: record where each counted allocation comes from (slow; for profiling only).
static SITES_ON: AtomicBool = AtomicBool::new(false);
static SITES: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

thread_local! {
    /// Inside the site recorder, whose own allocations are neither counted nor recorded.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

fn note(bytes: usize, realloc: bool) {
    if !counted() || RECORDING.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    if realloc {
        REALLOCS.fetch_add(1, Ordering::Relaxed);
    } else {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
    BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    if SITES_ON.load(Ordering::Relaxed) {
        RECORDING.with(|r| r.set(true));
        record_site(realloc);
        RECORDING.with(|r| r.set(false));
    }
}

/// The allocating function (the first frame outside the allocator and std) and the nearest
/// paybridge function on the stack.
fn record_site(realloc: bool) {
    let trace = format!("{:?}", std::backtrace::Backtrace::force_capture());
    let frames: Vec<&str> = trace
        .split("fn: \"")
        .skip(1)
        .filter_map(|f| f.split('"').next())
        .collect();
    // Skip the allocator's own frames (inlined ones carry bare names), keep the next few.
    let internal = |f: &str| {
        let name = f.split('<').next().unwrap_or(f);
        [
            "record_site",
            "note",
            "alloc",
            "realloc",
            "alloc_zeroed",
            "__rust_alloc",
            "__rust_realloc",
            "__rust_alloc_zeroed",
            "__rdl_alloc",
            "__rdl_realloc",
            "alloc_impl_runtime",
            "alloc_impl",
            "allocate",
            "allocate_zeroed",
            "grow_impl",
            "grow",
            "finish_grow",
            "grow_amortized",
            "grow_exact",
            "grow_one",
            "do_reserve_and_handle",
            "reserve",
            "reserve_exact",
            "try_allocate_in",
            "with_capacity_in",
            "with_capacity",
            "exchange_malloc",
            "try_reserve",
            "reserve_for_push",
            "new_uninit_in",
            "try_new_uninit_in",
        ]
        .contains(&name)
            || name == "grow_impl_runtime"
            || [
                "alloc::alloc::",
                "<alloc::alloc::Global",
                "alloc::raw_vec",
                "<alloc::raw_vec",
            ]
            .iter()
            .any(|p| f.starts_with(p))
    };
    let depth = std::env::var("ALLOC_SITE_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(6);
    let chain: Vec<&str> = frames
        .iter()
        .skip_while(|f| internal(f))
        .take(depth)
        .map(|f| {
            // Generic arguments make lines unreadable: keep the path and name only.
            let cut = f.find('<').filter(|i| *i > 0).unwrap_or(f.len());
            &f[..cut]
        })
        .collect();
    if std::env::var_os("ALLOC_DEBUG_FRAMES").is_some() {
        eprintln!("{frames:#?}");
    }
    // The nearest frames that name their crate (inlined frames show bare names).
    let crates = [
        "paybridge::",
        "<paybridge::",
        "hyper::",
        "<hyper::",
        "hyper_util::",
        "<hyper_util::",
        "tower_http::",
        "<tower_http::",
        "tower::",
        "<tower::",
        "tokio::",
        "<tokio::",
        "metrics",
        "<metrics",
        "http::",
        "<http::",
        "bytes::",
        "<bytes::",
        "serde_json::",
        "tracing",
        "<tracing",
    ];
    let named: Vec<&str> = frames
        .iter()
        .skip_while(|f| internal(f))
        .filter(|f| crates.iter().any(|c| f.starts_with(c)))
        .take(2)
        .map(|f| f.split('<').next().filter(|n| !n.is_empty()).unwrap_or(f))
        .collect();
    let kind = if realloc { "realloc" } else { "alloc" };
    let key = format!("{kind:7} {}  @ {}", chain.join(" < "), named.join(" < "));
    if let Ok(mut sites) = SITES.lock() {
        *sites.entry(key).or_default() += 1;
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), false);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), false);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size.saturating_sub(layout.size()), true);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Snapshot {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
    log_lines: u64,
}

/// `--sites` was given: record allocation sites during the measured windows.
static WANT_SITES: AtomicBool = AtomicBool::new(false);

fn snapshot() -> Snapshot {
    // Snapshots come in pairs around a measured window: sites are recorded between them.
    let measuring = !SITES_ON.load(Ordering::SeqCst);
    SITES_ON.store(
        measuring && WANT_SITES.load(Ordering::SeqCst),
        Ordering::SeqCst,
    );
    Snapshot {
        allocs: ALLOCS.load(Ordering::SeqCst),
        reallocs: REALLOCS.load(Ordering::SeqCst),
        bytes: BYTES.load(Ordering::SeqCst),
        log_lines: LOG_LINES.load(Ordering::SeqCst),
    }
}

// --- configuration -----------------------------------------------------------------------------

const JEEPAY_MCH: &str = "M1623984572";
const JEEPAY_APP: &str = "60cc09bce4b0f1c0b83761c9";
const JEEPAY_SECRET: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
const DAX_MCH: &str = "M1723635576766";
const DAX_APP: &str = "M8207639754663343";
const DAX_SECRET: &str = "dax_secret_Key123";
const WARM_UP: usize = 300;

fn sandbox_toml(orders: usize) -> String {
    let mut s = format!(
        r#"
[sandbox]
listen = "127.0.0.1:0"
version = "3.0"
[[sandbox.apps]]
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP}"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
"#
    );
    for i in 0..orders {
        s.push_str(&format!(
            "[[sandbox.orders]]\norder_no = \"B{i}\"\nbiz_order_no = \"BM{i}\"\nstatus = \"wait\"\n"
        ));
    }
    s
}

fn proxy_toml(sandbox: SocketAddr, replay: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[upstreams.dax]
base_url = "http://{sandbox}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"

[[merchants]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[merchants.daxpay]
upstream = "dax"
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP}"

[replay]
store = "{replay}"
"#
    )
}

/// A Jeepay close body for `order`, signed (written from jeepay.md, not with the library).
fn close_body(order: &str, req_time: u64) -> Bytes {
    let req_time = req_time.to_string();
    let mut entries = [
        format!("appId={JEEPAY_APP}&"),
        format!("mchNo={JEEPAY_MCH}&"),
        format!("payOrderId={order}&"),
        format!("reqTime={req_time}&"),
        "signType=MD5&".to_owned(),
        "version=1.0&".to_owned(),
    ];
    entries.sort_by_key(|e| e.to_lowercase());
    let sign = hex::encode_upper(Md5::digest(
        format!("{}key={JEEPAY_SECRET}", entries.concat()).as_bytes(),
    ));
    Bytes::from(format!(
        r#"{{"mchNo":"{JEEPAY_MCH}","appId":"{JEEPAY_APP}","version":"1.0","signType":"MD5","reqTime":"{req_time}","payOrderId":"{order}","sign":"{sign}"}}"#
    ))
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `n` distinct signed bodies: closes of an unknown order, or of orders B<first>.. (open).
/// Every body gets its own `reqTime` (so its own signature): the replay store never replays.
fn bodies(n: usize, answer: Answer, first: usize) -> Vec<Bytes> {
    static NEXT_REQ_TIME: AtomicU64 = AtomicU64::new(0);
    let _ = NEXT_REQ_TIME.compare_exchange(0, now_millis(), Ordering::SeqCst, Ordering::SeqCst);
    (0..n)
        .map(|i| {
            let req_time = NEXT_REQ_TIME.fetch_add(1, Ordering::SeqCst);
            match answer {
                Answer::NotFound => close_body("NOPE404", req_time),
                Answer::Success => close_body(&format!("B{}", first + i), req_time),
            }
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    NotFound,
    Success,
}

impl Answer {
    fn name(self) -> &'static str {
        match self {
            Answer::NotFound => "not_found",
            Answer::Success => "success",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Answer::NotFound => r#"{"code":9999,"msg":"订单不存在"}"#,
            Answer::Success => {
                r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
            }
        }
    }
}

// --- the sandbox on its own (uncounted) thread --------------------------------------------------

fn start_sandbox(orders: usize) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let config = paybridge_sandbox::Sandboxes::from_toml(&sandbox_toml(orders))
                .expect("sandbox config");
            let sandbox =
                paybridge_sandbox::Sandbox::new(config.sandbox.as_ref().expect("[sandbox]"));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            paybridge_sandbox::run(listener, sandbox, std::future::pending()).await;
        });
    });
    rx.recv().expect("sandbox address")
}

// --- mode `gateway`: the tower service called directly -------------------------------------------

fn measure_gateway(
    sandbox: SocketAddr,
    replay: &'static str,
    answer: Answer,
    n: usize,
    first: usize,
) -> Row {
    let config = Arc::new(Config::from_toml(&proxy_toml(sandbox, replay)).expect("proxy config"));
    let warm = bodies(WARM_UP, answer, first);
    let measured = bodies(n, answer, first + WARM_UP);
    // The whole run happens on this thread; counting is switched on around the measured calls.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut gateway = Gateway::new(config);
            let request = |body: Bytes| -> Request<Full<Bytes>> {
                Request::post("/api/pay/close")
                    .header("content-type", "application/json")
                    .header("x-request-id", "0123456789abcdef")
                    .body(Full::new(body))
                    .expect("request")
            };
            for body in warm {
                let r = ServiceExt::<Request<Full<Bytes>>>::ready(&mut gateway)
                    .await
                    .expect("ready")
                    .call(request(body))
                    .await;
                check(r.map_err(|e| e.to_string()), answer).await;
            }
            let requests: Vec<_> = measured.into_iter().map(request).collect();
            let mut responses = Vec::with_capacity(n);
            COUNTED.with(|c| c.set(true));
            let before = snapshot();
            for req in requests {
                let response = ServiceExt::<Request<Full<Bytes>>>::ready(&mut gateway)
                    .await
                    .expect("ready")
                    .call(req)
                    .await;
                let body = match response {
                    Ok(r) => r.into_body().collect().await.map(|c| c.to_bytes()).ok(),
                    Err(e) => Some(paybridge::dialect::jeepay::failure::body(&e)),
                };
                responses.push(body);
            }
            let after = snapshot();
            COUNTED.with(|c| c.set(false));
            for body in responses {
                let body = body.expect("a body");
                assert_eq!(
                    std::str::from_utf8(&body).expect("UTF-8"),
                    answer.expected()
                );
            }
            Row::new("gateway", replay, answer, n, before, after)
        })
    })
    .join()
    .expect("gateway thread")
}

async fn check(response: Result<http::Response<Full<Bytes>>, String>, answer: Answer) {
    // A refusal comes back as the error the dialect layer renders; both are fine here.
    if let Ok(r) = response {
        let body = r.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(
            std::str::from_utf8(&body).expect("UTF-8"),
            answer.expected()
        );
    }
}

// --- mode `dialect`: only the dialect work of a close (what `benches/dialect.rs` times) ---------

fn measure_dialect(answer: Answer, n: usize) -> Row {
    use paybridge::dialect::daxpay::{Scheme, SignType, Version};
    let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
    let request = close_support::jeepay_request();
    let upstream = match answer {
        Answer::NotFound => close_support::not_found_answer(&scheme),
        Answer::Success => close_support::success_answer(&scheme),
    };
    std::thread::spawn(move || {
        for _ in 0..WARM_UP {
            close_support::close_once(&scheme, &request, &upstream);
        }
        COUNTED.with(|c| c.set(true));
        let before = snapshot();
        for _ in 0..n {
            std::hint::black_box(close_support::close_once(&scheme, &request, &upstream));
        }
        let after = snapshot();
        COUNTED.with(|c| c.set(false));
        Row::new("dialect", "-", answer, n, before, after)
    })
    .join()
    .expect("dialect thread")
}

// --- modes `server` and `server+log`: the whole proxy over loopback ------------------------------

fn measure_server(
    sandbox: SocketAddr,
    replay: &'static str,
    answer: Answer,
    n: usize,
    first: usize,
    log: bool,
) -> Row {
    let config = Arc::new(Config::from_toml(&proxy_toml(sandbox, replay)).expect("proxy config"));
    let (addr_tx, addr_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = std::thread::spawn(move || {
        COUNTED.with(|c| c.set(true));
        let _log = log.then(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .with_ansi(false)
                .event_format(paybridge::telemetry::line::TextFormat::default())
                .with_writer(|| LineCounter)
                .finish();
            tracing::subscriber::set_default(subscriber)
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let bound = paybridge::app::bind(&config).await.expect("bind");
            addr_tx
                .send(bound.proxy_addr().expect("addr"))
                .expect("send");
            let gateway = Gateway::build(config).await.expect("gateway");
            paybridge::app::run(gateway, bound, None, async {
                let _ = stop_rx.await;
            })
            .await;
        });
        COUNTED.with(|c| c.set(false));
    });
    let addr = addr_rx.recv().expect("proxy address");
    let warm = bodies(WARM_UP, answer, first);
    let measured = bodies(n, answer, first + WARM_UP);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let row = rt.block_on(async move {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let send = |body: Bytes| {
            let client = client.clone();
            async move {
                let req = Request::post(format!("http://{addr}/api/pay/close"))
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .expect("request");
                let response = client.request(req).await.expect("answered");
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            }
        };
        for body in warm {
            let got = send(body).await;
            assert_eq!(std::str::from_utf8(&got).expect("UTF-8"), answer.expected());
        }
        // Let the proxy finish the warm-up's trailing work before the first snapshot.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = snapshot();
        for body in measured {
            let got = send(body).await;
            assert_eq!(std::str::from_utf8(&got).expect("UTF-8"), answer.expected());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = snapshot();
        let mode = if log { "server+log" } else { "server" };
        Row::new(mode, replay, answer, n, before, after)
    });
    let _ = stop_tx.send(());
    let _ = proxy.join();
    row
}

/// A log writer that throws lines away, counting them.
struct LineCounter;

static LOG_LINES: AtomicU64 = AtomicU64::new(0);

impl std::io::Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|b| **b == b'\n').count() as u64;
        LOG_LINES.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// --- report ------------------------------------------------------------------------------------

struct Row {
    mode: &'static str,
    replay: String,
    answer: Answer,
    allocs: f64,
    reallocs: f64,
    bytes: f64,
    log_lines: Option<f64>,
}

impl Row {
    fn new(
        mode: &'static str,
        replay: &str,
        answer: Answer,
        n: usize,
        before: Snapshot,
        after: Snapshot,
    ) -> Row {
        let per = |a: u64, b: u64| (b - a) as f64 / n as f64;
        Row {
            mode,
            replay: replay.to_owned(),
            answer,
            allocs: per(before.allocs, after.allocs),
            reallocs: per(before.reallocs, after.reallocs),
            bytes: per(before.bytes, after.bytes),
            log_lines: (mode == "server+log").then(|| per(before.log_lines, after.log_lines)),
        }
    }
}

fn main() {
    let mut n = 2000usize;
    let mut modes = vec!["dialect", "gateway", "server", "server+log"];
    let mut answers = vec!["not_found".to_owned(), "success".to_owned()];
    let mut replays = vec!["off".to_owned(), "memory".to_owned()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--requests N")
            }
            "--sites" => WANT_SITES.store(true, Ordering::SeqCst),
            "--answer" => answers = vec![args.next().expect("--answer not_found|success")],
            "--replay" => replays = vec![args.next().expect("--replay off|memory")],
            "--mode" => {
                let wanted = args
                    .next()
                    .expect("--mode dialect,gateway,server,server+log");
                modes.retain(|m| wanted.split(',').any(|w| w == *m));
            }
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let want = |m: &str| modes.contains(&m);
    let answers: Vec<Answer> = [Answer::NotFound, Answer::Success]
        .into_iter()
        .filter(|a| answers.iter().any(|w| w == a.name()))
        .collect();
    let replays: Vec<&'static str> = ["off", "memory"]
        .into_iter()
        .filter(|r| replays.iter().any(|w| w == r))
        .collect();
    let sites_per = |runs: usize| runs * n;
    // Enough open orders for every success-path request of every mode.
    let per_run = WARM_UP + n;
    let needs_sandbox = ["gateway", "server", "server+log"].iter().any(|m| want(m));
    let sandbox = if needs_sandbox {
        start_sandbox(per_run * 6)
    } else {
        SocketAddr::from(([127, 0, 0, 1], 0))
    };
    let mut rows = Vec::new();
    let mut next = 0usize;
    // The whole-proxy runs first: `app::run` installs the process-wide metrics recorder, as in
    // production, and the direct `gateway` runs then record their metrics into it too.
    for log in [false, true] {
        if !want(if log { "server+log" } else { "server" }) {
            continue;
        }
        for &answer in &answers {
            for &replay in &replays {
                rows.push(measure_server(sandbox, replay, answer, n, next, log));
                if answer == Answer::Success {
                    next += per_run;
                }
            }
        }
    }
    for &answer in &answers {
        if want("gateway") {
            for &replay in &replays {
                rows.push(measure_gateway(sandbox, replay, answer, n, next));
                if answer == Answer::Success {
                    next += per_run;
                }
            }
        }
        if want("dialect") {
            rows.push(measure_dialect(answer, n));
        }
    }
    rows.sort_by_key(|r| (r.mode, r.answer.name(), r.replay.clone()));
    println!("heap allocations per translated request ({n} requests, after {WARM_UP} warm-up)");
    println!(
        "| mode | replay | answer | allocations (alloc + realloc) | of which realloc | bytes allocated | log lines |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.0} | {} |",
            r.mode,
            r.replay,
            r.answer.name(),
            r.allocs + r.reallocs,
            r.reallocs,
            r.bytes,
            r.log_lines
                .map_or_else(|| "-".to_owned(), |l| format!("{l:.1}"))
        );
    }
    if WANT_SITES.load(Ordering::SeqCst) {
        let measured = sites_per(rows.len()) as f64;
        let sites = SITES.lock().map(|s| s.clone()).unwrap_or_default();
        let mut sites: Vec<_> = sites.into_iter().collect();
        sites.sort_by_key(|s| std::cmp::Reverse(s.1));
        println!("\nallocation sites, per request (all measured rows together; allocating function <= nearest paybridge frame)");
        for (site, count) in sites {
            println!("{:6.2}  {site}", count as f64 / measured);
        }
    }
}
