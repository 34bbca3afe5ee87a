//! Test harness: real servers on 127.0.0.1 port 0, a plain HTTP client, and Jeepay request
//! signing written from jeepay.md (so a mistake in the library's signing cannot hide here).
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use paybridge::config::Config;
use paybridge_sandbox::Sandbox;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub mod epay;
pub mod instance;
pub mod merchant;
pub mod redis;
pub mod steering;

pub const JEEPAY_MCH: &str = "M1623984572";
pub const JEEPAY_APP: &str = "60cc09bce4b0f1c0b83761c9";
pub const JEEPAY_SECRET: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
pub const DAX_MCH: &str = "M1723635576766";
pub const DAX_APP: &str = "M8207639754663343";
pub const DAX_SECRET: &str = "dax_secret_Key123";
/// M2's own DaxPay app (two merchants on one DaxPay identity need an explicit opt-in).
pub const DAX_APP_M2: &str = "M8207639754663344";

/// A server running until dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Running {
    pub fn new(addr: SocketAddr, stop: oneshot::Sender<()>) -> Self {
        Running {
            addr,
            stop: Some(stop),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn stopper() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

/// Starts a sandbox from a `[sandbox]` TOML section (its listen address is ignored: port 0).
pub async fn start_sandbox(sandbox_toml: &str) -> (Running, Sandbox) {
    let config = paybridge_sandbox::Sandboxes::from_toml(sandbox_toml)
        .expect("sandbox configuration is valid");
    let sandbox = Sandbox::new(config.sandbox.as_ref().expect("a [sandbox] section"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = stopper();
    tokio::spawn(paybridge_sandbox::run(listener, sandbox.clone(), stopped));
    (
        Running {
            addr,
            stop: Some(stop),
        },
        sandbox,
    )
}

/// Starts a legacy Jeepay gateway stand-in from a `[legacy_sandbox]` section (port 0).
pub async fn start_legacy(toml: &str) -> (Running, paybridge_sandbox::LegacySandbox) {
    let config = paybridge_sandbox::Sandboxes::from_toml(toml)
        .expect("legacy sandbox configuration is valid");
    let legacy = paybridge_sandbox::LegacySandbox::new(
        config
            .legacy_sandbox
            .as_ref()
            .expect("a [legacy_sandbox] section"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = stopper();
    tokio::spawn(paybridge_sandbox::run_legacy(
        listener,
        legacy.clone(),
        stopped,
    ));
    (
        Running {
            addr,
            stop: Some(stop),
        },
        legacy,
    )
}

/// Starts the proxy from a full TOML configuration (its listen address is ignored: port 0).
pub async fn start_proxy(config_toml: &str) -> Running {
    let config = Arc::new(Config::from_toml(config_toml).expect("proxy configuration is valid"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = stopper();
    let max_in_flight = config.server.max_in_flight;
    let service =
        paybridge::app::proxy_service(paybridge::proxy::Gateway::new(config), max_in_flight);
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        stopped,
        Duration::from_secs(1),
    ));
    Running {
        addr,
        stop: Some(stop),
    }
}

/// Starts paybridge the way `serve` does (`app::bind` + `app::run`: limits, admin listener),
/// without a configuration file to reload.
pub async fn start_app(config_toml: &str) -> Running {
    let config = Arc::new(Config::from_toml(config_toml).expect("configuration is valid"));
    let bound = paybridge::app::bind(&config).await.unwrap();
    let addr = bound.proxy_addr().unwrap();
    let (stop, stopped) = stopper();
    tokio::spawn(paybridge::app::run(
        paybridge::proxy::Gateway::new(config),
        bound,
        None,
        stopped,
    ));
    Running {
        addr,
        stop: Some(stop),
    }
}

/// Starts paybridge before `upstream` (a DaxPay sandbox, or a relay in front of one) with
/// `public_url` its own address and its notifier and settlement worker running, so DaxPay's
/// callbacks reach it and merchants are notified (`proxy_toml`'s sections, then `[notify]` fast
/// and allowed to reach loopback, then `extra`). Its address and its order store.
pub async fn start_relaying(
    upstream: SocketAddr,
    version: &str,
    sign_type: &str,
    extra_upstream: &str,
    extra_merchant: &str,
    extra: &str,
) -> (SocketAddr, paybridge::store::OrderStore) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let toml = proxy_toml(upstream, version, sign_type, extra_upstream, extra_merchant).replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
    ) + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n"
        + extra;
    let config = Arc::new(Config::from_toml(&toml).expect("valid configuration"));
    let gateway = paybridge::proxy::Gateway::new(config.clone());
    gateway.start_notifier();
    gateway.start_settlement();
    let orders = gateway.orders().expect("an order store");
    let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        std::future::pending::<()>(),
        Duration::from_secs(1),
    ));
    (proxy, orders)
}

/// Starts a fake upstream answering every request with `answer(body)`.
pub async fn start_fake<F, Fut>(answer: F) -> Running
where
    F: Fn(Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = stopper();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let answer = answer.clone();
        async move {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, Infallible>(answer(body).await)
        }
    });
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        stopped,
        Duration::from_millis(100),
    ));
    Running {
        addr,
        stop: Some(stop),
    }
}

