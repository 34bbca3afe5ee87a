//! Attacks of issue 20, items 4, 5 and 7, through real sockets (the proxy, the DaxPay sandbox
//! counting what it receives, the `paybridge` binary):
//!
//! - notify URLs naming an internal address in a form that hid it (NAT64, IPv4-compatible,
//!   6to4, the benchmarking and reserved ranges, …): refused when the order is taken, and not
//!   posted to at delivery when the order was taken while they were allowed;
//! - values longer than DaxPay takes (a 101- or 60,000-character `mchOrderNo`, …): refused with
//!   9999 before anything is sent; DaxPay's own unsigned 10506 validation refusal passed on as
//!   9999 with its words, not as a system fault;
//! - `order_prefix` values that differ only by case: refused by `paybridge check`, at start-up
//!   and on reload.
//!
//! Each test fails if its attack works again.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Response;
use http_body_util::Full;
use serde_json::Value;

const INTERNAL: &str = "异步通知地址不能是内部网络地址";

fn pay_fields<'a>(no: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "b"),
    ];
    for (k, v) in extra {
        fields.retain(|(f, _)| f != k);
        fields.push((k, v));
    }
    fields
}

fn pay(no: &str, extra: &[(&str, &str)]) -> Value {
    jeepay_body(&pay_fields(no, extra))
}

/// The proxy on the sandbox, with a `public_url` (notify URLs can be relayed) and `notify`
/// added to its `[notify]` section.
fn toml_with(dax: SocketAddr, version: &str, notify: &str) -> String {
    proxy_toml(dax, version, "hmac_sha256", "", "").replace(
        "[server]\n",
        "[server]\npublic_url = \"http://127.0.0.1:1\"\n",
    ) + &format!("\n[notify]\n{notify}\n")
}

// ---------------------------------------------------------------------------------------------
// Item 4: internal addresses
// ---------------------------------------------------------------------------------------------

/// Every form of an internal address, each in a notify URL: the order is refused with 9999 and
/// DaxPay never hears of it; a refund's notify URL the same. The same forms are taken when
/// `[notify] allow_private_targets` says so, and a public address in the NAT64 form is taken.
#[tokio::test]
async fn every_form_of_an_internal_address_is_refused_when_the_order_is_taken() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&toml_with(sb.addr, "3.0", "")).await;
    let hosts = [
        // RFC 8215/6052 NAT64: 127.0.0.1, 10.0.0.1, 169.254.169.254 behind a translator.
        "[64:ff9b::7f00:1]",
        "[64:ff9b::127.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b:1::a00:1]",
        "[64:ff9b:1:ffff::192.168.0.1]",
        // IPv4-compatible (deprecated) and IPv4-mapped.
        "[::127.0.0.1]",
        "[::a9fe:a9fe]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        // 6to4: the IPv4 in bits 16..48.
        "[2002:7f00:1::]",
        "[2002:a9fe:a9fe::1]",
        "[2002:c0a8:101::1]",
        // Benchmarking and reserved, and the rest of the IPv4 special-purpose registry.
        "198.18.0.1",
        "198.19.255.254",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "10.0.0.1",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "192.0.0.1",
        "192.0.2.1",
        "192.168.1.1",
        "198.51.100.1",
        "203.0.113.1",
        "224.0.0.1",
        // IPv6's.
        "[::1]",
        "[::]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[fe80::1]",
        "[ff02::1]",
        "[2001:db8::1]",
        "[100::1]",
    ];
    for (i, host) in hosts.iter().enumerate() {
        let url = format!("http://{host}:8080/notify");
        let no = format!("A{i}");
        let answer = post_json(
            proxy.addr,
            "/api/pay/unifiedOrder",
            &pay(&no, &[("notifyUrl", &url)]),
        )
        .await;
        assert_eq!(answer.body, error(9999, INTERNAL), "{url}");
        let refund = jeepay_body(&[
            ("mchOrderNo", &no),
            ("mchRefundNo", &format!("R{i}")),
            ("refundAmount", "1"),
            ("currency", "cny"),
            ("refundReason", "r"),
            ("notifyUrl", &url),
        ]);
        let answer = post_json(proxy.addr, "/api/refund/refundOrder", &refund).await;
        assert_eq!(answer.body, error(9999, INTERNAL), "refund {url}");
    }
    assert_eq!(sandbox.requests_seen(), 0, "nothing reached DaxPay");

    // A public IPv4 behind NAT64 is a public address.
    let public = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay("PUB1", &[("notifyUrl", "http://[64:ff9b::808:808]/notify")]),
    )
    .await
    .json();
    assert_eq!(public["code"], 0, "{public}");

    // Allowed by the operator (merchants inside the network): taken.
    let allowed = start_proxy(&toml_with(sb.addr, "3.0", "allow_private_targets = true")).await;
    let answer = post_json(
        allowed.addr,
        "/api/pay/unifiedOrder",
        &pay("OK1", &[("notifyUrl", "http://[64:ff9b::7f00:1]/notify")]),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(sandbox.requests_seen(), 2);
}

