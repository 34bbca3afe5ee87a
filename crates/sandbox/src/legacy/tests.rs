//! The legacy Jeepay sandbox driven as a tower service. Requests are signed here with the shared
//! MD5 primitive over field lists written out by hand; the first tests use the golden vectors
//! of `vectors/golden/jeepay.json` verbatim.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use super::*;
use crate::config::{LegacyApp, LegacyOrder, LegacySandboxConfig};
use crate::secret::Secret;
use crate::sign::jeepay as sign;

const MCH: &str = "M1623984572";
const APP: &str = "60cc09bce4b0f1c0b83761c9";
const SECRET: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
/// `jeepay-close-payOrderId`: the request's signature.
const GOLDEN_SIGN: &str = "4141C6B162C57D94E364B0464C5A07AD";
const GOLDEN_ORDER: &str = "P202106181104177050002";
/// `jeepay-close-response-empty-data`: MD5 of `key=<SECRET>`.
const SUCCESS: &str =
    r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#;

fn order(pay_order_id: &str, mch_order_no: &str, state: u8) -> LegacyOrder {
    LegacyOrder {
        pay_order_id: pay_order_id.to_owned(),
        mch_order_no: mch_order_no.to_owned(),
        mch_no: MCH.to_owned(),
        state,
        empty_body: false,
        amount: 1000,
        refunded: 0,
        way_code: None,
    }
}

fn config(orders: Vec<LegacyOrder>) -> LegacySandboxConfig {
    LegacySandboxConfig {
        embedded: false,
        listen: "127.0.0.1:0".parse().expect("address"),
        apps: vec![
            LegacyApp {
                mch_no: MCH.to_owned(),
                app_id: APP.to_owned(),
                secret: Secret::new(SECRET),
            },
            LegacyApp {
                mch_no: "M2".to_owned(),
                app_id: "A2".to_owned(),
                secret: Secret::new("other-secret"),
            },
        ],
        orders,
        epay_merchants: Vec::new(),
        epay_orders: Vec::new(),
    }
}

fn sandbox(orders: Vec<LegacyOrder>) -> LegacySandbox {
    LegacySandbox::new(&config(orders))
}

/// The golden request's fields, without `sign`.
fn golden() -> Map<String, Value> {
    obj(json!({
        "mchNo": MCH,
        "appId": APP,
        "version": "1.0",
        "signType": "MD5",
        "reqTime": "1622016572190",
        "payOrderId": GOLDEN_ORDER,
    }))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("test bodies are objects"),
    }
}

/// Signs `fields` as a Jeepay client does: every string field but `sign`, empty ones left out.
fn signed(mut fields: Map<String, Value>) -> Map<String, Value> {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    let sign = sign::sign(&pairs, SECRET).to_string();
    fields.insert("sign".to_owned(), Value::String(sign));
    fields
}

fn body_of(fields: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(fields).expect("serialise")
}

async fn send(
    sb: &LegacySandbox,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let request = builder.body(Full::new(body.into())).expect("request");
    let response = sb.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Response::from_parts(parts, bytes)
}

/// POSTs a JSON body to the close path and returns the answer's text (HTTP 200 and the JSON
/// content type checked).
async fn close(sb: &LegacySandbox, body: Vec<u8>) -> String {
    let response = send(
        sb,
        Method::POST,
        "/api/pay/close",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    String::from_utf8(response.into_body().to_vec()).expect("UTF-8")
}

fn refusal(msg: &str) -> String {
    format!(r#"{{"code":9999,"msg":"{msg}"}}"#)
}

#[tokio::test]
async fn golden_close_succeeds_with_exact_bytes_and_closes_the_order() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let mut body = golden();
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN));
    assert_eq!(close(&sb, body_of(&body)).await, SUCCESS);
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(6));
    assert_eq!(sb.requests_seen(), 1);

    // Not idempotent: the order is closed now.
    assert_eq!(
        close(&sb, body_of(&body)).await,
        refusal("当前订单不可关闭")
    );
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(6));
}

