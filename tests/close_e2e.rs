//! End to end through real sockets: client → paybridge → DaxPay sandbox, for every DaxPay
//! version and sign type.

mod common;

use common::*;
use paybridge_sandbox::OrderStatus;
use serde_json::json;

const ORDERS: &[(&str, &str, &str)] = &[
    ("DAX1", "MO1", "progress"),
    ("DAX2", "MO2", "progress"),
    ("DAX3", "MO3", "progress"),
    ("DAX4", "MO4", "progress"),
    ("DAX5", "MO5", "success"),
];

async fn stack(
    version: &str,
    sign_type: &str,
    extra_merchant: &str,
) -> (Running, Running, paybridge_sandbox::Sandbox) {
    let (sandbox_server, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, ORDERS)).await;
    let proxy = start_proxy(&proxy_toml(
        sandbox_server.addr,
        version,
        sign_type,
        "",
        extra_merchant,
    ))
    .await;
    (proxy, sandbox_server, sandbox)
}

#[tokio::test]
async fn close_and_cancel_for_every_version_and_sign_type() {
    let combos = [
        ("3.0", "hmac_sha256"),
        ("3.0", "md5"),
        ("3.0", "sm3"),
        ("3.0-beta", "hmac_sha256"),
        ("3.0-beta", "md5"),
        ("3.0-beta", "sm3"),
        ("2.0", "hmac_sha256"),
        ("2.0", "md5"),
    ];
    for (version, sign_type) in combos {
        // The merchant accepts /api/pay/cancel (allow_cancel), tested below.
        let (proxy, _sb, sandbox) = stack(version, sign_type, "allow_cancel = true").await;
        let ctx = format!("DaxPay {version} {sign_type}");

        // By payOrderId.
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("DAX1"), None),
        )
        .await;
        assert_eq!(a.status, 200, "{ctx}");
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "{ctx}");
        assert!(sdk_accepts(&a.json(), JEEPAY_SECRET), "{ctx}");
        assert_eq!(
            sandbox.order_status("DAX1"),
            Some(OrderStatus::Close),
            "{ctx}"
        );

        // By mchOrderNo.
        let a = post_json(proxy.addr, "/api/pay/close", &close_body(None, Some("MO2"))).await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "{ctx}");
        assert_eq!(
            sandbox.order_status("DAX2"),
            Some(OrderStatus::Close),
            "{ctx}"
        );

        // Both: the gateway number wins, as in Jeepay and DaxPay.
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("DAX3"), Some("MO4")),
        )
        .await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "{ctx}");
        assert_eq!(
            sandbox.order_status("DAX3"),
            Some(OrderStatus::Close),
            "{ctx}"
        );
        assert_eq!(
            sandbox.order_status("DAX4"),
            Some(OrderStatus::Progress),
            "{ctx}"
        );

        // Cancel.
        let a = post_json(
            proxy.addr,
            "/api/pay/cancel",
            &close_body(Some("DAX4"), None),
        )
        .await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "{ctx}");
        assert_eq!(
            sandbox.order_status("DAX4"),
            Some(OrderStatus::Cancel),
            "{ctx}"
        );

        // A second close of the same order, and a close of a paid order.
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("DAX1"), None),
        )
        .await;
        assert_eq!(a.body, error(9999, "当前订单不可关闭"), "{ctx}");
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("DAX5"), None),
        )
        .await;
        assert_eq!(a.body, error(9999, "当前订单不可关闭"), "{ctx}");
        assert_eq!(
            sandbox.order_status("DAX5"),
            Some(OrderStatus::Success),
            "{ctx}"
        );

        // An order DaxPay does not know.
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("NOPE"), None),
        )
        .await;
        assert_eq!(a.body, error(9999, "订单不存在"), "{ctx}");
    }
}

#[tokio::test]
async fn wait_orders_close_on_3_0() {
    let (sandbox_server, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("W1", "MW1", "wait")],
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
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("W1"), None)).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("W1"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn merchant_can_make_close_a_cancel() {
    let (proxy, _sb, sandbox) = stack("3.0", "hmac_sha256", "close_uses_cancel = true").await;
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_body(Some("DAX1"), None),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("DAX1"), Some(OrderStatus::Cancel));
}

#[tokio::test]
async fn success_code_and_message_are_configurable() {
    let (proxy, _sb, _sandbox) = stack(
        "3.0",
        "hmac_sha256",
        "success_code = 200\nsuccess_msg = \"成功\"",
    )
    .await;
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_body(Some("DAX1"), None),
    )
    .await;
    let sign = jeepay_sign(&[], JEEPAY_SECRET);
    assert_eq!(
        a.body,
        format!(r#"{{"code":200,"data":{{}},"msg":"成功","sign":"{sign}"}}"#)
    );
}

#[tokio::test]
async fn form_and_query_requests_are_read_like_jeepay() {
    let (proxy, _sb, sandbox) = stack("3.0", "hmac_sha256", "").await;
    let body = close_body(Some("DAX1"), None);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
        )
        .finish();
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/x-www-form-urlencoded"),
        form,
        &[],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("DAX1"), Some(OrderStatus::Close));

    let body = close_body(Some("DAX2"), None);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
        )
        .finish();
    let a = send(
        proxy.addr,
        "GET",
        &format!("/api/pay/close?{query}"),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("DAX2"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn numeric_req_time_is_signed_as_its_text() {
    let (proxy, _sb, sandbox) = stack("3.0", "hmac_sha256", "").await;
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        .to_string();
    let fields = [
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", micros.as_str()),
        ("payOrderId", "DAX1"),
    ];
    let mut body = signed(&fields, JEEPAY_SECRET);
    body["reqTime"] = json!(micros.parse::<u64>().unwrap());
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("DAX1"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let (proxy, _sb, _sandbox) = stack("3.0", "hmac_sha256", "").await;
    let body = close_body(Some("DAX1"), None).to_string();
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        body,
        &[("x-request-id", "merchant-abc-1")],
    )
    .await;
    assert_eq!(a.headers["x-request-id"], "merchant-abc-1");
    let a = send(proxy.addr, "POST", "/nowhere", None, "", &[]).await;
    let id = a
        .headers
        .get("x-request-id")
        .expect("a generated id")
        .to_str()
        .unwrap();
    assert_eq!(id.len(), 16);
    assert_eq!(a.headers["content-type"], "application/json;charset=UTF-8");
}
