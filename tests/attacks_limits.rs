//! Attacks on paybridge's limits, through real sockets (issue 13, findings 6, 7, 9 and 10): a
//! replay after its entry would have expired while its `reqTime` is still fresh, slow bodies
//! starving the in-flight slots, unknown paths opening the legacy breaker, an oversized declared
//! body, an old signed DaxPay success replayed, a replay through the legacy→DaxPay fallback,
//! and a Content-Type that only mentions the form type.
//!
//! Each test fails if its attack works again.

mod common;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Response;
use http_body_util::Full;
use paybridge::dialect::daxpay::{Scheme, SignType, Version};
use paybridge_sandbox::OrderStatus;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn close_at(req_time: &str, pay_order_id: &str) -> Value {
    signed(
        &[
            ("mchNo", JEEPAY_MCH),
            ("appId", JEEPAY_APP),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time),
            ("payOrderId", pay_order_id),
        ],
        JEEPAY_SECRET,
    )
}

fn with_server(toml: String, keys: &str) -> String {
    toml.replace("[server]\n", &format!("[server]\n{keys}\n"))
}

/// An address nothing listens on.
fn dead_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Finding 6: window 3 s, reqTime 2.5 s ahead. The entry used to live 3 s from the answer; the
/// request stays fresh until reqTime + 3 s, 5.5 s from now. Re-sent 3.6 s later, it must be
/// answered from the store, not closed again.
#[tokio::test]
async fn a_replay_while_its_future_req_time_is_fresh_is_answered_from_the_store() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("F1", "MF1", "progress")],
    ))
    .await;
    let proxy = start_proxy(&with_server(
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""),
        "req_time_window_secs = 3",
    ))
    .await;
    let body = close_at(&(now_ms() + 2_500).to_string(), "F1");
    let first = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(first.body, jeepay_success(JEEPAY_SECRET));
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    let again = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(
        again.body, first.body,
        "the first answer, not `当前订单不可关闭`"
    );
    assert_eq!(again.headers["x-paybridge-replay"], "true");
    assert_eq!(sandbox.requests_seen(), 1, "DaxPay saw one close");
    assert_eq!(sandbox.order_status("F1"), Some(OrderStatus::Close));
}

/// Finding 6: replay on and a window off needs an explicit TTL.
#[test]
fn replay_without_a_window_needs_an_explicit_ttl() {
    let toml = proxy_toml(dead_addr(), "3.0", "md5", "", "req_time_window_secs = 0");
    let err = paybridge::config::Config::from_toml(&toml).unwrap_err();
    assert!(err.to_string().starts_with("replay.ttl_secs:"), "{err}");
    assert!(
        paybridge::config::Config::from_toml(&(toml.clone() + "\n[replay]\nttl_secs = 900\n"))
            .is_ok()
    );
    assert!(
        paybridge::config::Config::from_toml(&(toml + "\n[replay]\nstore = \"off\"\n")).is_ok()
    );
    let server_off = with_server(
        proxy_toml(dead_addr(), "3.0", "md5", "", ""),
        "req_time_window_secs = 0",
    );
    assert!(paybridge::config::Config::from_toml(&server_off).is_err());
}

/// The head of a POST whose body never (fully) comes.
fn slow_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Finding 7: four connections sending their bodies slowly hold no in-flight slot.
#[tokio::test]
async fn slow_bodies_do_not_starve_a_valid_request() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("S1", "MS1", "progress")],
    ))
    .await;
    let proxy = start_proxy(&with_server(
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""),
        "max_in_flight = 4\nbody_read_timeout_ms = 8000",
    ))
    .await;
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(slow_head("/api/pay/close", 200).as_bytes())
            .await
            .unwrap();
        s.write_all(b"{\"mchNo\":").await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("S1"), None)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    drop(slow);
}

/// Finding 7: a declared body over `max_body_bytes` is refused without waiting for it.
#[tokio::test]
async fn an_oversized_content_length_is_refused_at_once() {
    let proxy = start_proxy(&proxy_toml(dead_addr(), "3.0", "md5", "", "")).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(slow_head("/api/pay/close", 10_000_000).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut answer = Vec::new();
    while !String::from_utf8_lossy(&answer).contains("请求体超过") {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("answered without the body being sent")
            .unwrap();
        assert!(n > 0, "closed without an answer: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(&error(11, "参数有误[请求体超过65536字节]")),
        "{text}"
    );
}

/// Finding 7: 5xx from the legacy gateway on paths paybridge does not know never open its
/// breaker; on a known path they still do.
#[tokio::test]
async fn unknown_path_5xx_do_not_open_the_legacy_breaker() {
    // The fake legacy gateway: 500 for a body saying "boom", Jeepay's success otherwise.
    let legacy = start_fake(|body: Bytes| async move {
        if body.as_ref() == b"boom" {
            let mut r = Response::new(Full::new(Bytes::from_static(b"internal error")));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        } else {
            Response::new(Full::new(Bytes::from(jeepay_success(JEEPAY_SECRET))))
        }
    })
    .await;
    let toml = format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\nbreaker_failures = 2\nbreaker_cooldown_ms = 60000\n\n[routing]\ndefault = {{ action = \"passthrough\", upstream = \"legacy\" }}\n",
        proxy_toml(dead_addr(), "3.0", "md5", "", ""),
        legacy.addr
    );
    let proxy = start_proxy(&toml).await;
    for i in 0..6 {
        let path = format!("/anything/{i}?x=1");
        let a = send(proxy.addr, "POST", &path, None, "boom", &[]).await;
        assert_eq!(
            (a.status.as_u16(), a.body.as_str()),
            (500, "internal error"),
            "passed on"
        );
    }
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("K1"), None)).await;
    assert_eq!(
        a.body,
        jeepay_success(JEEPAY_SECRET),
        "the circuit is closed"
    );
    // On a path paybridge knows, two 5xx still open it.
    for _ in 0..2 {
        let a = send(proxy.addr, "POST", "/api/pay/query", None, "boom", &[]).await;
        assert_eq!(a.status, 500);
    }
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("K1"), None)).await;
    assert_eq!(
        a.body,
        error(10, "系统异常[上游暂不可用，订单未处理，请稍后重试]")
    );
}

