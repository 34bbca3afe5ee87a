//! A bounded soak of the release `paybridge serve` binary, on 127.0.0.1 only.
//!
//! ```sh
//! scripts/soak [SECONDS] [CONCURRENCY]          # builds, then runs this; default 60 s, 64
//! target/release/examples/soak [SECONDS] [CONCURRENCY]
//! ```
//!
//! It writes a configuration under `target/soak/`, starts `paybridge serve` on it as a child
//! process (embedded DaxPay and legacy Jeepay sandboxes, a DaxPay upstream on a dead port, a
//! DaxPay upstream played here that answers too late), and drives it with `CONCURRENCY` workers
//! for `SECONDS`: valid closes and cancels (JSON, form and query string) of orders whose state
//! it models, closes of unknown orders, fallbacks to the legacy gateway, duplicates of earlier
//! requests (sequential and concurrent), invalid requests of every kind, passthrough requests
//! and requests that hit the faulty upstreams. Every answer is checked byte for byte against the
//! answer predicted independently of paybridge (status, body, `x-paybridge-replay`); anything
//! else is a wrong answer.
//!
//! It prints requests sent and answered, outcomes by kind, client-side errors, wrong answers,
//! the child's resident memory (VmRSS) after warm-up and at the end, open descriptors,
//! throughput, a few of paybridge's own counters, and how the child shut down on SIGTERM.
//! Exit status 1 when a request was answered wrongly or not at all, when RSS grew by more than
//! 20 % after warm-up or was still growing over the second half of the run (more than 3 % of the
//! baseline), when paybridge's own request or replay counts disagree with the driver's, when
//! paybridge panicked, shed load it should not have, or did not exit 0 on SIGTERM.
//! docs/reliability.md describes the mix and records runs.
//!
//! Environment: `SOAK_ORDERS` (DaxPay sandbox orders, default 20000), `SOAK_REPLAY_MAX_ENTRIES`
//! (replay store size, default 20000: small enough to be full, and evicting, after warm-up),
//! `SOAK_BIN` (the paybridge binary, default `target/release/paybridge`), `SOAK_SCRAPE_SECS`
//! (scrape the admin listener's `/metrics` every N s during the run, as Prometheus would;
//! default: only during warm-up and at the end).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// The cast
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Merchant {
    mch: &'static str,
    app: &'static str,
    secret: &'static str,
}

/// Translated to the DaxPay sandbox.
const T1: Merchant = Merchant {
    mch: "M_SOAK_T1",
    app: "app-soak-t1",
    secret: "soak-secret-t1-7Q2W",
};
/// Translated to the DaxPay sandbox, falling back to the legacy gateway for unknown orders.
const T2: Merchant = Merchant {
    mch: "M_SOAK_T2",
    app: "app-soak-t2",
    secret: "soak-secret-t2-9X4Z",
};
/// Translated to a DaxPay upstream on a port nothing listens on.
const DEAD: Merchant = Merchant {
    mch: "M_SOAK_DEAD",
    app: "app-soak-dead",
    secret: "soak-secret-dead-1A",
};
/// Translated to a DaxPay upstream that answers after its timeout.
const SLOW: Merchant = Merchant {
    mch: "M_SOAK_SLOW",
    app: "app-soak-slow",
    secret: "soak-secret-slow-2B",
};
/// Not migrated: passed through to the legacy gateway (paybridge holds no key for it).
const LEGACY: Merchant = Merchant {
    mch: "M_SOAK_L1",
    app: "app-soak-l1",
    secret: "soak-secret-legacy-3C",
};

const DAX_MCH: &str = "M1723635576766";
const DAX_APP: &str = "M8207639754663343";
const DAX_SECRET: &str = "dax_secret_Key123";

/// The slow upstream's timeout, and how late the fake answers.
const SLOW_TIMEOUT_MS: u64 = 300;
const SLOW_DELAY: Duration = Duration::from_millis(1000);
/// A client gives up on an answer after this long (a client-side timeout is an error).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests held by the driver's ring of answered requests, which duplicates are drawn from.
const RING: usize = 512;
/// Legacy orders per merchant (the legacy sandbox looks orders up linearly).
const LEGACY_ORDERS: usize = 1500;
/// Allowed RSS growth after warm-up.
const RSS_TOLERANCE: f64 = 0.20;
/// Allowed RSS growth over the second half of the measured period, relative to the baseline.
const RSS_TREND_TOLERANCE: f64 = 0.03;
/// paybridge's own `max_in_flight` is the concurrency plus this: load shedding then means a leak.
const IN_FLIGHT_MARGIN: usize = 8;

const CONNECT_FAILED: &str = "系统异常[上游连接失败，订单未处理]";
const CIRCUIT_OPEN: &str = "系统异常[上游暂不可用，订单未处理，请稍后重试]";
const TIMED_OUT: &str = "系统异常[上游应答超时，结果未知，请稍后查询订单]";
const BUSY: &str = "系统繁忙，请稍后重试";
const STALE_PREFIX: &str = "请求时间超出允许范围[±300秒]，服务器时间";

// ---------------------------------------------------------------------------------------------
// Options, ports, configuration
// ---------------------------------------------------------------------------------------------

struct Options {
    duration: Duration,
    concurrency: usize,
    orders: usize,
    replay_max_entries: usize,
    bin: PathBuf,
    dir: PathBuf,
}