#[tokio::test]
async fn only_created_and_paying_orders_close() {
    let orders = (0..=6).map(|s| order(&format!("P{s}"), &format!("MO{s}"), s));
    let sb = sandbox(orders.collect());
    for state in 0..=6u8 {
        let mut body = golden();
        body.insert("payOrderId".to_owned(), json!(format!("P{state}")));
        let answer = close(&sb, body_of(&signed(body))).await;
        if state <= 1 {
            assert_eq!(answer, SUCCESS, "state {state}");
            assert_eq!(sb.order_state(&format!("P{state}")), Some(6));
        } else {
            assert_eq!(answer, refusal("当前订单不可关闭"), "state {state}");
            assert_eq!(sb.order_state(&format!("P{state}")), Some(state));
        }
    }
}

#[tokio::test]
async fn each_required_field_has_its_own_message() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let cases = [
        ("version", "版本号不能为空"),
        ("signType", "签名类型不能为空"),
        ("sign", "签名值不能为空"),
        ("reqTime", "时间戳不能为空"),
        ("mchNo", "商户号不能为空"),
        ("appId", "商户应用ID不能为空"),
    ];
    for (field, message) in cases {
        for blank in [None, Some(Value::Null), Some(json!("")), Some(json!(" \t"))] {
            let mut body = signed(golden());
            match &blank {
                None => body.remove(field),
                Some(v) => body.insert(field.to_owned(), v.clone()),
            };
            assert_eq!(
                close(&sb, body_of(&body)).await,
                refusal(message),
                "{field} = {blank:?}"
            );
        }
    }
    // Checked in declaration order: with everything missing, version is reported.
    assert_eq!(close(&sb, b"{}".to_vec()).await, refusal("版本号不能为空"));
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(1));
}

#[tokio::test]
async fn signature_is_checked_case_insensitively() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let mut body = golden();
    body.insert("sign".to_owned(), json!("4141C6B162C57D94E364B0464C5A07AE"));
    assert_eq!(close(&sb, body_of(&body)).await, refusal("验签失败"));
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN[..31]));
    assert_eq!(close(&sb, body_of(&body)).await, refusal("验签失败"));
    // Signed with another app's secret.
    let mut other = golden();
    let pairs: Vec<(&str, &str)> = other
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect();
    let wrong = sign::sign(&pairs, "other-secret").to_string();
    other.insert("sign".to_owned(), json!(wrong));
    assert_eq!(close(&sb, body_of(&other)).await, refusal("验签失败"));
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(1));

    body.insert("sign".to_owned(), json!(GOLDEN_SIGN.to_ascii_lowercase()));
    assert_eq!(close(&sb, body_of(&body)).await, SUCCESS);
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(6));
}

#[tokio::test]
async fn only_declared_fields_are_signed_and_numbers_bind_as_text() {
    let sb = sandbox(vec![
        order(GOLDEN_ORDER, "MO1", 1),
        order("P2", "MO2", 1),
        order("P3", "MO3", 1),
    ]);
    // An undeclared field is ignored by verification...
    let mut body = golden();
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN));
    body.insert("extParam".to_owned(), json!({"nested": [1, 2]}));
    assert_eq!(close(&sb, body_of(&body)).await, SUCCESS);
    // ...so a client that signs it fails.
    let mut body = golden();
    body.insert("payOrderId".to_owned(), json!("P2"));
    body.insert("clientIp".to_owned(), json!("127.0.0.1"));
    assert_eq!(
        close(&sb, body_of(&signed(body))).await,
        refusal("验签失败")
    );
    // reqTime as a JSON number is signed as its decimal text.
    let mut body = signed({
        let mut b = golden();
        b.insert("payOrderId".to_owned(), json!("P2"));
        b
    });
    body.insert("reqTime".to_owned(), json!(1622016572190u64));
    assert_eq!(close(&sb, body_of(&body)).await, SUCCESS);
    // Neither reqTime nor signType is checked for its value; both are still signed.
    let mut body = golden();
    body.insert("payOrderId".to_owned(), json!("P3"));
    body.insert("reqTime".to_owned(), json!("yesterday"));
    body.insert("signType".to_owned(), json!("SHA256"));
    assert_eq!(close(&sb, body_of(&signed(body))).await, SUCCESS);
}

#[tokio::test]
async fn merchant_and_app_lookup() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let cases = [
        (MCH, "nope", "商户或商户应用不存在"),
        ("nope", APP, "商户或商户应用不存在"),
        ("M2", APP, "参数appId与商户号不匹配"),
        (MCH, "A2", "参数appId与商户号不匹配"),
    ];
    for (mch_no, app_id, message) in cases {
        let mut body = golden();
        body.insert("mchNo".to_owned(), json!(mch_no));
        body.insert("appId".to_owned(), json!(app_id));
        assert_eq!(close(&sb, body_of(&signed(body))).await, refusal(message));
    }
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(1));
}

