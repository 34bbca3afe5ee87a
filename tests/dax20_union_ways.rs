//! Union Pay on a DaxPay 2.0.8 upstream through real sockets, for both of its sign types: the
//! way codes 2.0.8 can pay (UP_WAP, UP_PC as Jeepay's `form` with the HTML DaxPay gives, UP_QR as
//! `codeUrl`, UP_BAR and YSF_BAR as bar codes) routed by default with no `way_codes` of the
//! merchant's (lifecycle-2.0.md §3.5), each answer checked as the Jeepay SDK checks it; the
//! ones it cannot (UP_APP, UP_JSAPI, YSF_JSAPI) refused before anything is sent, even when a
//! merchant routes them; and a 3.0 upstream keeping its own table (no Union Pay).

mod common;

use std::net::SocketAddr;

use common::*;
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// paybridge before a sandbox of `version`, the merchant with `extra_merchant` (its
/// `way_codes`).
async fn world(
    version: &str,
    sign_type: &str,
    extra_merchant: &str,
) -> (Running, Running, Sandbox) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
    let proxy = start_proxy(&proxy_toml(sb.addr, version, sign_type, "", extra_merchant)).await;
    (proxy, sb, sandbox)
}

fn pay_fields<'a>(no: &'a str, way_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", no),
        ("wayCode", way_code),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

async fn pay(addr: SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/pay/unifiedOrder", &jeepay_body(fields))
        .await
        .json()
}

/// (wayCode, channelExtra, DaxPay method, payDataType, orderState)
const PAYABLE: [(&str, &str, &str, &str, i64); 5] = [
    ("UP_WAP", "", "wap", "form", 1),
    ("UP_PC", "", "web", "form", 1),
    ("UP_QR", "", "qrcode", "codeUrl", 1),
    (
        "UP_BAR",
        r#"{"authCode":"6212345678901234567"}"#,
        "barcode",
        "none",
        2,
    ),
    (
        "YSF_BAR",
        r#"{"authCode":"6212345678901234567"}"#,
        "barcode",
        "none",
        2,
    ),
];

#[tokio::test]
async fn union_ways_are_paid_on_2_0_by_default_in_jeepays_shapes() {
    for sign_type in SIGN_TYPES {
        let (proxy, _sb, sandbox) = world("2.0", sign_type, "").await;
        for (way, extra, method, data_type, state) in PAYABLE {
            let no = format!("U-{way}");
            let mut fields = pay_fields(&no, way);
            if !extra.is_empty() {
                fields.push(("channelExtra", extra));
            }
            let answer = pay(proxy.addr, &fields).await;
            assert_eq!(answer["code"], 0, "{sign_type} {way}: {answer}");
            assert!(
                sdk_accepts(&answer, JEEPAY_SECRET),
                "{sign_type} {way}: the SDK's signature check: {answer}"
            );
            let data = &answer["data"];
            assert_eq!(data["orderState"], state, "{sign_type} {way}: {answer}");
            assert_eq!(data["mchOrderNo"], no.as_str());
            assert_eq!(
                data["payDataType"], data_type,
                "{sign_type} {way}: {answer}"
            );
            let order_no = data["payOrderId"].as_str().unwrap();
            let pay_data = data["payData"].as_str().unwrap();
            match data_type {
                // The HTML DaxPay's `toPay` gives, as it is: it submits itself to UnionPay.
                "form" => {
                    assert!(pay_data.starts_with("<form"), "{way}: {pay_data}");
                    assert!(pay_data.contains("gateway.95516.com"), "{pay_data}");
                    assert!(pay_data.contains(order_no), "{pay_data}");
                }
                "codeUrl" => assert!(pay_data.starts_with("https://qr.95516.com/"), "{pay_data}"),
                _ => assert_eq!(pay_data, "", "{way}"),
            }
            let order = sandbox.order(order_no).expect("on DaxPay");
            assert_eq!(
                (
                    order.channel.as_str(),
                    order.method.as_str(),
                    order.amount.fen()
                ),
                ("union_pay", method, 1230),
                "{sign_type} {way}"
            );
        }
    }
}

#[tokio::test]
async fn union_ways_2_0_cannot_serve_are_refused_before_the_call_even_when_routed() {
    // A merchant routing them explicitly changes nothing: the answer could not be Jeepay's.
    let routes =
        "[merchants.way_codes]\nUP_JSAPI = \"union_pay/jsapi\"\nUP_APP = \"union_pay/app\"\n";
    for sign_type in SIGN_TYPES {
        for extra_merchant in ["", routes] {
            let (proxy, _sb, sandbox) = world("2.0", sign_type, extra_merchant).await;
            let before = sandbox.requests_seen();
            for way in ["UP_APP", "UP_JSAPI", "YSF_JSAPI"] {
                let no = format!("N-{way}");
                let answer = pay(proxy.addr, &pay_fields(&no, way)).await;
                assert_eq!(answer["code"], 9999, "{sign_type} {way}: {answer}");
                assert_eq!(answer["msg"], "商户应用不支持该支付方式", "{way}: {answer}");
            }
            assert_eq!(
                sandbox.requests_seen(),
                before,
                "{sign_type}: nothing reached DaxPay"
            );
        }
    }
}

#[tokio::test]
async fn a_3_0_upstream_keeps_its_table_without_union_pay() {
    let (proxy, _sb, sandbox) = world("3.0", "hmac_sha256", "").await;
    let before = sandbox.requests_seen();
    for (way, extra, ..) in PAYABLE {
        let mut fields = pay_fields("T1", way);
        if !extra.is_empty() {
            fields.push(("channelExtra", extra));
        }
        let answer = pay(proxy.addr, &fields).await;
        assert_eq!(answer["code"], 9999, "{way}: {answer}");
        assert_eq!(answer["msg"], "商户应用不支持该支付方式", "{way}: {answer}");
    }
    assert_eq!(sandbox.requests_seen(), before, "nothing reached DaxPay");
}
