//! The sandbox driven as a tower service, requests signed here with the crate's own signer:
//! helpers here, then close and cancel ([`close`]), the query ([`query`]) and the wire
//! details ([`wire`]).

mod callback;
mod close;
mod query;
mod wire;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Map, Value};
use time::{OffsetDateTime, UtcOffset};
use tower::ServiceExt;

use super::*;
use crate::config::{CallbackSignOrder, SandboxApp, SandboxConfig, SandboxOrder};
use crate::secret::Secret;
use crate::sign::daxpay::{fields_of, Scheme, SignType, Version};

const SECRET: &str = "dax_secret_Key123";
const BEIJING: UtcOffset = time::macros::offset!(+8);

fn app(version: Version, sign_type: SignType) -> SandboxApp {
    SandboxApp {
        mch_no: (version == Version::V3_0).then(|| "M1".to_owned()),
        app_id: (version != Version::V2_0).then(|| "A1".to_owned()),
        sign_type,
        secret: Secret::new(SECRET),
        callback_sign_order: CallbackSignOrder::Sorted,
    }
}

fn order(order_no: &str, biz_order_no: &str, status: OrderStatus) -> SandboxOrder {
    SandboxOrder::new(order_no, biz_order_no, status)
}

fn config(version: Version, orders: Vec<SandboxOrder>) -> SandboxConfig {
    SandboxConfig {
        embedded: false,
        listen: "127.0.0.1:0".parse().expect("address"),
        version,
        utc_offset: BEIJING,
        req_time_window: Some(Duration::from_secs(300)),
        sm3_is_md5: false,
        callback_retry: vec![Duration::from_millis(50), Duration::from_millis(100)],
        pay_limit_fen: crate::config::DEFAULT_PAY_LIMIT_FEN,
        pay_ways: std::collections::HashMap::new(),
        callback_before_commit: Duration::ZERO,
        apps: vec![app(version, SignType::HmacSha256)],
        orders,
    }
}

fn sandbox(version: Version, orders: Vec<SandboxOrder>) -> Sandbox {
    Sandbox::new(&config(version, orders))
}

fn scheme(version: Version) -> Scheme {
    Scheme::new(version, SignType::HmacSha256)
}

fn wall_clock(offset_secs: i64) -> String {
    let t = OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    reply::wall_clock(t, BEIJING)
}

/// A 3.0 close request for `orderNo`, `useCancel` explicit.
fn close_30(order_no: &str, use_cancel: bool) -> Map<String, Value> {
    obj(json!({
        "mchNo": "M1",
        "appId": "A1",
        "nonceStr": "a8f5f167f44f4964",
        "reqTime": wall_clock(0),
        "orderNo": order_no,
        "useCancel": use_cancel,
    }))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("test bodies are objects"),
    }
}

/// Signs `body` as a client does (over its own JSON fields) and adds `sign`.
fn signed(scheme: Scheme, mut body: Map<String, Value>) -> Vec<u8> {
    let sign = scheme.sign(&fields_of(&body), SECRET);
    body.insert("sign".to_owned(), Value::String(sign));
    serde_json::to_vec(&body).expect("serialise")
}

async fn send(sandbox: &Sandbox, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sandbox.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON answer"))
}

async fn post(sandbox: &Sandbox, path: &str, body: Vec<u8>) -> Value {
    let (status, answer) = send(sandbox, Method::POST, path, body).await;
    assert_eq!(status, StatusCode::OK);
    answer
}

/// Checks a signed object (3.x envelope or 2.0 `data`) against the scheme.
fn verifies(scheme: Scheme, object: &Value) -> bool {
    let map = object.as_object().expect("object");
    let sign = map["sign"].as_str().expect("sign present");
    scheme.verify(&fields_of(map), SECRET, sign)
}

fn assert_unsigned(answer: &Value, code: i64, msg: &str) {
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["msg"], msg);
    assert!(answer["data"].is_null());
    assert!(
        answer.get("sign").is_none(),
        "pre-handler failures are unsigned: {answer}"
    );
    assert_eq!(answer["traceId"].as_str().map(str::len), Some(12));
}

fn assert_signed_refusal(version: Version, answer: &Value, code: i64, msg: &str) {
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["msg"], msg);
    assert!(answer["resTime"].is_null() && answer["traceId"].is_null() && answer["data"].is_null());
    assert!(verifies(scheme(version), answer), "{answer}");
}

mod trade;