#[tokio::test]
async fn order_lookup_rules() {
    let mut foreign = order("PF", "MOF", 1);
    foreign.mch_no = "M2".to_owned();
    let sb = sandbox(vec![
        order("P1", "MO1", 1),
        order("P2", "MO2", 0),
        order("P3", "MO3", 1),
        foreign,
    ]);
    let with = |pairs: &[(&str, &str)]| {
        let mut body = golden();
        body.remove("payOrderId");
        for (k, v) in pairs {
            body.insert((*k).to_owned(), json!(v));
        }
        body_of(&signed(body))
    };
    let none = refusal("mchOrderNo 和 payOrderId 不能同时为空");
    assert_eq!(close(&sb, with(&[])).await, none);
    assert_eq!(
        close(&sb, with(&[("payOrderId", ""), ("mchOrderNo", "")])).await,
        none
    );
    // Unknown, or another merchant's order.
    for pairs in [
        [("payOrderId", "NOPE")],
        [("payOrderId", "PF")],
        [("mchOrderNo", "MOF")],
    ] {
        assert_eq!(close(&sb, with(&pairs)).await, refusal("订单不存在"));
    }
    // A blank payOrderId is a lookup of " ", not a fall-through.
    assert_eq!(
        close(&sb, with(&[("payOrderId", " "), ("mchOrderNo", "MO1")])).await,
        refusal("订单不存在")
    );
    // payOrderId wins over mchOrderNo.
    assert_eq!(
        close(&sb, with(&[("payOrderId", "P1"), ("mchOrderNo", "MO2")])).await,
        SUCCESS
    );
    assert_eq!(sb.order_state("P1"), Some(6));
    assert_eq!(sb.order_state("P2"), Some(0));
    // By mchOrderNo, also when payOrderId is empty.
    assert_eq!(
        close(&sb, with(&[("payOrderId", ""), ("mchOrderNo", "MO2")])).await,
        SUCCESS
    );
    assert_eq!(sb.order_state("P2"), Some(6));
    assert_eq!(sb.order_state("PF"), Some(1));
}

#[tokio::test]
async fn the_empty_body_quirk_leaves_the_order_unchanged() {
    let mut quirky = order(GOLDEN_ORDER, "MO1", 1);
    quirky.empty_body = true;
    let sb = sandbox(vec![quirky]);
    let mut body = golden();
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN));
    for _ in 0..2 {
        let response = send(
            &sb,
            Method::POST,
            "/api/pay/close",
            Some("application/json"),
            body_of(&body),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().is_empty());
        assert!(response.headers().get("content-type").is_none());
        assert_eq!(sb.order_state(GOLDEN_ORDER), Some(1));
    }
    // Checks before the close still answer normally.
    body.insert("sign".to_owned(), json!("0".repeat(32)));
    assert_eq!(close(&sb, body_of(&body)).await, refusal("验签失败"));
}

fn golden_form() -> String {
    format!(
        "mchNo={MCH}&appId={APP}&version=1.0&signType=MD5&reqTime=1622016572190\
         &payOrderId={GOLDEN_ORDER}&sign={GOLDEN_SIGN}"
    )
}

#[tokio::test]
async fn form_bodies_and_query_strings() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let response = send(
        &sb,
        Method::POST,
        "/api/pay/close",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        golden_form(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), SUCCESS.as_bytes());
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(6));

    // GET: the query string, even with a JSON content type (Jeepay reads JSON only off GET).
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let uri = format!("/api/pay/close?{}", golden_form());
    let response = send(&sb, Method::GET, &uri, Some("application/json"), "").await;
    assert_eq!(response.body(), SUCCESS.as_bytes());

    // A form body under another content type is not read.
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let response = send(
        &sb,
        Method::POST,
        "/api/pay/close",
        Some("text/plain"),
        golden_form(),
    )
    .await;
    assert_eq!(response.body(), refusal("版本号不能为空").as_bytes());
    // Under JSON, the query string is not read.
    let response = send(&sb, Method::POST, &uri, Some("application/json"), "").await;
    assert_eq!(response.body(), refusal("版本号不能为空").as_bytes());
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(1));
}