/// An order taken while internal targets were allowed, the configuration then reloaded without
/// them: its NAT64 notify URL (127.0.0.1 behind a translator) is not posted to when it is paid,
/// and the job says why.
#[tokio::test]
async fn an_internal_address_is_judged_again_when_the_notification_is_delivered() {
    let (sb, sandbox) = start_sandbox(
        &sandbox_toml("3.0", "hmac_sha256", &[])
            .replace("[sandbox]\n", "[sandbox]\ncallback_retry_ms = [50]\n"),
    )
    .await;
    let port = free_port();
    let toml = |allow: bool| {
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "").replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\""),
        ) + &format!(
            "\n[notify]\nretry_step_ms = 50\nmax_attempts = 2\nallow_private_targets = {allow}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
        )
    };
    let (proxy, admin, file) = app_with_reloader(&toml(true)).await;
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay("D1", &[("notifyUrl", "http://[64:ff9b::7f00:1]:9/notify")]),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap().to_owned();

    std::fs::write(file.path(), toml(false)).unwrap();
    let reloaded = send(admin, "POST", "/admin/reload", None, "", &AUTH).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    sandbox.pay_order(&order_no).unwrap();

    let job = failed_notification(admin).await;
    assert_eq!(job["orderId"].as_str(), Some(order_no.as_str()), "{job}");
    let why = job["lastError"].as_str().unwrap_or_default();
    assert!(why.contains("internal address"), "{job}");
    // Refused at the first attempt, not dialled and retried.
    assert_eq!(job["attempts"].as_i64(), Some(1), "{job}");
}

// ---------------------------------------------------------------------------------------------
// Item 5: DaxPay's limits
// ---------------------------------------------------------------------------------------------

/// The issue's case: a 101-character `mchOrderNo`, and a 60,000-character one, are refused
/// with 9999 in Jeepay's words and nothing reaches DaxPay; 100 characters go through.
#[tokio::test]
async fn a_mch_order_no_longer_than_daxpay_takes_is_refused_and_nothing_is_sent() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&toml_with(sb.addr, "3.0", "")).await;
    for length in [101, 60_000] {
        let no = "N".repeat(length);
        let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay(&no, &[])).await;
        assert_eq!(
            answer.body,
            error(9999, "商户订单号不能超过100个字符"),
            "{length}"
        );
    }
    // Counted as Java counts: a character outside the BMP is two.
    let astral = format!("{}😀", "N".repeat(99));
    let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay(&astral, &[])).await;
    assert_eq!(answer.body, error(9999, "商户订单号不能超过100个字符"));
    assert_eq!(sandbox.requests_seen(), 0);

    let at_the_limit = "N".repeat(100);
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay(&at_the_limit, &[]),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(sandbox.requests_seen(), 1);
}

