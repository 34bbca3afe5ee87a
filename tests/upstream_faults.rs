//! Upstream faults: each answered with the right Jeepay-dialect error in bounded time, nothing
//! reported as success, and the proxy keeps serving afterwards.

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
use serde_json::json;

/// The first merchant translates to `fault` (DaxPay 3.0, md5); M2 to a healthy sandbox.
async fn stack_with(
    fault: SocketAddr,
    version: &str,
) -> (Running, Running, paybridge_sandbox::Sandbox) {
    let (sb_server, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "md5",
        &[("OK1", "MOK1", "progress"), ("OK2", "MOK2", "progress")],
    ))
    .await;
    let identity = match version {
        "3.0" => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\""),
        _ => String::new(),
    };
    let toml = format!(
        r#"
[upstreams.fault]
base_url = "http://{fault}"
version = "{version}"
sign_type = "md5"
secret = "{DAX_SECRET}"
timeout_ms = 1000
connect_timeout_ms = 500

[upstreams.healthy]
base_url = "http://{healthy}"
sign_type = "md5"
secret = "{DAX_SECRET}"

[[merchants]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[merchants.daxpay]
upstream = "fault"
{identity}

[[merchants]]
mch_no = "M2"
app_id = "app-of-m2"
secret = "secret-of-m2"
[merchants.daxpay]
upstream = "healthy"
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP}"
"#,
        healthy = sb_server.addr
    );
    (start_proxy(&toml).await, sb_server, sandbox)
}

fn m2_close(order: &str) -> serde_json::Value {
    signed(
        &[
            ("mchNo", "M2"),
            ("appId", "app-of-m2"),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time()),
            ("payOrderId", order),
        ],
        "secret-of-m2",
    )
}

/// Sends a close for the faulty merchant, checks the answer and the time it took, then checks
/// that the proxy still serves a healthy merchant.
async fn expect_fault(fault: SocketAddr, version: &str, expected: &str) {
    let (proxy, _sb, sandbox) = stack_with(fault, version).await;
    let started = Instant::now();
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("X1"), None)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body, expected);
    let a = post_json(proxy.addr, "/api/pay/close", &m2_close("OK1")).await;
    assert_eq!(a.body, jeepay_success("secret-of-m2"));
    assert_eq!(sandbox.order_status("OK1"), Some(OrderStatus::Close));
}

fn reply(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

/// A 3.0 envelope signed with md5 over its non-null fields (or with `key` instead of the secret).
fn signed_envelope(
    code: i64,
    msg: &str,
    res_time: Option<&str>,
    trace_id: Option<&str>,
    key: &str,
) -> String {
    let code_text = code.to_string();
    let mut fields: Vec<(&str, Cow<'_, str>)> = vec![
        ("code", Cow::Borrowed(&code_text)),
        ("msg", Cow::Borrowed(msg)),
    ];
    if let Some(t) = res_time {
        fields.push(("resTime", Cow::Borrowed(t)));
    }
    if let Some(t) = trace_id {
        fields.push(("traceId", Cow::Borrowed(t)));
    }
    let sign = Scheme::new(Version::V3_0, SignType::Md5).sign(&mut fields, key);
    json!({"code": code, "msg": msg, "data": null, "sign": sign, "resTime": res_time, "traceId": trace_id}).to_string()
}

fn unknown(reason: &str) -> String {
    error(10, &format!("系统异常[{reason}，结果未知，请稍后查询订单]"))
}

#[tokio::test]
async fn connection_refused() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    expect_fault(
        addr,
        "3.0",
        &error(10, "系统异常[上游连接失败，订单未处理]"),
    )
    .await;
}

#[tokio::test]
async fn upstream_never_answers() {
    let fake = start_fake(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        reply(200, "{}")
    })
    .await;
    expect_fault(fake.addr, "3.0", &unknown("上游应答超时")).await;
}

#[tokio::test]
async fn upstream_answers_html() {
    let fake = start_fake(|_| async { reply(200, "<html>502 Bad Gateway</html>") }).await;
    expect_fault(fake.addr, "3.0", &unknown("上游应答无法解析")).await;
}

#[tokio::test]
async fn upstream_answers_http_500() {
    let ok = signed_envelope(
        0,
        "success",
        Some("2025-08-26 12:00:01"),
        Some("t1"),
        DAX_SECRET,
    );
    let fake = start_fake(move |_| {
        let ok = ok.clone();
        async move { reply(500, ok) }
    })
    .await;
    expect_fault(fake.addr, "3.0", &unknown("上游HTTP状态500")).await;
}

#[tokio::test]
async fn unsigned_success_is_not_success() {
    let fake = start_fake(|_| async {
        reply(200, r#"{"code":0,"msg":"success","data":null,"sign":null,"resTime":"2025-08-26 12:00:01","traceId":"t"}"#)
    })
    .await;
    expect_fault(fake.addr, "3.0", &unknown("上游成功应答未签名")).await;
}

#[tokio::test]
async fn unsigned_success_is_not_success_on_2_0() {
    let fake = start_fake(|_| async {
        reply(200, r#"{"msg":"success","code":0,"data":{"code":0,"msg":"success","resTime":1719460800},"traceId":"t"}"#)
    })
    .await;
    expect_fault(fake.addr, "2.0", &unknown("上游成功应答未签名")).await;
}

#[tokio::test]
async fn badly_signed_success_is_not_success() {
    let forged = signed_envelope(
        0,
        "success",
        Some("2025-08-26 12:00:01"),
        Some("t1"),
        "wrong-secret",
    );
    let fake = start_fake(move |_| {
        let forged = forged.clone();
        async move { reply(200, forged) }
    })
    .await;
    expect_fault(fake.addr, "3.0", &unknown("上游应答验签失败")).await;
}

#[tokio::test]
async fn signed_business_errors_are_the_merchants() {
    let refusal = signed_envelope(20080, "通道关闭订单失败", None, None, DAX_SECRET);
    let fake = start_fake(move |_| {
        let refusal = refusal.clone();
        async move { reply(200, refusal) }
    })
    .await;
    expect_fault(fake.addr, "3.0", &error(9999, "通道关闭订单失败")).await;

    let in_progress = signed_envelope(20043, "订单正在关闭中", None, None, DAX_SECRET);
    let fake = start_fake(move |_| {
        let in_progress = in_progress.clone();
        async move { reply(200, in_progress) }
    })
    .await;
    expect_fault(
        fake.addr,
        "3.0",
        &error(9999, "当前订单正在关闭中，请稍后查询"),
    )
    .await;
}

#[tokio::test]
async fn operator_faults_are_system_errors() {
    // DaxPay rejecting our own signature is unsigned (pre-handler) and not the merchant's fault.
    let fake = start_fake(|_| async {
        reply(
            200,
            r#"{"msg":"签名校验失败","code":20052,"data":null,"traceId":"t"}"#,
        )
    })
    .await;
    expect_fault(
        fake.addr,
        "3.0",
        &error(10, "系统异常[上游拒绝请求，代码20052]"),
    )
    .await;
}