/// The proxy configuration for one merchant translated to one upstream.
pub fn proxy_toml(
    upstream: SocketAddr,
    version: &str,
    sign_type: &str,
    extra_upstream: &str,
    extra_merchant: &str,
) -> String {
    let identity = match version {
        "3.0" => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\""),
        "3.0-beta" => format!("app_id = \"{DAX_APP}\""),
        _ => String::new(),
    };
    // M2 on its own DaxPay app; DaxPay 2.0 has no apps (one identity per server), so M2 is left
    // out there rather than sharing the first merchant's identity.
    let m2 = match version {
        "3.0" => Some(format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_M2}\"")),
        "3.0-beta" => Some(format!("app_id = \"{DAX_APP_M2}\"")),
        _ => None,
    }
    .map(|identity| {
        format!(
            r#"
[[merchants]]
mch_no = "M2"
app_id = "app-of-m2"
secret = "secret-of-m2"
[merchants.daxpay]
upstream = "dax"
{identity}
"#
        )
    })
    .unwrap_or_default();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[upstreams.dax]
base_url = "http://{upstream}"
version = "{version}"
sign_type = "{sign_type}"
secret = "{DAX_SECRET}"
timeout_ms = 2000
connect_timeout_ms = 500
{extra_upstream}

[[merchants]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
{extra_merchant}
[merchants.daxpay]
upstream = "dax"
{identity}
{m2}
# Each proxy its own order store, in memory: tests never share order numbers.
[store]
url = "sqlite::memory:"
"#
    )
}

/// A signed request body for the default merchant, with `fields` after the common ones.
pub fn jeepay_body(fields: &[(&str, &str)]) -> Value {
    jeepay_body_for(JEEPAY_MCH, JEEPAY_APP, JEEPAY_SECRET, fields)
}

/// The same for another merchant.
pub fn jeepay_body_for(mch_no: &str, app_id: &str, secret: &str, fields: &[(&str, &str)]) -> Value {
    let mut all: Vec<(&str, &str)> = vec![
        ("mchNo", mch_no),
        ("appId", app_id),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time()),
    ];
    all.extend_from_slice(fields);
    signed(&all, secret)
}

/// A sandbox section for `version`, one app signing with `sign_type`, and the given orders
/// as (orderNo, bizOrderNo, status) triples.
pub fn sandbox_toml(version: &str, sign_type: &str, orders: &[(&str, &str, &str)]) -> String {
    let identity = match version {
        "3.0" => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\""),
        "3.0-beta" => format!("app_id = \"{DAX_APP}\""),
        _ => String::new(),
    };
    let mut s = format!(
        r#"
[sandbox]
listen = "127.0.0.1:0"
version = "{version}"
[[sandbox.apps]]
{identity}
sign_type = "{sign_type}"
secret = "{DAX_SECRET}"
"#
    );
    // M2's own app (see `proxy_toml`), same keys.
    match version {
        "3.0" => s.push_str(&format!("[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_M2}\"\nsign_type = \"{sign_type}\"\nsecret = \"{DAX_SECRET}\"\n")),
        "3.0-beta" => s.push_str(&format!("[[sandbox.apps]]\napp_id = \"{DAX_APP_M2}\"\nsign_type = \"{sign_type}\"\nsecret = \"{DAX_SECRET}\"\n")),
        _ => {}
    }
    for (order_no, biz, status) in orders {
        s.push_str(&format!(
            "[[sandbox.orders]]\norder_no = \"{order_no}\"\nbiz_order_no = \"{biz}\"\nstatus = \"{status}\"\n"
        ));
    }
    s
}