/// Every limited field of every operation, each over DaxPay's limit by one: 9999 with the
/// field's Jeepay name and the limit; DaxPay hears nothing.
#[tokio::test]
async fn every_limited_field_of_every_operation_is_checked_before_the_call() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&toml_with(sb.addr, "3.0", "")).await;
    let over = |n: usize| "x".repeat(n + 1);
    let (s101, s129, s501) = (over(100), over(128), over(500));
    let extra_2049 = format!("{{\"buyerUserId\":\"{}\"}}", "2".repeat(2040));
    let open_id_129 = format!("{{\"openid\":\"{s129}\"}}");
    let bar_129 = format!("{{\"authCode\":\"{}\"}}", "1".repeat(129));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/pay/unifiedOrder",
            pay("L1", &[("subject", &s101)]),
            "商品标题不能超过100个字符",
        ),
        (
            "/api/pay/unifiedOrder",
            pay("L2", &[("body", &s501)]),
            "商品描述信息不能超过500个字符",
        ),
        (
            "/api/pay/unifiedOrder",
            pay("L3", &[("extParam", &s501)]),
            "商户扩展参数不能超过500个字符",
        ),
        (
            "/api/pay/unifiedOrder",
            pay(
                "L4",
                &[("wayCode", "WX_JSAPI"), ("channelExtra", &open_id_129)],
            ),
            "openid不能超过128个字符",
        ),
        (
            "/api/pay/unifiedOrder",
            pay("L5", &[("wayCode", "WX_BAR"), ("channelExtra", &bar_129)]),
            "支付条码不能超过128个字符",
        ),
        (
            "/api/pay/unifiedOrder",
            pay(
                "L6",
                &[("wayCode", "ALI_JSAPI"), ("channelExtra", &extra_2049)],
            ),
            "特定渠道发起额外参数不能超过2048个字符",
        ),
        (
            "/api/pay/close",
            close_body(None, Some(&s101)),
            "商户订单号不能超过100个字符",
        ),
        (
            "/api/pay/close",
            close_body(Some(&s101), None),
            "支付系统订单号不能超过100个字符",
        ),
        (
            "/api/pay/query",
            jeepay_body(&[("mchOrderNo", &s101)]),
            "商户订单号不能超过100个字符",
        ),
        (
            "/api/pay/query",
            jeepay_body(&[("payOrderId", &s101)]),
            "支付系统订单号不能超过100个字符",
        ),
        (
            "/api/refund/refundOrder",
            refund_body("P1", &s101, "r"),
            "商户退款单号不能超过100个字符",
        ),
        (
            "/api/refund/refundOrder",
            refund_body(&s101, "R1", "r"),
            "支付系统订单号不能超过100个字符",
        ),
        (
            "/api/refund/query",
            jeepay_body(&[("mchRefundNo", &s101)]),
            "商户退款单号不能超过100个字符",
        ),
        (
            "/api/refund/query",
            jeepay_body(&[("refundOrderId", &s101)]),
            "支付系统退款订单号不能超过100个字符",
        ),
    ];
    for (path, body, words) in cases {
        let answer = post_json(proxy.addr, path, &body).await;
        assert_eq!(answer.body, error(9999, words), "{path}: {words}");
    }
    assert_eq!(sandbox.requests_seen(), 0);
}

/// Per version: 3.0-beta takes a DaxPay order number of at most 32 characters (3.0: 100).
#[tokio::test]
async fn limits_follow_the_upstreams_version() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0-beta", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&toml_with(sb.addr, "3.0-beta", "")).await;
    let answer = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_body(Some(&"P".repeat(33)), None),
    )
    .await;
    assert_eq!(answer.body, error(9999, "支付系统订单号不能超过32个字符"));
    assert_eq!(sandbox.requests_seen(), 0);
    // 32 is sent (and not found).
    let answer = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_body(Some(&"P".repeat(32)), None),
    )
    .await;
    assert_eq!(answer.body, error(9999, "订单不存在"));
    assert_eq!(sandbox.requests_seen(), 1);
}

/// On a shared DaxPay identity the prefix is part of DaxPay's number: the merchant is told its
/// own allowance (100 less the prefix).
#[tokio::test]
async fn a_shared_identitys_prefix_counts_against_the_limit() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let toml = toml_with(sb.addr, "3.0", "").replacen(
        "[merchants.daxpay]\nupstream = \"dax\"\n",
        "[merchants.daxpay]\nupstream = \"dax\"\nshared = true\norder_prefix = \"shop-\"\n",
        1,
    );
    let proxy = start_proxy(&toml).await;
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay(&"N".repeat(96), &[]),
    )
    .await;
    assert_eq!(answer.body, error(9999, "商户订单号不能超过95个字符"));
    assert_eq!(sandbox.requests_seen(), 0);
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay(&"N".repeat(95), &[]),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
}

/// DaxPay's unsigned validation refusal (a limit paybridge does not know of): 9999 with
/// DaxPay's own words, not `10 系统异常[上游拒绝请求，代码10506]`; the order number stays
/// free. Its `reqTime` window stays the operator's fault (code 10).
#[tokio::test]
async fn daxpays_validation_refusal_is_the_merchants_error_in_daxpays_words() {
    let validation = start_fake(|_body: Bytes| async {
        Response::new(Full::new(Bytes::from(
            r#"{"code":10506,"msg":"验证参数错误\r\n支付描述不可超过100位\r\n","data":null,"traceId":"t1"}"#,
        )))
    })
    .await;
    let proxy = start_proxy(&toml_with(validation.addr, "3.0", "")).await;
    for _ in 0..2 {
        let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay("V1", &[])).await;
        assert_eq!(answer.body, error(9999, "支付描述不可超过100位"));
    }
    let clock = start_fake(|_body: Bytes| async {
        Response::new(Full::new(Bytes::from(
            r#"{"code":10506,"msg":"验证参数错误\n请求已过期，请重新发送！\n","data":null,"traceId":"t2"}"#,
        )))
    })
    .await;
    let proxy = start_proxy(&toml_with(clock.addr, "3.0", "")).await;
    let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay("V2", &[])).await;
    assert_eq!(answer.body, error(10, "系统异常[上游拒绝请求，代码10506]"));
}