#[tokio::test]
async fn unconvertible_bodies_are_code_11() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let code11 = r#"{"code":11,"msg":"参数有误[转换异常]"}"#;
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"\"text\"",
        b"{\"mchNo\":",
        br#"{"mchNo":["M1"]}"#,
    ] {
        assert_eq!(close(&sb, body.to_vec()).await, code11);
    }
    // Jeepay reads an empty JSON body as an empty object.
    assert_eq!(close(&sb, Vec::new()).await, refusal("版本号不能为空"));
    let huge = vec![b' '; BODY_LIMIT + 1];
    assert_eq!(close(&sb, huge).await, code11);
    assert_eq!(sb.received().last().map(|r| r.body.len()), Some(BODY_LIMIT));
}

#[tokio::test]
async fn received_records_exact_bytes_and_headers() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    // Odd spacing and key order must survive as sent.
    let body = format!(
        "{{ \"sign\":\"{GOLDEN_SIGN}\",\"payOrderId\":\"{GOLDEN_ORDER}\", \
         \"reqTime\":\"1622016572190\",\"signType\":\"MD5\",\"version\":\"1.0\",\
         \"appId\":\"{APP}\",\"mchNo\":\"{MCH}\"}}\n"
    );
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/pay/close?trace=1&x=%20")
        .header("content-type", "application/json; charset=utf-8")
        .header("x-request-id", "req-42")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .body(Full::new(Bytes::from(body.clone())))
        .expect("request");
    let response = sb.clone().oneshot(request).await.expect("infallible");
    let answer = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(answer, SUCCESS.as_bytes());
    let _ = send(&sb, Method::DELETE, "/elsewhere", None, "raw\0bytes").await;

    let seen = sb.received();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!(first.method, Method::POST);
    assert_eq!(first.uri, "/api/pay/close?trace=1&x=%20");
    assert_eq!(first.body, body.as_bytes());
    assert_eq!(
        first.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(first.headers["x-request-id"], "req-42");
    let multi: Vec<_> = first.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["a", "b"]);
    let second = &seen[1];
    assert_eq!(second.method, Method::DELETE);
    assert_eq!(second.uri, "/elsewhere");
    assert_eq!(second.body, &b"raw\0bytes"[..]);
    assert_eq!(sb.requests_seen(), 2);
}

#[tokio::test]
async fn the_request_log_keeps_the_last_thousand() {
    let sb = sandbox(vec![]);
    for i in 0..(LOG_LIMIT + 5) {
        let _ = send(&sb, Method::GET, &format!("/n/{i}"), None, "").await;
    }
    let seen = sb.received();
    assert_eq!(seen.len(), LOG_LIMIT);
    assert_eq!(seen[0].uri, "/n/5");
    assert_eq!(
        seen.last().map(|r| r.uri.as_str()),
        Some(format!("/n/{}", LOG_LIMIT + 4).as_str())
    );
    assert_eq!(sb.requests_seen(), (LOG_LIMIT + 5) as u64);
}

#[tokio::test]
async fn unknown_paths_are_a_json_404_and_any_method_closes() {
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let response = send(&sb, Method::POST, "/api/pay/close/", None, "").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_slice(response.body()).expect("JSON");
    assert_eq!(body["status"], 404);
    assert_eq!(body["path"], "/api/pay/close/");
    assert!(body["timestamp"].is_string());

    let mut body = golden();
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN));
    let response = send(
        &sb,
        Method::PUT,
        "/api/pay/close",
        Some("application/json"),
        body_of(&body),
    )
    .await;
    assert_eq!(response.body(), SUCCESS.as_bytes());
}

#[tokio::test]
async fn run_legacy_serves_over_tcp_until_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sb = sandbox(vec![order(GOLDEN_ORDER, "MO1", 1)]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run_legacy(listener, sb.clone(), async {
        let _ = stopped.await;
    }));

    let mut body = golden();
    body.insert("sign".to_owned(), json!(GOLDEN_SIGN));
    let body = body_of(&body);
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/pay/close HTTP/1.1\r\nHost: legacy\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(&body).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(SUCCESS), "{answer}");
    assert_eq!(sb.order_state(GOLDEN_ORDER), Some(6));
    assert_eq!(sb.received()[0].body, body);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("run_legacy returns after shutdown")
        .expect("no panic");
}

#[path = "tests_trade.rs"]
mod trade;
