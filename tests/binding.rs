//! Issue 20, items 1, 2 and 6, through real sockets: parameters bind as Jeepay binds them
//! (fastjson's smart matching: `mch_no` is `mchNo`, `openId` is `openid`), the route follows the
//! identity so bound, an identity that cannot be bound is answered by paybridge, and a control
//! character in a notify or return URL is refused before anything is sent. Each test fails if its
//! hole reopens.

mod common;

use common::*;
use paybridge_sandbox::{LegacySandbox, Sandbox};
use serde_json::{Map, Value};

const LEGACY_APPS: &str = r#"
[legacy_sandbox]
listen = "127.0.0.1:0"
[[legacy_sandbox.apps]]
mch_no = "M1623984572"
app_id = "60cc09bce4b0f1c0b83761c9"
secret = "EWEFD123RGSRETYDFNGFGFGSHDFGH"
[[legacy_sandbox.orders]]
pay_order_id = "L1"
mch_order_no = "LM1"
mch_no = "M1623984572"
state = 1
"#;

/// The default merchant migrated (translated by a rule on its mchNo); everything else passes
/// through to the legacy gateway by default.
async fn migrated() -> (Running, Sandbox, LegacySandbox, Vec<Running>) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (lg, legacy) = start_legacy(LEGACY_APPS).await;
    let toml = format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n\
         [[routes]]\nname = \"migrated merchant\"\nmch_no = [\"{JEEPAY_MCH}\"]\naction = \"translate\"\n",
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "").replace(
            "[server]\n",
            "[server]\npublic_url = \"http://127.0.0.1:9\"\n",
        ),
        lg.addr
    );
    (start_proxy(&toml).await, sandbox, legacy, vec![sb, lg])
}

/// The common fields of the default merchant, then `fields`, with `reqTime` as given.
fn request(req_time: &str, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time),
    ];
    all.extend_from_slice(fields);
    all.into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Signed over the canonical names (as Jeepay verifies: the bound object serialised again), then
/// the key `from` renamed `to` (`sign` keeps its name).
fn signed_then_renamed(fields: &[(String, String)], from: &str, to: &str) -> Vec<(String, String)> {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sign = jeepay_sign(&borrowed, JEEPAY_SECRET);
    let mut out: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (if k == from { to.to_owned() } else { k.clone() }, v.clone()))
        .collect();
    out.push(("sign".to_owned(), sign));
    out
}

fn json_of(fields: &[(String, String)]) -> String {
    let map: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    Value::Object(map).to_string()
}

fn form_of(fields: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish()
}

/// Sends `fields` as JSON (`form` false) or as a form body to `path`.
async fn send_as(proxy: &Running, path: &str, fields: &[(String, String)], form: bool) -> Answer {
    let (content_type, body) = if form {
        ("application/x-www-form-urlencoded", form_of(fields))
    } else {
        ("application/json", json_of(fields))
    };
    send(proxy.addr, "POST", path, Some(content_type), body, &[]).await
}

fn two_days_ago() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    (now - 2 * 24 * 3600 * 1000).to_string()
}