// ---------------------------------------------------------------------------------------------
// Item 7: order_prefix distinct ignoring case
// ---------------------------------------------------------------------------------------------

/// Two merchants on one DaxPay app with prefixes `shop-` and `SHOP-`: DaxPay's MySQL finds
/// `SHOP-1` when asked for `shop-1`.
fn case_twins(dax: SocketAddr) -> String {
    let toml = proxy_toml(dax, "3.0", "hmac_sha256", "", "");
    let toml = toml.replacen(
        "[merchants.daxpay]\nupstream = \"dax\"\n",
        "[merchants.daxpay]\nupstream = \"dax\"\nshared = true\norder_prefix = \"shop-\"\n",
        1,
    );
    // M2 on the same DaxPay app as the first merchant.
    toml.replace(
        &format!("app_id = \"{DAX_APP_M2}\""),
        &format!("app_id = \"{DAX_APP}\"\nshared = true\norder_prefix = \"SHOP-\""),
    )
}

fn paybridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paybridge"))
}

const CASE_ERROR: &str = "merchants[1].daxpay.order_prefix: ";

#[test]
fn check_refuses_prefixes_that_differ_only_by_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    let dax: SocketAddr = "127.0.0.1:9".parse().unwrap();
    std::fs::write(&path, case_twins(dax)).unwrap();
    let out = paybridge()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(CASE_ERROR) && err.contains("ignoring case"),
        "{err}"
    );
    // Distinct ignoring case: accepted.
    std::fs::write(&path, case_twins(dax).replace("SHOP-", "SHOQ-")).unwrap();
    let out = paybridge()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn serve_does_not_start_with_prefixes_that_differ_only_by_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(&path, case_twins("127.0.0.1:9".parse().unwrap())).unwrap();
    let mut child = paybridge()
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A guard, not a timing: a valid configuration would serve until killed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("paybridge serve started with prefixes differing only by case");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains(CASE_ERROR), "{err}");
}

#[tokio::test]
async fn reload_refuses_prefixes_that_differ_only_by_case_and_keeps_serving() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let good = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n");
    let (proxy, admin, file) = app_with_reloader(&good).await;
    std::fs::write(
        file.path(),
        case_twins(sb.addr)
            + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"),
    )
    .unwrap();
    let refused = send(admin, "POST", "/admin/reload", None, "", &AUTH).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("order_prefix"), "{}", refused.body);
    // The previous configuration keeps serving: the first merchant is not prefixed.
    let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay("K1", &[]))
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap();
    assert_eq!(
        sandbox.order(order_no).unwrap().biz_order_no,
        "K1",
        "served by the old configuration"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "operator-token-0123456789abcdef";
const AUTH: [(&str, &str); 1] = [("authorization", "Bearer operator-token-0123456789abcdef")];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn refund_body(pay_order_id: &str, mch_refund_no: &str, reason: &str) -> Value {
    jeepay_body(&[
        ("payOrderId", pay_order_id),
        ("mchRefundNo", mch_refund_no),
        ("refundAmount", "1"),
        ("currency", "cny"),
        ("refundReason", reason),
    ])
}

/// paybridge as `serve` runs it, its configuration in a file a reload reads again; the proxy,
/// the admin listener and the file.
async fn app_with_reloader(toml: &str) -> (Running, SocketAddr, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    let config = Arc::new(paybridge::config::Config::load(file.path()).unwrap());
    let bound = paybridge::app::bind(&config).await.unwrap();
    let (addr, admin) = (bound.proxy_addr().unwrap(), bound.admin_addr().unwrap());
    let gateway = paybridge::proxy::Gateway::new(config);
    let reloader = paybridge::reload::Reloader::new(file.path().to_owned(), gateway.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::app::run(
        gateway,
        bound,
        Some(reloader),
        async move {
            let _ = rx.await;
        },
    ));
    (Running::new(addr, tx), admin, file)
}

/// The first failed notification the admin endpoint lists (waiting up to 5 s for one).
async fn failed_notification(admin: SocketAddr) -> Value {
    for _ in 0..250 {
        let listed = send(
            admin,
            "GET",
            "/admin/notifications?status=failed",
            None,
            "",
            &AUTH,
        )
        .await
        .json();
        if let Some(job) = listed["notifications"].as_array().and_then(|a| a.first()) {
            return job.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no failed notification within 5 s");
}
