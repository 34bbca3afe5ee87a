//! The notification relay end to end, through real sockets: DaxPay (the sandbox) calls paybridge
//! back, paybridge re-reads the order and notifies a merchant endpoint that checks every
//! notification the way Jeepay's merchant demo does (all parameters but `sign`, MD5, compared
//! ignoring case), once per order and state, durably, with retries; the return redirect.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::merchant::{Merchant, Received};
use common::*;
use serde_json::Value;
use tokio::net::TcpListener;

/// The sandbox (short callback retries) and paybridge, whose `public_url` is its own address;
/// notifications retried every 50 ms.
async fn world(extra_notify: &str) -> (Running, paybridge_sandbox::Sandbox, SocketAddr) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[]).replace(
        "[sandbox]\n",
        "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
    ))
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "").replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"http://{addr}\"\n"),
    ) + &format!("\n[notify]\nretry_step_ms = 50\n{extra_notify}\n");
    // The merchant endpoints of these tests are on loopback.
    let toml = if extra_notify.contains("allow_private_targets") {
        toml
    } else {
        toml + "allow_private_targets = true\n"
    };
    serve_on(listener, &toml);
    (sb, sandbox, addr)
}

fn serve_on(listener: TcpListener, toml: &str) {
    let config = Arc::new(paybridge::config::Config::from_toml(toml).expect("valid configuration"));
    let gateway = paybridge::proxy::Gateway::new(config.clone());
    gateway.start_notifier();
    let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        std::future::pending::<()>(),
        Duration::from_secs(1),
    ));
}

fn pay_body(no: &str, notify: &str, back: Option<&str>) -> Value {
    let mut fields = vec![
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品 A&B=C"),
        ("body", "b"),
        ("notifyUrl", notify),
        ("extParam", "x=1&y=2"),
    ];
    if let Some(back) = back {
        fields.push(("returnUrl", back));
    }
    jeepay_body(&fields)
}

async fn created(proxy: SocketAddr, body: &Value) -> String {
    let answer = post_json(proxy, "/api/pay/unifiedOrder", body).await.json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["payOrderId"].as_str().unwrap().to_owned()
}