/// A fake DaxPay 3.0 upstream answering every call with a signed success given at `res_time`.
async fn dax_answering_at(res_time: String) -> Running {
    start_fake(move |_body: Bytes| {
        let res_time = res_time.clone();
        async move {
            let mut fields: Vec<(&str, Cow<'_, str>)> = vec![
                ("code", "0".into()),
                ("msg", "success".into()),
                ("resTime", res_time.as_str().into()),
                ("traceId", "t1".into()),
            ];
            let sign =
                Scheme::new(Version::V3_0, SignType::HmacSha256).sign(&mut fields, DAX_SECRET);
            let answer = json!({"code":0,"msg":"success","data":null,"sign":sign,"resTime":res_time,"traceId":"t1"});
            Response::new(Full::new(Bytes::from(answer.to_string())))
        }
    })
    .await
}

fn dax_wall_clock(offset_secs: i64) -> String {
    paybridge::dialect::daxpay::envelope::wall_clock(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs),
        time::macros::offset!(+8),
    )
}

/// Finding 9: a correctly signed success an hour old is an old answer, not this call's.
#[tokio::test]
async fn an_old_signed_success_is_not_reported_as_success() {
    let stale = dax_answering_at(dax_wall_clock(-3600)).await;
    let proxy = start_proxy(&proxy_toml(stale.addr, "3.0", "hmac_sha256", "", "")).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("O1"), None)).await;
    assert_eq!(
        a.body,
        error(10, "系统异常[上游应答时间无效，结果未知，请稍后查询订单]")
    );
    // The same answer given now is believed (the signing above is right).
    let fresh = dax_answering_at(dax_wall_clock(0)).await;
    let proxy = start_proxy(&proxy_toml(fresh.addr, "3.0", "hmac_sha256", "", "")).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("O1"), None)).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
}

/// A legacy Jeepay gateway that knows the default merchant but none of its orders.
fn legacy_knowing_no_order() -> String {
    format!(
        "[legacy_sandbox]\nlisten = \"127.0.0.1:0\"\n[[legacy_sandbox.apps]]\nmch_no = \"{JEEPAY_MCH}\"\napp_id = \"{JEEPAY_APP}\"\nsecret = \"{JEEPAY_SECRET}\"\n"
    )
}

/// Finding 10: a request translated by the legacy→DaxPay fallback is claimed and recorded in
/// the replay store like any other.
#[tokio::test]
async fn a_replay_through_the_fallback_is_answered_from_the_store() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("NEW1", "MNEW1", "progress")],
    ))
    .await;
    let (lg, _legacy) = start_legacy(&legacy_knowing_no_order()).await;
    let toml = format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\n\n[routing]\ndefault = {{ action = \"passthrough\", upstream = \"legacy\", fallback = \"merchant\" }}\n",
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""),
        lg.addr
    );
    let proxy = start_proxy(&toml).await;
    let body = close_body(Some("NEW1"), None);
    let first = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(first.body, jeepay_success(JEEPAY_SECRET));
    let again = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["x-paybridge-replay"], "true");
    assert_eq!(sandbox.requests_seen(), 1, "DaxPay saw one close");
}

/// `k=v&…` of a signed request (its values need no escaping here).
fn form(body: &Value) -> String {
    body.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("&")
}

/// Finding 10: a body is a form only when the media type is the form type itself.
#[tokio::test]
async fn a_type_that_only_mentions_the_form_type_is_no_form() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("T1", "MT1", "progress")],
    ))
    .await;
    let proxy = start_proxy(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")).await;
    let body = form(&close_body(Some("T1"), None));
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("text/plain; x=application/x-www-form-urlencoded"),
        body.clone(),
        &[],
    )
    .await;
    assert_eq!(a.json()["code"], 9999, "{}", a.body);
    assert_eq!(sandbox.requests_seen(), 0, "the body was not read");
    assert_eq!(sandbox.order_status("T1"), Some(OrderStatus::Progress));
    // The form type itself, with a parameter and in any case, is read.
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("Application/X-WWW-Form-Urlencoded;charset=UTF-8"),
        body,
        &[],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("T1"), Some(OrderStatus::Close));
}