fn pay_fields<'a>(mch_order_no: &'a str, way_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", mch_order_no),
        ("wayCode", way_code),
        ("amount", "100"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

/// A success the Jeepay SDK accepts, its `data`.
fn accepted(answer: &Answer) -> Value {
    let json = answer.json();
    assert_eq!(json["code"], 0, "{}", answer.body);
    assert!(
        sdk_accepts(&json, JEEPAY_SECRET),
        "signature: {}",
        answer.body
    );
    json["data"].clone()
}

#[tokio::test]
async fn the_sdk_demos_open_id_creates_a_wx_jsapi_order() {
    let (proxy, sandbox, legacy, _servers) = migrated().await;
    // `PayOrderTest.wxJsapiExtra()` of jeepay-sdk-java 1.6.1 puts `openId`; fastjson binds it
    // (and `open_id`, `OPENID`) to `WxJsapiOrderRQ.openid`.
    let spellings = ["openId", "open_id", "OPENID", "Open-Id"];
    for (i, key) in spellings.iter().enumerate() {
        for way_code in ["WX_JSAPI", "WX_LITE"] {
            let no = format!("J{i}{way_code}");
            let extra = format!(r#"{{"{key}":"134756231107811344"}}"#);
            let mut fields = pay_fields(&no, way_code);
            fields.push(("channelExtra", &extra));
            let a = post_json(proxy.addr, "/api/pay/unifiedOrder", &jeepay_body(&fields)).await;
            let data = accepted(&a);
            assert_eq!(data["payDataType"], "wxapp", "{key}: {}", a.body);
            assert!(data["payData"].as_str().unwrap().contains("paySign"));
            let order = sandbox
                .order(data["payOrderId"].as_str().unwrap())
                .expect("created on DaxPay");
            assert_eq!(order.method, "jsapi");
        }
    }
    assert!(legacy.received().is_empty());
}

#[tokio::test]
async fn a_renamed_mch_no_is_translated_and_never_reaches_the_legacy_gateway() {
    let (proxy, sandbox, legacy, _servers) = migrated().await;
    for key in ["mch_no", "MchNo", "MCHNO", "mch-no"] {
        for form in [false, true] {
            let how = format!("{key} as {}", if form { "form" } else { "JSON" });
            // The issue's attack: a close captured two days ago, one key renamed. Translated,
            // its signature verifies over the canonical names and its age refuses it.
            let stale = request(&two_days_ago(), &[("payOrderId", "L1")]);
            let renamed = signed_then_renamed(&stale, "mchNo", key);
            let a = send_as(&proxy, "/api/pay/close", &renamed, form).await;
            let json = a.json();
            assert_eq!(json["code"], 9999, "{how}: {}", a.body);
            assert!(
                json["msg"]
                    .as_str()
                    .unwrap()
                    .starts_with("请求时间超出允许范围"),
                "{how}: {}",
                a.body
            );
            // A fresh order, renamed the same way: created on DaxPay, answered and signed.
            let no = format!("R-{key}-{form}");
            let fresh = request(req_time(), &pay_fields(&no, "WX_NATIVE"));
            let renamed = signed_then_renamed(&fresh, "mchNo", key);
            let data = accepted(&send_as(&proxy, "/api/pay/unifiedOrder", &renamed, form).await);
            assert_eq!(data["mchOrderNo"], no.as_str(), "{how}");
            assert!(sandbox
                .order(data["payOrderId"].as_str().unwrap())
                .is_some());
        }
    }
    assert!(
        legacy.received().is_empty(),
        "a renamed mchNo reached the legacy gateway"
    );
    assert_eq!(
        legacy.order_state("L1"),
        Some(1),
        "the legacy order is open"
    );
}

#[tokio::test]
async fn two_keys_binding_to_one_field_are_refused_with_code_11() {
    let (proxy, sandbox, legacy, _servers) = migrated().await;
    let conversion = error(11, "参数有误[转换异常]");
    let close = request(req_time(), &[("payOrderId", "L1")]);
    for (from, to) in [
        ("mchNo", "mch_no"),
        ("mchNo", "MCHNO"),
        ("appId", "APP_ID"),
        ("payOrderId", "pay-order-id"),
    ] {
        // Both spellings, each with the same value: still refused (never guess which one a
        // gateway keeps).
        let mut both = signed_then_renamed(&close, "", "");
        let value = close.iter().find(|(k, _)| k == from).unwrap().1.clone();
        both.push((to.to_owned(), value));
        for form in [false, true] {
            let a = send_as(&proxy, "/api/pay/close", &both, form).await;
            assert_eq!(a.body, conversion, "{from}/{to} form={form}");
        }
    }
    // In channelExtra too: `openid` and `openId` in one WX_JSAPI order.
    let mut fields = pay_fields("T1", "WX_JSAPI");
    fields.push(("channelExtra", r#"{"openid":"o-1","openId":"o-2"}"#));
    let a = post_json(proxy.addr, "/api/pay/unifiedOrder", &jeepay_body(&fields)).await;
    assert_eq!(a.body, conversion);
    assert!(legacy.received().is_empty());
    assert_eq!(sandbox.requests_seen(), 0, "nothing was sent to DaxPay");
}

#[tokio::test]
async fn an_identity_that_cannot_be_bound_is_answered_in_jeepays_words() {
    let (proxy, sandbox, legacy, _servers) = migrated().await;
    let close = |mch_no: &str, app_id: &str| {
        let mut fields = request(req_time(), &[("payOrderId", "L1")]);
        fields.retain(|(k, _)| k != "mchNo" && k != "appId");
        if mch_no != "-" {
            fields.push(("mchNo".to_owned(), mch_no.to_owned()));
        }
        if app_id != "-" {
            fields.push(("appId".to_owned(), app_id.to_owned()));
        }
        signed_then_renamed(&fields, "", "")
    };
    // Jeepay's own `@NotBlank` messages (code 9999), as its validation answers them.
    for (mch_no, app_id, words) in [
        ("-", JEEPAY_APP, "商户号不能为空"),
        ("", JEEPAY_APP, "商户号不能为空"),
        (" \t", JEEPAY_APP, "商户号不能为空"),
        (JEEPAY_MCH, "-", "商户应用ID不能为空"),
        (JEEPAY_MCH, " ", "商户应用ID不能为空"),
    ] {
        for form in [false, true] {
            let a = send_as(&proxy, "/api/pay/close", &close(mch_no, app_id), form).await;
            assert_eq!(a.body, error(9999, words), "{mch_no:?}/{app_id:?}");
        }
    }
    // A bracketed key is an object to Jeepay: unreadable.
    let mut fields = close(JEEPAY_MCH, JEEPAY_APP);
    fields.retain(|(k, _)| k != "mchNo");
    fields.push(("mch_no[x]".to_owned(), JEEPAY_MCH.to_owned()));
    let a = send_as(&proxy, "/api/pay/close", &fields, true).await;
    assert_eq!(a.body, error(11, "参数有误[转换异常]"));
    assert!(
        legacy.received().is_empty(),
        "a request without an identity was routed by default"
    );
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn control_characters_in_notify_and_return_urls_are_refused_before_daxpay() {
    let (proxy, sandbox, legacy, _servers) = migrated().await;
    let notify = "异步通知地址不能包含控制字符";
    let ret = "同步通知地址不能包含控制字符";
    for (i, bad) in [
        "https://shop.example/back\r\nSet-Cookie: x=1",
        "https://shop.example/back\n",
        "https://shop.example/back\r",
        "https://shop.example/\0back",
    ]
    .iter()
    .enumerate()
    {
        for (field, words) in [("notifyUrl", notify), ("returnUrl", ret)] {
            let no = format!("C{i}{field}");
            let mut fields = pay_fields(&no, "WX_NATIVE");
            fields.push((field, bad));
            let fields = request(req_time(), &fields);
            for form in [false, true] {
                let a = send_as(
                    &proxy,
                    "/api/pay/unifiedOrder",
                    &signed_then_renamed(&fields, "", ""),
                    form,
                )
                .await;
                assert_eq!(a.body, error(9999, words), "{field} {bad:?}");
            }
        }
        // A refund's notifyUrl too (refused before its order is even looked up).
        let fields = request(
            req_time(),
            &[
                ("payOrderId", "P1"),
                ("mchRefundNo", "RF1"),
                ("refundAmount", "1"),
                ("currency", "cny"),
                ("refundReason", "r"),
                ("notifyUrl", bad),
            ],
        );
        let a = send_as(
            &proxy,
            "/api/refund/refundOrder",
            &signed_then_renamed(&fields, "", ""),
            false,
        )
        .await;
        assert_eq!(a.body, error(9999, notify), "refund {bad:?}");
    }
    assert_eq!(sandbox.requests_seen(), 0, "nothing was sent to DaxPay");
    assert!(legacy.received().is_empty());
}