fn usage() -> ! {
    eprintln!("usage: soak [SECONDS (default 60)] [CONCURRENCY (default 64)]");
    std::process::exit(2)
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name} must be a number, not {v:?}");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 2 || args.iter().any(|a| a.starts_with('-')) {
        usage();
    }
    let number = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |a| match a.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => usage(),
        })
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Options {
        duration: Duration::from_secs(number(0, 60)),
        concurrency: number(1, 64) as usize,
        orders: env_number("SOAK_ORDERS", 20_000).max(10),
        replay_max_entries: env_number("SOAK_REPLAY_MAX_ENTRIES", 20_000).max(RING * 4),
        bin: std::env::var_os("SOAK_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/paybridge")),
        dir: root.join("target/soak"),
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct Ports {
    proxy: u16,
    admin: u16,
    daxpay: u16,
    legacy: u16,
    dead: u16,
    slow: u16,
}

/// DaxPay sandbox order `i`: its number and its initial status (wait, progress or success).
fn dax_order(i: usize) -> (String, DaxState) {
    let state = match i % 3 {
        0 => DaxState::Open("wait"),
        1 => DaxState::Open("progress"),
        _ => DaxState::Paid,
    };
    (format!("SK{i:07}"), state)
}

fn legacy_state(i: usize) -> u8 {
    // 0 created and 1 paying can be closed; 2 (paid) cannot.
    (i % 3) as u8
}

