//! Every bad request gets its exact Jeepay-dialect answer, and nothing reaches DaxPay.

mod common;

use common::*;
use serde_json::{json, Value};

async fn stack() -> (Running, Running, paybridge_sandbox::Sandbox) {
    let (sandbox_server, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("DAX1", "MO1", "progress")],
    ))
    .await;
    let proxy = start_proxy(&proxy_toml(
        sandbox_server.addr,
        "3.0",
        "hmac_sha256",
        "",
        "",
    ))
    .await;
    (proxy, sandbox_server, sandbox)
}

fn base() -> [(&'static str, &'static str); 6] {
    [
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time()),
        ("payOrderId", "DAX1"),
    ]
}

fn without(field: &str) -> Value {
    let fields: Vec<(&str, &str)> = base()
        .iter()
        .copied()
        .filter(|(k, _)| *k != field)
        .collect();
    signed(&fields, JEEPAY_SECRET)
}

fn with(field: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut fields: Vec<(&str, &str)> = base()
        .iter()
        .copied()
        .filter(|(k, _)| *k != field)
        .collect();
    fields.push((field, value));
    fields
}

#[tokio::test]
async fn unreadable_bodies_answer_code_11() {
    let (proxy, _sb, sandbox) = stack().await;
    let conversion = error(11, "参数有误[转换异常]");
    for body in [
        "{\"mchNo\":",
        "[1,2]",
        "\"text\"",
        "42",
        "",
        "{\"mchNo\":{\"nested\":1}}",
        "{} trailing",
    ] {
        let a = send(
            proxy.addr,
            "POST",
            "/api/pay/close",
            Some("application/json"),
            body,
            &[],
        )
        .await;
        assert_eq!(
            (a.status.as_u16(), a.body.as_str()),
            (200, conversion.as_str()),
            "body {body:?}"
        );
    }
    // A signed parameter given twice in a form is ambiguous.
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close?mchNo=A",
        Some("application/x-www-form-urlencoded"),
        "mchNo=B",
        &[],
    )
    .await;
    assert_eq!(a.body, conversion);
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn each_required_field_has_jeepays_message() {
    let (proxy, _sb, sandbox) = stack().await;
    let cases = [
        ("version", "版本号不能为空"),
        ("signType", "签名类型不能为空"),
        ("reqTime", "时间戳不能为空"),
        ("mchNo", "商户号不能为空"),
        ("appId", "商户应用ID不能为空"),
    ];
    for (field, msg) in cases {
        let a = post_json(proxy.addr, "/api/pay/close", &without(field)).await;
        assert_eq!(a.body, error(9999, msg), "missing {field}");
        // Blank counts as missing (@NotBlank).
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &signed(&with(field, "  "), JEEPAY_SECRET),
        )
        .await;
        assert_eq!(a.body, error(9999, msg), "blank {field}");
    }
    let mut no_sign = signed(&base(), JEEPAY_SECRET);
    no_sign.as_object_mut().unwrap().remove("sign");
    let a = post_json(proxy.addr, "/api/pay/close", &no_sign).await;
    assert_eq!(a.body, error(9999, "签名值不能为空"));
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn both_order_ids_empty() {
    let (proxy, _sb, _sandbox) = stack().await;
    let expected = error(9999, "mchOrderNo 和 payOrderId 不能同时为空");
    let a = post_json(proxy.addr, "/api/pay/close", &without("payOrderId")).await;
    assert_eq!(a.body, expected);
    let mut fields = with("payOrderId", "");
    fields.push(("mchOrderNo", ""));
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&fields, JEEPAY_SECRET),
    )
    .await;
    assert_eq!(a.body, expected);
}

#[tokio::test]
async fn signatures_are_checked_like_jeepay() {
    let (proxy, _sb, sandbox) = stack().await;
    let bad = error(9999, "验签失败");

    let mut body = signed(&base(), JEEPAY_SECRET);
    body["sign"] = json!("0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(
        post_json(proxy.addr, "/api/pay/close", &body).await.body,
        bad
    );

    // Signed with another merchant's key.
    let body = signed(&base(), "secret-of-m2");
    assert_eq!(
        post_json(proxy.addr, "/api/pay/close", &body).await.body,
        bad
    );

    // A field changed after signing.
    let mut body = signed(&base(), JEEPAY_SECRET);
    body["payOrderId"] = json!("DAX2");
    assert_eq!(
        post_json(proxy.addr, "/api/pay/close", &body).await.body,
        bad
    );

    // An undeclared field that the client signed: Jeepay leaves it out, so the sign differs.
    let mut fields = base().to_vec();
    fields.push(("extra", "x"));
    let body = signed(&fields, JEEPAY_SECRET);
    assert_eq!(
        post_json(proxy.addr, "/api/pay/close", &body).await.body,
        bad
    );
    assert_eq!(sandbox.requests_seen(), 0);

    // An undeclared field that was not signed is ignored, and a lower-case signature is accepted.
    let mut body = signed(&base(), JEEPAY_SECRET);
    body["extra"] = json!("ignored");
    body["sign"] = json!(body["sign"].as_str().unwrap().to_ascii_lowercase());
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
}

#[tokio::test]
async fn merchants_are_looked_up_like_jeepay() {
    let (proxy, _sb, sandbox) = stack().await;
    let unknown = error(9999, "商户或商户应用不存在");
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&with("mchNo", "M-unknown"), JEEPAY_SECRET),
    )
    .await;
    assert_eq!(a.body, unknown);
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&with("appId", "app-unknown"), JEEPAY_SECRET),
    )
    .await;
    assert_eq!(a.body, unknown);
    // M2's app, presented as the first merchant's.
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&with("appId", "app-of-m2"), "secret-of-m2"),
    )
    .await;
    assert_eq!(a.body, error(9999, "参数appId与商户号不匹配"));
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn only_md5_is_supported() {
    let (proxy, _sb, _sandbox) = stack().await;
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&with("signType", "SHA256"), JEEPAY_SECRET),
    )
    .await;
    assert_eq!(a.body, error(9999, "不支持的签名类型[SHA256]，仅支持MD5"));
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &signed(&with("signType", "md5"), JEEPAY_SECRET),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_reading_them_all() {
    let (proxy, _sb, sandbox) = stack().await;
    let mut body = signed(&base(), JEEPAY_SECRET);
    body["padding"] = json!("x".repeat(70 * 1024));
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(a.body, error(11, "参数有误[请求体超过65536字节]"));
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let (proxy, _sb, _sandbox) = stack().await;
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/nope",
        Some("application/json"),
        "{}",
        &[],
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body, error(9999, "请求路径不存在[/api/pay/nope]"));
    let a = send(proxy.addr, "OPTIONS", "/api/pay/close", None, "", &[]).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.body, error(9999, "请求方法不支持[OPTIONS]"));
}