/// Waits up to 5 s for `check` to hold.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test]
async fn a_paid_order_is_notified_once_signed_with_the_merchants_query() {
    let merchant = Merchant::start(&["success"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let url = format!("http://{}/notify/pay?shop=7&state=x", merchant.addr);
    let order_no = created(proxy, &pay_body("N1", &url, None)).await;
    // DaxPay was given paybridge's URL, never the merchant's.
    let given = sandbox.order(&order_no).unwrap().notify_url.unwrap();
    assert!(
        given.starts_with(&format!("http://{proxy}/daxpay/notify/")),
        "{given}"
    );
    assert!(!given.contains(&merchant.addr.to_string()));
    assert!(merchant.received().is_empty(), "nothing before it is paid");

    sandbox.pay_order(&order_no).unwrap();
    eventually("one notification", || merchant.received().len() == 1).await;
    // DaxPay calls again, twice: still one delivery.
    assert!(sandbox.send_callback_again(&order_no));
    assert!(sandbox.send_callback_again(&order_no));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let received = merchant.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let n = &received[0];
    assert_eq!(n.path, "/notify/pay", "posted to the query-less URL");
    assert!(n.verified, "{n:?}");
    let p = &n.params;
    assert_eq!(p["shop"], "7", "the merchant's own parameter");
    assert_eq!(p["state"], "2", "the notification's value wins a clash");
    assert_eq!(p["payOrderId"], order_no);
    assert_eq!(p["mchOrderNo"], "N1");
    assert_eq!(p["amount"], "1230");
    assert_eq!(p["wayCode"], "WX_NATIVE");
    assert_eq!(p["subject"], "商品 A&B=C", "a value with & arrives whole");
    assert_eq!(p["extParam"], "x=1&y=2");
    assert!(p["reqTime"].parse::<i64>().unwrap() > 1_700_000_000_000);
    let acked: Vec<_> = sandbox
        .callbacks()
        .into_iter()
        .filter(|c| c.acknowledged)
        .collect();
    assert_eq!(acked.len(), 3, "every callback acknowledged");
}

#[tokio::test]
async fn refunds_are_notified_on_success_and_on_a_failure_at_once() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let url = format!("http://{}/refunds", merchant.addr);
    let order_no = created(
        proxy,
        &pay_body("R1", &format!("http://{}/pay", merchant.addr), None),
    )
    .await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("the payment's notification", || {
        merchant.received().len() == 1
    })
    .await;
    for (no, reason) in [("RF-OK", "r"), ("RF-FAIL", "SANDBOX_REFUND_FAIL")] {
        let body = jeepay_body(&[
            ("mchOrderNo", "R1"),
            ("mchRefundNo", no),
            ("refundAmount", "100"),
            ("currency", "cny"),
            ("refundReason", reason),
            ("notifyUrl", &url),
        ]);
        let answer = post_json(proxy, "/api/refund/refundOrder", &body)
            .await
            .json();
        assert_eq!(answer["code"], 0, "{answer}");
    }
    eventually("two refund notifications", || {
        merchant
            .received()
            .iter()
            .filter(|r| r.path == "/refunds")
            .count()
            == 2
    })
    .await;
    let refunds: Vec<Received> = merchant
        .received()
        .into_iter()
        .filter(|r| r.path == "/refunds")
        .collect();
    let by_no = |no: &str| {
        refunds
            .iter()
            .find(|r| r.params["mchRefundNo"] == no)
            .unwrap()
            .clone()
    };
    let ok = by_no("RF-OK");
    assert!(ok.verified);
    assert_eq!(
        (
            ok.params["state"].as_str(),
            ok.params["refundAmount"].as_str(),
            ok.params["payAmount"].as_str()
        ),
        ("2", "100", "1230")
    );
    let failed = by_no("RF-FAIL");
    assert!(failed.verified);
    assert_eq!(failed.params["state"], "3");
}

#[tokio::test]
async fn a_forged_callback_is_refused_and_nothing_is_sent() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let order_no = created(
        proxy,
        &pay_body("F1", &format!("http://{}/n", merchant.addr), None),
    )
    .await;
    let callback_url = sandbox.order(&order_no).unwrap().notify_url.unwrap();
    let path = callback_url.trim_start_matches(&format!("http://{proxy}"));
    let forged = serde_json::json!({
        "mchNo": DAX_MCH, "appId": DAX_APP, "code": 0, "msg": "success",
        "data": {"bizOrderNo": "F1", "orderNo": order_no, "status": "success", "amount": 12.3},
        "resTime": "2026-12-01 12:00:00", "traceId": "T", "sign": "0".repeat(64),
    });
    let answer = post_json(proxy, path, &forged).await;
    assert_eq!(
        (answer.status.as_u16(), answer.body.as_str()),
        (400, "FAIL")
    );
    let unknown = post_json(
        proxy,
        "/daxpay/notify/00000000000000000000000000000000",
        &forged,
    )
    .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.body.as_str()),
        (404, "FAIL")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(merchant.received().is_empty());
}

#[tokio::test]
async fn a_merchant_that_is_down_gets_retries_until_it_acknowledges() {
    // `SUCCESS\n` is not an acknowledgement (Jeepay compares the whole body).
    let merchant = Merchant::start(&["fail", "SUCCESS\n", "Success"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let order_no = created(
        proxy,
        &pay_body("D1", &format!("http://{}/n", merchant.addr), None),
    )
    .await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("three attempts", || merchant.received().len() == 3).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        merchant.received().len(),
        3,
        "acknowledged at the third: no more"
    );
    let bodies: Vec<_> = merchant.received().into_iter().map(|r| r.params).collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "the same signed notification every time"
    );
}

#[tokio::test]
async fn the_payer_comes_back_through_paybridge_with_signed_parameters() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let back = "https://shop.example/paid?cart=9";
    let order_no = created(
        proxy,
        &pay_body("B1", &format!("http://{}/n", merchant.addr), Some(back)),
    )
    .await;
    let given = sandbox.order(&order_no).unwrap().return_url.unwrap();
    assert!(
        given.starts_with(&format!("http://{proxy}/jeepay/return/")) && !given.contains('?'),
        "{given}"
    );
    sandbox.pay_order(&order_no).unwrap();
    let path = given.trim_start_matches(&format!("http://{proxy}"));
    let answer = send(proxy, "GET", path, None, "", &[]).await;
    assert_eq!(answer.status.as_u16(), 302, "{}", answer.body);
    let location = answer.headers["location"].to_str().unwrap();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, "https://shop.example/paid");
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(params["cart"], "9");
    assert_eq!(params["state"], "2");
    assert_eq!(params["payOrderId"], order_no);
    let fields: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(params["sign"].eq_ignore_ascii_case(&jeepay_sign(&fields, JEEPAY_SECRET)));
    let unknown = send(proxy, "GET", "/jeepay/return/nope", None, "", &[]).await;
    assert_eq!(unknown.status.as_u16(), 404);
}