/// Jeepay's MD5 signature, written from jeepay.md independently of the library: entries
/// `k=v&` sorted case-insensitively (ASCII keys here), then `key=secret`, upper-case hex.
pub fn jeepay_sign(fields: &[(&str, &str)], secret: &str) -> String {
    let mut entries: Vec<String> = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    entries.sort_by_key(|e| e.to_lowercase());
    let s = format!("{}key={secret}", entries.concat());
    hex::encode_upper(Md5::digest(s.as_bytes()))
}

/// A fresh `reqTime` (epoch milliseconds): inside paybridge's window, and distinct per call so
/// that two requests never share a signature (which replay protection would answer from memory).
pub fn req_time() -> &'static str {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let unique = now + SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
    Box::leak(unique.to_string().into_boxed_str())
}

/// A signed close request body for the default merchant.
pub fn close_body(pay_order_id: Option<&str>, mch_order_no: Option<&str>) -> Value {
    let mut fields: Vec<(&str, &str)> = vec![
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time()),
    ];
    if let Some(p) = pay_order_id {
        fields.push(("payOrderId", p));
    }
    if let Some(m) = mch_order_no {
        fields.push(("mchOrderNo", m));
    }
    signed(&fields, JEEPAY_SECRET)
}

pub fn signed(fields: &[(&str, &str)], secret: &str) -> Value {
    let sign = jeepay_sign(fields, secret);
    let mut map: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    map.insert("sign".into(), Value::from(sign));
    Value::Object(map)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends one request and reads the whole answer.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> Answer {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(req.body(Full::new(body.into())).unwrap()),
    )
    .await
    .expect("answered within 10 s")
    .expect("request succeeded");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 answer"),
    }
}

/// POSTs a JSON value to `path`.
pub async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Answer {
    send(
        addr,
        "POST",
        path,
        Some("application/json"),
        body.to_string(),
        &[],
    )
    .await
}

/// The success answer Jeepay gives for close, signed with `secret`.
pub fn jeepay_success(secret: &str) -> String {
    format!(
        r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{}"}}"#,
        jeepay_sign(&[], secret)
    )
}

/// A Jeepay success the Jeepay SDK accepts (code 0, `data` signed with the demo merchant's
/// secret): its `data`.
pub fn accepted(answer: &Value) -> &Value {
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(answer, JEEPAY_SECRET), "signature: {answer}");
    &answer["data"]
}

/// Waits up to 10 s for `check` to hold.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 10 s: {what}");
}

/// Checks an answer the way the Jeepay Java SDK does: `sign` equals the upper-case MD5 of `data`.
pub fn sdk_accepts(answer: &Value, secret: &str) -> bool {
    let Some(data) = answer.get("data").and_then(Value::as_object) else {
        return false;
    };
    let owned: Vec<(String, String)> = data
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    let fields: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    answer.get("sign").and_then(Value::as_str) == Some(jeepay_sign(&fields, secret).as_str())
}

pub fn error(code: i64, msg: &str) -> String {
    serde_json::json!({"code": code, "msg": msg}).to_string()
}

/// A fresh database on the test PostgreSQL server (`PAYBRIDGE_TEST_POSTGRES_URL`, started by
/// `scripts/test-postgres`), its URL; `None` (the test is skipped) when there is none, except in
/// CI, which sets `PAYBRIDGE_REQUIRE_POSTGRES`.
pub async fn postgres_database(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("PAYBRIDGE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("PAYBRIDGE_REQUIRE_POSTGRES").is_none(),
            "PAYBRIDGE_TEST_POSTGRES_URL is required (scripts/test-postgres prints it)"
        );
        eprintln!("no PAYBRIDGE_TEST_POSTGRES_URL: skipping the PostgreSQL test");
        return None;
    };
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server");
    tokio::spawn(connection);
    let db = format!("pb_{name}_{}", std::process::id());
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database");
    Some(format!("{prefix}/{db}"))
}