fn config_toml(o: &Options, p: &Ports) -> String {
    let mut s = String::with_capacity(o.orders * 72 + 256 * 1024);
    let in_flight = o.concurrency + IN_FLIGHT_MARGIN;
    let _ = write!(
        s,
        r#"# Written by examples/soak.rs: paybridge under a bounded soak, loopback only.
[server]
listen = "127.0.0.1:{proxy}"
max_in_flight = {in_flight}

[log]
level = "warn"

[admin]
listen = "127.0.0.1:{admin}"

[replay]
store = "memory"
max_entries = {max_entries}

[upstreams.dax]
base_url = "http://127.0.0.1:{daxpay}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = 5000

[upstreams.dead]
base_url = "http://127.0.0.1:{dead}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = 2000
connect_timeout_ms = 200
retries = 2
retry_backoff_ms = 5
breaker_failures = 5
breaker_cooldown_ms = 250

[upstreams.slow]
base_url = "http://127.0.0.1:{slow}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = {SLOW_TIMEOUT_MS}
connect_timeout_ms = 200
retries = 0
breaker_failures = 0

[upstreams.legacy]
kind = "legacy"
base_url = "http://127.0.0.1:{legacy}"
timeout_ms = 5000

[routing]
default = {{ action = "translate" }}

[[routes]]
name = "not migrated"
mch_no = ["{l1}"]
action = "passthrough"
upstream = "legacy"

[[routes]]
name = "migrated, with fallback"
mch_no = ["{t2}"]
action = "translate"
fallback = "legacy"

"#,
        proxy = p.proxy,
        admin = p.admin,
        max_entries = o.replay_max_entries,
        daxpay = p.daxpay,
        dead = p.dead,
        slow = p.slow,
        legacy = p.legacy,
        l1 = LEGACY.mch,
        t2 = T2.mch,
    );
    for (m, upstream) in [(T1, "dax"), (T2, "dax"), (DEAD, "dead"), (SLOW, "slow")] {
        let _ = write!(
            s,
            "[[merchants]]\nmch_no = \"{}\"\napp_id = \"{}\"\nsecret = \"{}\"\n[merchants.daxpay]\nupstream = \"{upstream}\"\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\"\n\n",
            m.mch, m.app, m.secret
        );
    }
    let _ = write!(
        s,
        "[sandbox]\nembedded = true\nlisten = \"127.0.0.1:{}\"\nversion = \"3.0\"\n\n[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\"\nsign_type = \"hmac_sha256\"\nsecret = \"{DAX_SECRET}\"\n\n",
        p.daxpay
    );
    for i in 0..o.orders {
        let (no, state) = dax_order(i);
        let status = match state {
            DaxState::Open(s) => s,
            _ => "success",
        };
        let _ = writeln!(
            s,
            "[[sandbox.orders]]\norder_no = \"{no}\"\nbiz_order_no = \"B{no}\"\nstatus = \"{status}\""
        );
    }
    let _ = write!(
        s,
        "\n[legacy_sandbox]\nembedded = true\nlisten = \"127.0.0.1:{}\"\n\n",
        p.legacy
    );
    for m in [LEGACY, T2] {
        let _ = write!(
            s,
            "[[legacy_sandbox.apps]]\nmch_no = \"{}\"\napp_id = \"{}\"\nsecret = \"{}\"\n\n",
            m.mch, m.app, m.secret
        );
    }
    for i in 0..LEGACY_ORDERS {
        for (m, prefix) in [(LEGACY, "LP"), (T2, "FB")] {
            let _ = writeln!(
                s,
                "[[legacy_sandbox.orders]]\npay_order_id = \"{prefix}{i:05}\"\nmch_order_no = \"{prefix}M{i:05}\"\nmch_no = \"{}\"\nstate = {}",
                m.mch,
                legacy_state(i)
            );
        }
    }
    for i in 0..4 {
        let _ = writeln!(
            s,
            "[[legacy_sandbox.orders]]\npay_order_id = \"LE{i}\"\nmch_order_no = \"LEM{i}\"\nmch_no = \"{}\"\nstate = 1\nempty_body = true",
            LEGACY.mch
        );
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The child process
// ---------------------------------------------------------------------------------------------

/// Kills the child when dropped (a panic, an early return, Ctrl-C), unless it already exited.
struct ChildGuard {
    child: Option<Child>,
    pid_file: PathBuf,
}

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then waits up to `grace` for a clean exit: (status, how long), or `None`.
    fn terminate(&mut self, grace: Duration) -> Option<(std::process::ExitStatus, Duration)> {
        let child = self.child.as_mut()?;
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                let _ = std::fs::remove_file(&self.pid_file);
                return Some((status, started.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

fn start_child(o: &Options, config: &Path) -> std::io::Result<ChildGuard> {
    let log = std::fs::File::create(o.dir.join("paybridge.log"))?;
    let child = Command::new(&o.bin)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let pid_file = o.dir.join("paybridge.pid");
    std::fs::write(&pid_file, child.id().to_string())?;
    Ok(ChildGuard {
        child: Some(child),
        pid_file,
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

fn threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Signing and bodies, written from jeepay.md (independently of paybridge's code)
// ---------------------------------------------------------------------------------------------

fn md5_upper(s: &str) -> String {
    hex::encode_upper(Md5::digest(s.as_bytes()))
}

/// Jeepay's MD5: non-empty fields but `sign`, `k=v&` sorted by key, then `key=secret`.
fn jeepay_sign(fields: &[(&'static str, String)], secret: &str) -> String {
    let mut entries: Vec<String> = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    entries.sort_by_key(|e| e.to_ascii_lowercase());
    md5_upper(&format!("{}key={secret}", entries.concat()))
}

fn success_body(secret: &str) -> Vec<u8> {
    format!(
        r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{}"}}"#,
        md5_upper(&format!("key={secret}"))
    )
    .into_bytes()
}

fn error_body(code: i64, msg: &str) -> Vec<u8> {
    format!(
        r#"{{"code":{code},"msg":{}}}"#,
        serde_json::to_string(msg).unwrap_or_default()
    )
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
    Query,
}

/// One request, exactly as sent.
#[derive(Clone)]
struct Req {
    method: Method,
    /// Path and query.
    uri: String,
    content_type: Option<&'static str>,
    body: Bytes,
    close_connection: bool,
}

impl Req {
    fn build(path: &str, encoding: Encoding, fields: &[(&'static str, String)]) -> Req {
        let pairs = || {
            fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        };
        match encoding {
            Encoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
                    .collect();
                Req::raw(
                    Method::POST,
                    path,
                    Some("application/json"),
                    serde_json::Value::Object(map).to_string(),
                )
            }
            Encoding::Form => Req::raw(
                Method::POST,
                path,
                Some("application/x-www-form-urlencoded"),
                pairs(),
            ),
            Encoding::Query => Req::raw(Method::GET, &format!("{path}?{}", pairs()), None, ""),
        }
    }

    fn raw(method: Method, uri: &str, ct: Option<&'static str>, body: impl Into<Bytes>) -> Req {
        Req {
            method,
            uri: uri.to_owned(),
            content_type: ct,
            body: body.into(),
            close_connection: false,
        }
    }

    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!(
            "{} {} [{}] {body}",
            self.method,
            self.uri,
            self.content_type.unwrap_or("-")
        )
    }
}

/// A close request's fields, signed.
fn close_fields(
    m: Merchant,
    req_time: String,
    pay_order_id: Option<&str>,
    mch_order_no: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("mchNo", m.mch.to_owned()),
        ("appId", m.app.to_owned()),
        ("version", "1.0".to_owned()),
        ("signType", "MD5".to_owned()),
        ("reqTime", req_time),
    ];
    if let Some(p) = pay_order_id {
        fields.push(("payOrderId", p.to_owned()));
    }
    if let Some(o) = mch_order_no {
        fields.push(("mchOrderNo", o.to_owned()));
    }
    let sign = jeepay_sign(&fields, m.secret);
    fields.push(("sign", sign));
    fields
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Epoch microseconds, never the same twice: two requests for the same order never share a
/// signature (which paybridge would rightly answer from its replay store).
fn unique_micros() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now().as_micros() as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// splitmix64: enough randomness for choosing what to send.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, per_mille: usize) -> bool {
        self.below(1000) < per_mille
    }
}

// ---------------------------------------------------------------------------------------------
// The model and the expectations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DaxState {
    /// wait or progress: the next close succeeds.
    Open(&'static str),
    /// closed or cancelled by an earlier request.
    Closed,
    /// paid: never closable.
    Paid,
}

#[derive(Clone, Debug)]
struct DaxOrder {
    index: usize,
    state: DaxState,
}

#[derive(Clone, Debug)]
struct LegacyOrder {
    id: String,
    open: bool,
}

/// What an answer must be: one of these, exactly.
#[derive(Clone)]
struct Alt {
    label: &'static str,
    status: u16,
    body: Vec<u8>,
    /// `body` is a prefix of the answer (for messages that carry the server's clock).
    prefix: bool,
}

fn alt(label: &'static str, status: u16, body: Vec<u8>) -> Alt {
    Alt {
        label,
        status,
        body,
        prefix: false,
    }
}

struct Expect {
    alts: Vec<Alt>,
    /// `x-paybridge-replay: true` must be present (duplicates) or absent (all others).
    replay: bool,
}

impl Expect {
    fn one(label: &'static str, status: u16, body: Vec<u8>) -> Expect {
        Expect {
            alts: vec![alt(label, status, body)],
            replay: false,
        }
    }

    fn describe(&self) -> String {
        let alts: Vec<String> = self
            .alts
            .iter()
            .map(|a| {
                format!(
                    "{} {}{}",
                    a.status,
                    String::from_utf8_lossy(&a.body),
                    if a.prefix { "…" } else { "" }
                )
            })
            .collect();
        format!("{} (replay: {})", alts.join(" | "), self.replay)
    }
}

/// A translated request answered definitively, which a duplicate must get again.
#[derive(Clone)]
struct Recorded {
    req: Req,
    answer: Bytes,
    /// The signature in the JSON body, for the lower-case variant.
    sign: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct KindStats {
    sent: u64,
    answered: u64,
    wrong: u64,
    outcomes: BTreeMap<&'static str, u64>,
    latencies_us: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    kinds: BTreeMap<&'static str, KindStats>,
    errors: BTreeMap<String, u64>,
    replays_seen: u64,
    shed: u64,
}

impl Stats {
    fn kind(&mut self, kind: &'static str) -> &mut KindStats {
        self.kinds.entry(kind).or_default()
    }

    fn merge(&mut self, other: Stats) {
        for (k, o) in other.kinds {
            let s = self.kind(k);
            s.sent += o.sent;
            s.answered += o.answered;
            s.wrong += o.wrong;
            for (label, n) in o.outcomes {
                *s.outcomes.entry(label).or_default() += n;
            }
            s.latencies_us.extend(o.latencies_us);
        }
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
        self.replays_seen += other.replays_seen;
        self.shed += other.shed;
    }

    fn totals(&self) -> (u64, u64, u64) {
        self.kinds.values().fold((0, 0, 0), |(s, a, w), k| {
            (s + k.sent, a + k.answered, w + k.wrong)
        })
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Answer {
    status: StatusCode,
    replay: bool,
    body: Bytes,
}

enum Outcome {
    /// Answered as expected: the matching alternative's label and the body.
    Right(&'static str, Bytes),
    /// 503 busy: nothing was done.
    Shed,
    Wrong,
    /// No answer (transport error, client-side timeout): the model no longer knows.
    Lost,
}

struct Shared {
    client: HttpClient,
    proxy: SocketAddr,
    deadline: Instant,
    stop: AtomicBool,
    dax_pool: Mutex<Vec<DaxOrder>>,
    legacy_pool: Mutex<Vec<LegacyOrder>>,
    fallback_pool: Mutex<Vec<LegacyOrder>>,
    ring: Mutex<VecDeque<Recorded>>,
    serial: AtomicU64,
    wrong_samples: Mutex<Vec<String>>,
    error_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    async fn send(&self, req: &Req) -> Result<Answer, String> {
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

    fn note_wrong(&self, kind: &str, req: &Req, expect: &Expect, got: &Answer) {
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

    fn note_error(&self, stats: &mut Stats, kind: &str, req: &Req, error: &str) {
        let class = error.split(':').next().unwrap_or(error).to_owned();
        *stats.errors.entry(class).or_default() += 1;
        let mut samples = self.error_samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < 10 {
            samples.push(format!("[{kind}] {}: {error}", req.describe()));
        }
    }

    /// Sends one request and checks its answer against `expect`.
    async fn check(
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

    fn record(&self, req: Req, answer: Bytes, sign: Option<String>) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= RING {
            ring.pop_front();
        }
        ring.push_back(Recorded { req, answer, sign });
    }
}

fn checkout<T: Clone>(pool: &Mutex<Vec<T>>, rng: &mut Rng) -> Option<T> {
    let mut pool = pool.lock().unwrap_or_else(|e| e.into_inner());
    if pool.is_empty() {
        return None;
    }
    let i = rng.below(pool.len());
    Some(pool.swap_remove(i))
}

fn give_back<T>(pool: &Mutex<Vec<T>>, item: T) {
    pool.lock().unwrap_or_else(|e| e.into_inner()).push(item);
}

fn sign_of(fields: &[(&'static str, String)]) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| *k == "sign")
        .map(|(_, v)| v.clone())
}

fn without(fields: &[(&'static str, String)], key: &str) -> Vec<(&'static str, String)> {
    fields.iter().filter(|(k, _)| *k != key).cloned().collect()
}

/// The request mix, per mille.
const MIX: [(&str, usize); 12] = [
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

async fn worker(shared: Arc<Shared>, seed: u64) -> Stats {
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

/// One invalid request to a translated merchant, and Jeepay's answer to it.
fn invalid(rng: &mut Rng, shared: &Shared) -> (&'static str, Req, Expect) {
    let id = format!("IX{}", shared.serial());
    let fresh = || close_fields(T1, unique_micros().to_string(), Some(&id), None);
    let json =
        |fields: &[(&'static str, String)]| Req::build("/api/pay/close", Encoding::Json, fields);
    let refusal = |label: &'static str, msg: &str| Expect::one(label, 200, error_body(9999, msg));
    let missing = [
        ("version", "版本号不能为空"),
        ("signType", "签名类型不能为空"),
        ("sign", "签名值不能为空"),
        ("reqTime", "时间戳不能为空"),
        ("mchNo", "商户号不能为空"),
        ("appId", "商户应用ID不能为空"),
    ];
    match rng.below(15) {
        0 | 1 => {
            let mut fields = fresh();
            if let Some((_, sign)) = fields.iter_mut().find(|(k, _)| *k == "sign") {
                // A signature made with another key.
                *sign = md5_upper(&format!("{sign}wrong-key"));
            }
            (
                "invalid: bad signature",
                json(&fields),
                refusal("验签失败", "验签失败"),
            )
        }
        2 | 3 => {
            let (field, msg) = missing[rng.below(missing.len())];
            (
                "invalid: missing field",
                json(&without(&fresh(), field)),
                refusal("field required", msg),
            )
        }
        4 => {
            let fields = fresh();
            let body = json(&fields).body;
            let cut = body.len() / 2;
            (
                "invalid: malformed JSON",
                Req::raw(
                    Method::POST,
                    "/api/pay/close",
                    Some("application/json"),
                    body.slice(..cut),
                ),
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
        5 => {
            let body = if rng.chance(500) {
                "[1,2,3]"
            } else {
                "\"close\""
            };
            (
                "invalid: JSON not an object",
                Req::raw(
                    Method::POST,
                    "/api/pay/close",
                    Some("application/json"),
                    body,
                ),
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
        6 => {
            let nobody = Merchant {
                mch: "M_SOAK_NOBODY",
                app: "app-soak-nobody",
                secret: "x",
            };
            let fields = close_fields(nobody, unique_micros().to_string(), Some(&id), None);
            (
                "invalid: unknown merchant",
                json(&fields),
                refusal("unknown merchant", "商户或商户应用不存在"),
            )
        }
        7 => {
            let mixed = Merchant {
                app: DEAD.app,
                ..T1
            };
            let fields = close_fields(mixed, unique_micros().to_string(), Some(&id), None);
            (
                "invalid: app of another merchant",
                json(&fields),
                refusal("app mismatch", "参数appId与商户号不匹配"),
            )
        }
        8 => {
            let fields = close_fields(T1, unique_micros().to_string(), None, None);
            (
                "invalid: no order named",
                json(&fields),
                refusal("no order", "mchOrderNo 和 payOrderId 不能同时为空"),
            )
        }
        9 => {
            let mut fields = without(&fresh(), "sign");
            if let Some((_, t)) = fields.iter_mut().find(|(k, _)| *k == "signType") {
                *t = "SHA256".to_owned();
            }
            let sign = jeepay_sign(&fields, T1.secret);
            fields.push(("sign", sign));
            (
                "invalid: sign type",
                json(&fields),
                refusal("sign type", "不支持的签名类型[SHA256]，仅支持MD5"),
            )
        }
        10 | 11 => {
            let stale = now().as_millis() - 400_000;
            let fields = close_fields(T1, stale.to_string(), Some(&id), None);
            (
                "invalid: stale reqTime",
                json(&fields),
                Expect {
                    alts: vec![Alt {
                        label: "outside the window",
                        status: 200,
                        body: format!(r#"{{"code":9999,"msg":"{STALE_PREFIX}"#).into_bytes(),
                        prefix: true,
                    }],
                    replay: false,
                },
            )
        }
        12 => {
            let fields = close_fields(T1, "20190723141000".to_owned(), Some(&id), None);
            (
                "invalid: reqTime format",
                json(&fields),
                refusal(
                    "unreadable",
                    "请求时间格式无法识别[20190723141000]，应为10、13或16位时间戳",
                ),
            )
        }
        13 if rng.chance(300) => {
            let padding = "P".repeat(70_000);
            let fields = close_fields(T1, unique_micros().to_string(), Some(&padding), None);
            (
                "invalid: body over 64 KiB",
                json(&fields),
                Expect::one(
                    "code 11",
                    200,
                    error_body(11, "参数有误[请求体超过65536字节]"),
                ),
            )
        }
        _ => {
            // A form body whose parameter is repeated cannot be bound.
            let fields = fresh();
            let mut req = Req::build("/api/pay/close", Encoding::Form, &fields);
            req.body = Bytes::from(format!(
                "{}&payOrderId=other",
                String::from_utf8_lossy(&req.body)
            ));
            (
                "invalid: repeated form parameter",
                req,
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The slow upstream
// ---------------------------------------------------------------------------------------------

/// Reads a request, then answers only after `SLOW_DELAY`, far past paybridge's timeout.
async fn slow_upstream(listener: tokio::net::TcpListener, seen: Arc<AtomicU64>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        seen.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let read = async {
                let mut total = Vec::new();
                while !total.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => total.extend_from_slice(&buf[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
            tokio::time::sleep(SLOW_DELAY).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
            let _ = stream.shutdown().await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Around the run
// ---------------------------------------------------------------------------------------------

async fn get(client: &HttpClient, url: &str) -> Option<(StatusCode, String)> {
    let request = Request::get(url).body(Full::new(Bytes::new())).ok()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Waits until paybridge and both sandboxes answer (the configuration holds many orders).
async fn wait_ready(
    client: &HttpClient,
    ports: &Ports,
    guard: &mut ChildGuard,
) -> Result<Duration, String> {
    let started = Instant::now();
    let proxy_url = format!("http://127.0.0.1:{}/api/pay/nope", ports.proxy);
    loop {
        if let Some(status) = guard.exited() {
            return Err(format!("paybridge exited during start-up: {status}"));
        }
        let proxy_up = get(client, &proxy_url).await.is_some();
        let sandboxes_up = [ports.daxpay, ports.legacy]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
        if proxy_up && sandboxes_up {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("paybridge did not start within 120 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sample lines of the metrics whose names start with one of `names`.
fn pick_metrics(text: &str, names: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && names.iter().any(|n| l.starts_with(n)))
        .map(str::to_owned)
        .collect()
}

fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Report {
    ok: bool,
    lines: Vec<String>,
}

impl Report {
    fn line(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.lines.push(s);
    }

    fn fail(&mut self, s: impl Into<String>) {
        self.ok = false;
        self.line(format!("FAIL: {}", s.into()));
    }
}

async fn soak(o: &Options, ports: &Ports, guard: &mut ChildGuard, report: &mut Report) {
    let pid = guard.pid();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(o.concurrency * 2)
        .build(connector);

    match wait_ready(&client, ports, guard).await {
        Ok(took) => report.line(format!(
            "paybridge (pid {pid}) ready in {:.1} s",
            took.as_secs_f64()
        )),
        Err(e) => {
            report.fail(e);
            return;
        }
    }
    let metrics_url = format!("http://127.0.0.1:{}/metrics", ports.admin);
    let requests_before = get(&client, &metrics_url)
        .await
        .map_or(0.0, |(_, t)| metric_sum(&t, "paybridge_requests_total"));
    let rss_start = rss_kib(pid).unwrap_or(0);
    let fds_start = open_fds(pid).unwrap_or(0);

    let mut dax_pool = Vec::with_capacity(o.orders);
    for index in 0..o.orders {
        dax_pool.push(DaxOrder {
            index,
            state: dax_order(index).1,
        });
    }
    let legacy_pool = |prefix: &str| -> Vec<LegacyOrder> {
        (0..LEGACY_ORDERS)
            .map(|i| LegacyOrder {
                id: format!("{prefix}{i:05}"),
                open: legacy_state(i) < 2,
            })
            .collect()
    };
    let load_started = Instant::now();
    let deadline = load_started + o.duration;
    let shared = Arc::new(Shared {
        client: client.clone(),
        proxy: SocketAddr::from(([127, 0, 0, 1], ports.proxy)),
        deadline,
        stop: AtomicBool::new(false),
        dax_pool: Mutex::new(dax_pool),
        legacy_pool: Mutex::new(legacy_pool("LP")),
        fallback_pool: Mutex::new(legacy_pool("FB")),
        ring: Mutex::new(VecDeque::with_capacity(RING)),
        serial: AtomicU64::new(0),
        wrong_samples: Mutex::new(Vec::new()),
        error_samples: Mutex::new(Vec::new()),
    });

    // Resident memory once a second. The baseline is taken at the end of the warm-up: at least
    // a sixth of the run (2 to 10 s), and not before the replay store is full (its first
    // eviction) and has run full for a second; at most half the run.
    let min_warm_up = (o.duration / 6).clamp(Duration::from_secs(2), Duration::from_secs(10));
    let max_warm_up = (o.duration / 2).max(min_warm_up);
    let samples: Arc<Mutex<Vec<(f64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(rss) = rss_kib(pid) {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((load_started.elapsed().as_secs_f64(), rss));
                }
            }
        })
    };
    let warm_sample = {
        let client = client.clone();
        let url = format!("http://127.0.0.1:{}/metrics", ports.admin);
        tokio::spawn(async move {
            let mut full_since: Option<Duration> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let elapsed = load_started.elapsed();
                if full_since.is_none() {
                    let evicted = get(&client, &url).await.is_some_and(|(_, text)| {
                        metric_sum(&text, "paybridge_replay_evictions_total") > 0.0
                    });
                    if evicted {
                        full_since = Some(elapsed);
                    }
                }
                let settled = full_since.is_some_and(|t| elapsed >= t + Duration::from_secs(1));
                if (elapsed >= min_warm_up && settled) || elapsed >= max_warm_up {
                    return (
                        elapsed,
                        full_since,
                        rss_kib(pid),
                        open_fds(pid),
                        threads(pid),
                    );
                }
            }
        })
    };

    // Optionally, a Prometheus-like scraper of the admin listener's /metrics.
    let scrape_every = env_number("SOAK_SCRAPE_SECS", 0);
    let scraper = (scrape_every > 0).then(|| {
        let client = client.clone();
        let url = format!("http://127.0.0.1:{}/metrics", ports.admin);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(scrape_every as u64));
            loop {
                tick.tick().await;
                let _ = get(&client, &url).await;
            }
        })
    });
    let seed = now().as_nanos() as u64;
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..o.concurrency {
        workers.spawn(worker(
            shared.clone(),
            seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
        ));
    }
    let mut stats = Stats::default();
    let mut worker_panics = 0;
    let hard_stop = deadline + CLIENT_TIMEOUT + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(hard_stop.into(), workers.join_next()).await {
            Ok(Some(Ok(s))) => stats.merge(s),
            Ok(Some(Err(e))) => {
                worker_panics += 1;
                eprintln!("worker failed: {e}");
            }
            Ok(None) => break,
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                report.fail(format!(
                    "{} workers still busy {:?} after the deadline: aborted",
                    workers.len(),
                    hard_stop - deadline
                ));
                workers.abort_all();
                break;
            }
        }
        if guard.exited().is_some() {
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
    let load_time = load_started.elapsed();
    let (warm_up, store_full_at, warm_rss, warm_fds, warm_threads) =
        warm_sample
            .await
            .unwrap_or((max_warm_up, None, None, None, None));
    let rss_end = rss_kib(pid);
    let fds_end = open_fds(pid);
    let threads_end = threads(pid);
    sampler.abort();
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    let metrics_text = get(
        &client,
        &format!("http://127.0.0.1:{}/metrics", ports.admin),
    )
    .await
    .map(|(_, t)| t)
    .unwrap_or_default();

    // ------------------------------------------------------------------ the figures
    let (sent, answered, wrong) = stats.totals();
    report.line(String::new());
    report.line(format!(
        "load: {:.1} s at {} connections, {} requests sent, {} answered, {} wrong",
        load_time.as_secs_f64(),
        o.concurrency,
        sent,
        answered,
        wrong
    ));
    report.line(format!(
        "warm-up: {:.1} s (replay store full {})",
        warm_up.as_secs_f64(),
        store_full_at.map_or("never".to_owned(), |t| format!(
            "after {:.1} s",
            t.as_secs_f64()
        ))
    ));
    report.line(format!(
        "throughput: {:.0} answers/s",
        answered as f64 / load_time.as_secs_f64()
    ));
    report.line(String::new());
    report.line(format!(
        "{:<38} {:>8} {:>8} {:>6} {:>8} {:>8} {:>8}  outcomes",
        "kind", "sent", "answered", "wrong", "p50 ms", "p99 ms", "max ms"
    ));
    for (kind, k) in &mut stats.kinds {
        k.latencies_us.sort_unstable();
        let outcomes: Vec<String> = k.outcomes.iter().map(|(l, n)| format!("{l} {n}")).collect();
        report.line(format!(
            "{:<38} {:>8} {:>8} {:>6} {:>8.2} {:>8.2} {:>8.1}  {}",
            kind,
            k.sent,
            k.answered,
            k.wrong,
            percentile(&k.latencies_us, 0.5),
            percentile(&k.latencies_us, 0.99),
            percentile(&k.latencies_us, 1.0),
            outcomes.join(", ")
        ));
    }
    let all: Vec<u32> = {
        let mut v: Vec<u32> = stats
            .kinds
            .values()
            .flat_map(|k| k.latencies_us.iter().copied())
            .collect();
        v.sort_unstable();
        v
    };
    report.line(format!(
        "{:<38} {:>8} {:>8} {:>6} {:>8.2} {:>8.2} {:>8.1}",
        "all",
        sent,
        answered,
        wrong,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    ));
    report.line(String::new());
    if stats.errors.is_empty() {
        report.line("client-side errors: none (no transport error, no client timeout)");
    } else {
        let errors: Vec<String> = stats
            .errors
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        report.line(format!("client-side errors: {}", errors.join(", ")));
        for s in shared
            .error_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            report.line(format!("  {s}"));
        }
    }
    let modelled_left = shared.dax_pool.lock().map(|p| p.len()).unwrap_or(0);
    let open_left = shared
        .dax_pool
        .lock()
        .map(|p| {
            p.iter()
                .filter(|o| matches!(o.state, DaxState::Open(_)))
                .count()
        })
        .unwrap_or(0);
    report.line(format!(
        "model: {modelled_left} of {} DaxPay orders still modelled, {open_left} of them still open",
        o.orders
    ));

    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let after_warm: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm_up.as_secs_f64())
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = (
        after_warm.iter().min().copied().unwrap_or(0),
        after_warm.iter().max().copied().unwrap_or(0),
    );
    let series: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 12).max(1))
        .map(|(t, r)| format!("{t:.0}s {:.1}", *r as f64 / 1024.0))
        .collect();
    report.line(format!(
        "RSS: {} idle before load, {} after warm-up, {} at the end; after warm-up min {} max {}",
        mib(rss_start),
        warm_rss.map_or("?".to_owned(), mib),
        rss_end.map_or("?".to_owned(), mib),
        mib(lo),
        mib(hi)
    ));
    report.line(format!("RSS over time (MiB): {}", series.join(", ")));
    report.line(format!(
        "open descriptors: {} idle, {} after warm-up, {} at the end; threads {} / {}",
        fds_start,
        warm_fds.map_or("?".to_owned(), |v| v.to_string()),
        fds_end.map_or("?".to_owned(), |v| v.to_string()),
        warm_threads.map_or("?".to_owned(), |v| v.to_string()),
        threads_end.map_or("?".to_owned(), |v| v.to_string()),
    ));

    let wanted = [
        "paybridge_replays_total",
        "paybridge_replay_evictions_total",
        "paybridge_shed_total",
        "paybridge_outcome_resolutions_total",
        "paybridge_fallbacks_total",
        "paybridge_upstream_retries_total",
        "paybridge_upstream_errors_total",
        "paybridge_replay_store_errors_total",
        "paybridge_request_seconds_count",
        "paybridge_upstream_seconds_count",
    ];
    report.line("paybridge's counters:".to_owned());
    for m in pick_metrics(&metrics_text, &wanted) {
        report.line(format!("  {m}"));
    }

    // ------------------------------------------------------------------ the verdict
    if wrong > 0 {
        report.fail(format!("{wrong} wrong answers; the first ones:"));
        for s in shared
            .wrong_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            report.line(format!("  {s}"));
        }
    }
    if answered < sent {
        report.fail(format!(
            "{} requests sent were not answered",
            sent - answered
        ));
    }
    if worker_panics > 0 {
        report.fail(format!("{worker_panics} driver workers panicked"));
    }
    if stats.shed > 0 {
        report.fail(format!(
            "{} requests shed (503) although at most {} were in flight and max_in_flight is {}: an in-flight permit leaks",
            stats.shed,
            o.concurrency + 1,
            o.concurrency + IN_FLIGHT_MARGIN
        ));
    }
    let requests_counted = metric_sum(&metrics_text, "paybridge_requests_total") - requests_before;
    if !metrics_text.is_empty() {
        let line = format!(
            "requests: {answered} answered, {requests_counted} counted by paybridge (paybridge_requests_total)"
        );
        if requests_counted as u64 == answered {
            report.line(line);
        } else {
            report.fail(line);
        }
    }
    let replays_counted = metric_sum(&metrics_text, "paybridge_replays_total");
    if metrics_text.is_empty() {
        report.fail("the admin listener's /metrics did not answer");
    } else if replays_counted as u64 != stats.replays_seen {
        report.fail(format!(
            "paybridge counted {replays_counted} replays, the driver received {}",
            stats.replays_seen
        ));
    } else {
        report.line(format!(
            "replays: {} received, {} counted by paybridge",
            stats.replays_seen, replays_counted
        ));
    }
    match (warm_rss, rss_end) {
        (Some(w), Some(e)) if w > 0 => {
            let growth = (e as f64 - w as f64) / w as f64;
            let verdict = format!(
                "RSS after warm-up {} → end {} ({:+.1} %, limit +{:.0} %)",
                mib(w),
                mib(e),
                growth * 100.0,
                RSS_TOLERANCE * 100.0
            );
            if growth > RSS_TOLERANCE {
                report.fail(verdict);
            } else {
                report.line(verdict);
            }
            // Flat, not merely under the limit: the second half of the measured period must
            // not keep growing (a leak of a few bytes per request stays under 20 % for a minute).
            let from = warm_up.as_secs_f64();
            let middle = (from + load_time.as_secs_f64()) / 2.0;
            let rss_middle = samples
                .iter()
                .filter(|(t, _)| *t >= middle)
                .map(|(_, r)| *r)
                .next();
            if let Some(m) = rss_middle {
                let trend = (e as f64 - m as f64) / w as f64;
                let verdict = format!(
                    "RSS over the second half ({middle:.0} s → end): {} → {} ({:+.1} % of the warm baseline, limit +{:.0} %)",
                    mib(m),
                    mib(e),
                    trend * 100.0,
                    RSS_TREND_TOLERANCE * 100.0
                );
                if trend > RSS_TREND_TOLERANCE {
                    report.fail(format!("{verdict}: still growing"));
                } else {
                    report.line(verdict);
                }
            }
        }
        _ => report.fail("resident memory could not be read"),
    }
}

fn main() -> ExitCode {
    let o = options();
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        eprintln!("cannot create {}: {e}", o.dir.display());
        return ExitCode::from(2);
    }
    if !o.bin.is_file() {
        eprintln!(
            "{} is missing: run `cargo build --release --bin paybridge` (scripts/soak does)",
            o.bin.display()
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::from(2);
        }
    };
    // The slow upstream is ours: bound first, so its port cannot be taken.
    let slow_listener = match runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind the slow upstream: {e}");
            return ExitCode::from(2);
        }
    };
    let mut picked = Vec::new();
    while picked.len() < 5 {
        let p = free_port();
        if !picked.contains(&p) {
            picked.push(p);
        }
    }
    let ports = Ports {
        proxy: picked[0],
        admin: picked[1],
        daxpay: picked[2],
        legacy: picked[3],
        dead: picked[4],
        slow: slow_listener.local_addr().map(|a| a.port()).unwrap_or(0),
    };
    let config_path = o.dir.join("paybridge.toml");
    let config = config_toml(&o, &ports);
    if let Err(e) = std::fs::write(&config_path, &config) {
        eprintln!("cannot write {}: {e}", config_path.display());
        return ExitCode::from(2);
    }
    let mut report = Report {
        ok: true,
        lines: Vec::new(),
    };
    report.line(format!(
        "paybridge soak, {}: {} s at {} connections, 127.0.0.1 only",
        time_stamp(),
        o.duration.as_secs(),
        o.concurrency
    ));
    report.line(format!(
        "machine: {} CPUs ({}), {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        kernel()
    ));
    report.line(format!(
        "configuration: {} ({:.1} MiB: {} DaxPay sandbox orders, {} legacy orders, replay store {} entries, max_in_flight {})",
        config_path.display(),
        config.len() as f64 / 1_048_576.0,
        o.orders,
        2 * LEGACY_ORDERS + 4,
        o.replay_max_entries,
        o.concurrency + IN_FLIGHT_MARGIN
    ));
    let scrape = env_number("SOAK_SCRAPE_SECS", 0);
    report.line(if scrape > 0 {
        format!("admin /metrics scraped every {scrape} s during the run (SOAK_SCRAPE_SECS)")
    } else {
        "admin /metrics read only during warm-up and at the end (SOAK_SCRAPE_SECS unset)".to_owned()
    });
    drop(config);
    let mut guard = match start_child(&o, &config_path) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start {}: {e}", o.bin.display());
            return ExitCode::from(2);
        }
    };
    let slow_seen = Arc::new(AtomicU64::new(0));
    let slow_task = runtime.spawn(slow_upstream(slow_listener, slow_seen.clone()));
    // Interrupted (Ctrl-C, or SIGTERM from `timeout`): the guard kills paybridge on the way out.
    let interrupted = runtime.block_on(async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = soak(&o, &ports, &mut guard, &mut report) => false,
            _ = tokio::signal::ctrl_c() => true,
            () = terminate => true,
        }
    });
    if interrupted {
        eprintln!("interrupted: stopping paybridge");
        drop(guard);
        return ExitCode::from(130);
    }
    report.line(format!(
        "slow upstream: {} connections accepted (close and query, each timed out by paybridge)",
        slow_seen.load(Ordering::Relaxed)
    ));
    if let Some(status) = guard.exited() {
        report.fail(format!("paybridge exited during the run: {status}"));
    } else {
        match guard.terminate(Duration::from_secs(15)) {
            Some((status, took)) if status.success() => report.line(format!(
                "shutdown: SIGTERM → exited 0 in {} ms",
                took.as_millis()
            )),
            Some((status, took)) => report.fail(format!(
                "shutdown: SIGTERM → {status} after {} ms",
                took.as_millis()
            )),
            None => report.fail("shutdown: still running 15 s after SIGTERM (killed)"),
        }
    }
    slow_task.abort();
    let log_path = o.dir.join("paybridge.log");
    let mut log = String::new();
    let _ = std::fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut log));
    let panics = log.lines().filter(|l| l.contains("panicked")).count();
    let errors = log.lines().filter(|l| l.contains("ERROR")).count();
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    report.line(format!(
        "paybridge log ({}): {} lines, {warnings} WARN, {errors} ERROR, {panics} panics",
        log_path.display(),
        log.lines().count()
    ));
    if panics > 0 {
        report.fail("paybridge panicked (see its log)");
    }
    drop(guard);
    report.line(if report.ok {
        "verdict: PASS".to_owned()
    } else {
        "verdict: FAIL".to_owned()
    });
    let _ = std::fs::write(o.dir.join("report.txt"), report.lines.join("\n") + "\n");
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn time_stamp() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| format!("Linux {}", k.trim()))
        .unwrap_or_default()
}