/// A Jeepay order with a notify URL and no return URL shares its token with no return page:
/// the return endpoint under that token is 404 at once, with no query of DaxPay (a guessed or
/// leaked callback token costs nothing).
#[tokio::test]
async fn a_jeepay_order_without_a_return_url_has_no_return_page() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let order_no = created(
        proxy,
        &pay_body("B2", &format!("http://{}/n", merchant.addr), None),
    )
    .await;
    let notify = sandbox.order(&order_no).unwrap().notify_url.unwrap();
    let token = notify
        .rsplit_once("/daxpay/notify/")
        .map(|(_, token)| token.to_owned())
        .unwrap_or_else(|| panic!("paybridge's callback URL: {notify}"));
    let queries = sandbox.requests_to("/unipay/query/payOrder");
    let answer = send(
        proxy,
        "GET",
        &format!("/jeepay/return/{token}"),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(answer.status.as_u16(), 404, "{}", answer.body);
    assert_eq!(
        sandbox.requests_to("/unipay/query/payOrder"),
        queries,
        "DaxPay is not asked"
    );
}

#[tokio::test]
async fn a_notify_url_outside_the_merchants_hosts_is_refused() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let toml = proxy_toml(
        sb.addr,
        "3.0",
        "hmac_sha256",
        "",
        "notify_hosts = [\"shop.example.com\"]\n",
    )
    .replace(
        "[server]\n",
        "[server]\npublic_url = \"http://127.0.0.1:1\"\n",
    );
    let proxy = start_proxy(&toml).await;
    for (url, ok) in [
        ("http://127.0.0.1:6379/", false),
        ("http://169.254.169.254/latest/meta-data", false),
        ("http://shop.example.com.evil.example/n", false),
        ("https://SHOP.example.com/n?x=1", true),
    ] {
        let answer = post_json(
            proxy.addr,
            "/api/pay/unifiedOrder",
            &pay_body(&format!("H{ok}{}", url.len()), url, None),
        )
        .await
        .json();
        if ok {
            assert_eq!(answer["code"], 0, "{url}: {answer}");
        } else {
            assert_eq!(
                answer.to_string(),
                error(9999, "异步通知地址不在商户允许的域名内"),
                "{url}"
            );
        }
    }
    assert_eq!(sandbox.requests_seen(), 1);
}

