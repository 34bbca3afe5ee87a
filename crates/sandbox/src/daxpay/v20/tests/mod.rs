//! The 2.0.8 sandbox: `lifecycle-2.0.md` §11's vectors ([`vectors`]), then each endpoint
//! driven as a tower service with requests signed here ([`trade`], [`orders`], [`refunds`]), the
//! notices ([`notices`]) and the channel syncs ([`sync`]).

mod notices;
mod orders;
mod refunds;
mod sync;
mod trade;
mod vectors;

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tower::ServiceExt;

use crate::config::{CallbackSignOrder, SandboxApp, SandboxConfig, SandboxOrder};
use crate::order::OrderStatus;
use crate::secret::Secret;
use crate::sign::daxpay::{Scheme, SignType, Version};
use crate::Sandbox;

const SECRET: &str = "dax_secret_Key123";
const BEIJING: time::UtcOffset = time::macros::offset!(+8);

fn config(sign_type: SignType, orders: Vec<SandboxOrder>) -> SandboxConfig {
    SandboxConfig {
        embedded: false,
        listen: "127.0.0.1:0".parse().expect("address"),
        version: Version::V2_0,
        utc_offset: BEIJING,
        req_time_window: Some(Duration::from_secs(10)),
        sm3_is_md5: false,
        callback_retry: Vec::new(),
        pay_limit_fen: crate::config::DEFAULT_PAY_LIMIT_FEN,
        pay_ways: std::collections::HashMap::new(),
        callback_before_commit: Duration::ZERO,
        apps: vec![SandboxApp {
            mch_no: None,
            app_id: None,
            sign_type,
            secret: Secret::new(SECRET),
            callback_sign_order: CallbackSignOrder::Sorted,
        }],
        orders,
    }
}

fn sandbox(sign_type: SignType, orders: Vec<SandboxOrder>) -> Sandbox {
    Sandbox::new(&config(sign_type, orders))
}

/// A paid Alipay QR order of `fen`, by `orderNo` / `bizOrderNo`.
fn paid(order_no: &str, biz: &str, fen: u64) -> SandboxOrder {
    let mut o = SandboxOrder::new(order_no, biz, OrderStatus::Success);
    o.channel = "ali_pay".to_owned();
    o.method = "qrcode".to_owned();
    o.amount = crate::order::Amount::from_fen(fen);
    o.title = Some("T".to_owned());
    o
}

fn epoch(offset_secs: i64) -> i64 {
    OffsetDateTime::now_utc().unix_timestamp() + offset_secs
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("test bodies are objects"),
    }
}

/// A client's signature over its own JSON (flat fields; a map as the server renders it).
fn client_sign(scheme: Scheme, body: &Map<String, Value>) -> String {
    let fields: Vec<(&str, Cow<'_, str>)> = body
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_null())
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Object(m) => super::wire::extra_param_json(m),
                other => other.to_string(),
            };
            (k.as_str(), Cow::Owned(text))
        })
        .collect();
    scheme.sign(&fields, SECRET)
}

/// `body` with a fresh `reqTime` and `nonceStr` and its signature.
fn signed(sign_type: SignType, body: Value) -> Vec<u8> {
    let mut body = obj(body);
    body.entry("reqTime").or_insert(json!(epoch(0)));
    body.entry("nonceStr").or_insert(json!("0123456789abcdef"));
    let sign = client_sign(Scheme::new(Version::V2_0, sign_type), &body);
    body.insert("sign".to_owned(), json!(sign));
    serde_json::to_vec(&body).expect("serialise")
}

async fn post_raw(sandbox: &Sandbox, path: &str, body: Vec<u8>) -> Value {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sandbox.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200, "2.0.8 answers HTTP 200");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("JSON answer")
}

/// Signs `body` with `sign_type` and posts it.
async fn call(sandbox: &Sandbox, sign_type: SignType, path: &str, body: Value) -> Value {
    post_raw(sandbox, path, signed(sign_type, body)).await
}

/// §2.5's verifier rule over a received `data` or notice.
fn verifies(sign_type: SignType, data: &Value) -> bool {
    let map = data.as_object().expect("object");
    let Some(sign) = map.get("sign").and_then(Value::as_str) else {
        return false;
    };
    let fields = crate::sign::daxpay::fields_of(map);
    Scheme::new(Version::V2_0, sign_type).verify(&fields, SECRET, sign)
}

/// Shape A/C/D: unsigned, `data` null.
fn assert_error(answer: &Value, code: i64, msg: &str) {
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["msg"], msg, "{answer}");
    assert!(answer["data"].is_null(), "{answer}");
    assert!(answer.get("sign").is_none(), "{answer}");
    assert_eq!(
        answer["traceId"].as_str().map(str::len),
        Some(12),
        "{answer}"
    );
}

/// Shape B: envelope code 0, `data {code: 1, msg, resTime, sign}` signed.
fn assert_refused(sign_type: SignType, answer: &Value, msg: &str) {
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["msg"], "success", "{answer}");
    let data = &answer["data"];
    assert_eq!(data["code"], 1, "{answer}");
    assert_eq!(data["msg"], msg, "{answer}");
    assert!(data["resTime"].is_u64(), "{answer}");
    assert_eq!(data.as_object().map(Map::len), Some(4), "{answer}");
    assert!(verifies(sign_type, data), "{answer}");
}

/// A signed result (`code` 0); its `data`.
fn ok_data(sign_type: SignType, answer: &Value) -> Value {
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["msg"], "success", "{answer}");
    let data = answer["data"].clone();
    assert_eq!(data["code"], 0, "{answer}");
    assert!(verifies(sign_type, &data), "{answer}");
    let keys: Vec<&str> = data
        .as_object()
        .expect("object")
        .keys()
        .take(4)
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "msg", "resTime", "sign"], "{answer}");
    data
}

const BOTH: [SignType; 2] = [SignType::HmacSha256, SignType::Md5];