#[tokio::test]
async fn without_a_public_url_a_payment_with_a_notify_url_is_refused_not_lost() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")).await;
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay_body("U1", "http://shop.example/n", None),
    )
    .await;
    assert_eq!(
        answer.body,
        error(10, "系统异常[异步通知未配置，订单未处理]")
    );
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn an_operator_sees_a_failed_notification_and_sends_it_again() {
    let merchant = Merchant::start(&["no", "no", "SUCCESS"]).await;
    let (sb, sandbox) = start_sandbox(
        &sandbox_toml("3.0", "hmac_sha256", &[])
            .replace("[sandbox]\n", "[sandbox]\ncallback_retry_ms = [50]\n"),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\""),
        )
        + "\n[notify]\nretry_step_ms = 50\nmax_attempts = 2\nallow_private_targets = true\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"operator-token-0123456789abcdef\"\n";
    let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
    let bound = paybridge::app::bind(&config).await.unwrap();
    let (proxy, admin) = (bound.proxy_addr().unwrap(), bound.admin_addr().unwrap());
    tokio::spawn(paybridge::app::run(
        paybridge::proxy::Gateway::new(config),
        bound,
        None,
        std::future::pending::<()>(),
    ));
    let order_no = created(
        proxy,
        &pay_body("OP1", &format!("http://{}/n", merchant.addr), None),
    )
    .await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("two refused attempts", || merchant.received().len() == 2).await;
    let auth = [("authorization", "Bearer operator-token-0123456789abcdef")];
    let mut failed = Value::Null;
    for _ in 0..100 {
        failed = send(
            admin,
            "GET",
            "/admin/notifications?status=failed",
            None,
            "",
            &auth,
        )
        .await
        .json();
        if failed["notifications"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let job = &failed["notifications"][0];
    assert_eq!(
        (
            job["orderId"].as_str(),
            job["attempts"].as_i64(),
            job["state"].as_i64()
        ),
        (Some(order_no.as_str()), Some(2), Some(2)),
        "{failed}"
    );
    assert!(
        job["lastError"].as_str().unwrap().contains("not SUCCESS"),
        "{failed}"
    );
    // Without the token: nothing.
    let refused = send(
        admin,
        "POST",
        &format!("/admin/notifications/{}/resend", job["id"]),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(refused.status.as_u16(), 401);
    let resent = send(
        admin,
        "POST",
        &format!("/admin/notifications/{}/resend", job["id"]),
        None,
        "",
        &auth,
    )
    .await;
    assert_eq!(resent.status.as_u16(), 200, "{}", resent.body);
    eventually("delivered after the resend", || {
        merchant.received().len() == 3
    })
    .await;
    let delivered = send(
        admin,
        "GET",
        "/admin/notifications?status=delivered",
        None,
        "",
        &auth,
    )
    .await
    .json();
    assert_eq!(
        delivered["notifications"][0]["id"], job["id"],
        "{delivered}"
    );
    let metrics = send(admin, "GET", "/metrics", None, "", &auth).await.body;
    assert!(metrics.contains("paybridge_callbacks_total"), "{metrics}");
}

#[tokio::test]
async fn a_notify_url_on_paybridges_own_network_is_never_posted_to() {
    // Default configuration: no private targets. The "merchant" is paybridge's loopback.
    let victim = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("allow_private_targets = false").await;
    // A literal internal address is refused when the order is taken (issue 20, item 4; every
    // form in tests/attacks_addresses_limits.rs).
    let literal = post_json(
        proxy,
        "/api/pay/unifiedOrder",
        &pay_body("S1", &format!("http://{}/admin/reload", victim.addr), None),
    )
    .await;
    assert_eq!(literal.body, error(9999, "异步通知地址不能是内部网络地址"));
    // A name is judged where it is resolved, at delivery.
    let url = format!("http://localhost:{}/admin/reload", victim.addr.port());
    let order_no = created(proxy, &pay_body("S2", &url, None)).await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("the callback acknowledged", || {
        sandbox
            .callbacks()
            .iter()
            .filter(|c| c.acknowledged)
            .count()
            == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(victim.received().is_empty(), "{:?}", victim.received());
}

#[tokio::test]
async fn a_refund_the_channel_closes_later_is_notified_as_failed() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox, proxy) = world("").await;
    let order_no = created(
        proxy,
        &pay_body("C1", &format!("http://{}/pay", merchant.addr), None),
    )
    .await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("the payment's notification", || {
        merchant.received().len() == 1
    })
    .await;
    let body = jeepay_body(&[
        ("mchOrderNo", "C1"),
        ("mchRefundNo", "RC1"),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", paybridge_sandbox::REFUND_PENDING),
        ("notifyUrl", &format!("http://{}/refunds", merchant.addr)),
    ]);
    let answer = post_json(proxy, "/api/refund/refundOrder", &body)
        .await
        .json();
    assert_eq!(
        (answer["code"].as_i64(), answer["data"]["state"].as_i64()),
        (Some(0), Some(1)),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        merchant.received().len(),
        1,
        "nothing for a refund in progress"
    );
    let refund_no = answer["data"]["refundOrderId"].as_str().unwrap();
    sandbox
        .close_refund(refund_no)
        .expect("the sandbox closes it");
    eventually("the refund's notification", || {
        merchant.received().len() == 2
    })
    .await;
    let n = merchant.received().pop().unwrap();
    assert_eq!(n.path, "/refunds");
    assert!(n.verified, "{n:?}");
    assert_eq!(
        (n.params["state"].as_str(), n.params["mchRefundNo"].as_str()),
        ("3", "RC1")
    );
    let q = post_json(
        proxy,
        "/api/refund/query",
        &jeepay_body(&[("mchRefundNo", "RC1")]),
    )
    .await
    .json();
    assert_eq!(q["data"]["state"], 3, "{q}");
}
