//! Numbers that would expand before any signature is checked (`1e99999999999` is 10^11 digits
//! in plain form; an exponent near `i64::MAX` overflows), through real sockets: posted in a
//! DaxPay callback to an order's own relay URL (a valid token: any payer of the order holds
//! one), flat as 2.0 posts it and inside 3.0's `data`, and given back by a DaxPay upstream in an
//! answer. Each is refused as unverifiable (never `SUCCESS`, never a 5xx from a panic), and
//! paybridge is still there for the genuine callback and the next request.

mod common;

use common::merchant::Merchant;
use common::*;
use serde_json::Value;

/// Plain forms of 10^11 characters, of more than 2^63, an exponent past what 64 bits hold.
const HOSTILE: [&str; 4] = [
    "1e99999999999",
    "-1e-99999999999",
    "1e9223372036854775807",
    "1e99999999999999999999",
];

/// A WeChat QR order `no` through paybridge, notified to `merchant`: DaxPay's number.
async fn created(proxy: std::net::SocketAddr, no: &str, merchant: &Merchant) -> String {
    let notify = format!("http://{}/pay", merchant.addr);
    let body = jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", &notify),
    ]);
    let answer = post_json(proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["payOrderId"].as_str().unwrap().to_owned()
}

/// The callbacks a hostile sender could post to a 2.0 or 3.0 relay URL: the number at the top
/// level, and inside `data` (3.0 signs it as a nested object).
fn hostile_callbacks(version: &str, number: &str) -> Vec<String> {
    match version {
        "2.0" => vec![
            format!(
                r#"{{"code":0,"orderNo":"P1","status":"success","amount":{number},"sign":"0"}}"#
            ),
            format!(r#"{{"code":0,"extra":{{"a":[{number}]}},"status":"success","sign":"0"}}"#),
        ],
        _ => vec![
            format!(
                r#"{{"mchNo":"{DAX_MCH}","appId":"{DAX_APP}","code":0,"data":{{"status":"success","amount":{number}}},"sign":"0"}}"#
            ),
            format!(
                r#"{{"mchNo":"{DAX_MCH}","appId":"{DAX_APP}","code":0,"data":{{}},"resTime":{number},"sign":"0"}}"#
            ),
        ],
    }
}

#[tokio::test]
async fn a_callback_with_a_number_that_would_expand_is_refused_and_paybridge_stays_up() {
    for (version, sign_type) in [
        ("2.0", "hmac_sha256"),
        ("2.0", "md5"),
        ("3.0", "hmac_sha256"),
    ] {
        let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
        let (proxy, _orders) = start_relaying(
            sb.addr,
            version,
            sign_type,
            "",
            "",
            "\n[settlement]\nenabled = false\n",
        )
        .await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(proxy, "HUGE1", &merchant).await;
        let url = sandbox.order(&order_no).unwrap().notify_url.unwrap();
        let path = url.trim_start_matches(&format!("http://{proxy}"));
        assert!(path.starts_with("/daxpay/notify/"), "{url}");
        for number in HOSTILE {
            for body in hostile_callbacks(version, number) {
                let answer = send(
                    proxy,
                    "POST",
                    path,
                    Some("application/json"),
                    body.clone(),
                    &[],
                )
                .await;
                assert_eq!(
                    (answer.status.as_u16(), answer.body.as_str()),
                    (400, "FAIL"),
                    "{version} {sign_type}: {body}"
                );
            }
        }
        // Still up: DaxPay's genuine callback is verified, acknowledged and relayed once.
        sandbox.pay_order(&order_no).unwrap();
        eventually("the notification", || merchant.received().len() == 1).await;
        let n = &merchant.received()[0];
        assert!(n.verified, "{n:?}");
        assert_eq!(n.params["state"], "2");
        let sent = sandbox.callbacks();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].answer.as_deref(), Some("SUCCESS"), "{version}");
    }
}

/// DaxPay's answer to a pay query with such a number: the merchant is answered that the answer
/// could not be believed (code 10, the outcome unknown), and the next query is answered too.
#[tokio::test]
async fn a_daxpay_answer_with_a_number_that_would_expand_is_not_believed() {
    for (version, shape) in [
        (
            "3.0",
            r#"{"code":0,"msg":"success","data":{"orderNo":"P1","amount":NUMBER},"sign":"0","resTime":"2026-01-01 00:00:00"}"#,
        ),
        (
            "3.0",
            r#"{"code":0,"msg":"success","data":{"orderNo":"P1"},"sign":"0","resTime":NUMBER}"#,
        ),
        (
            "2.0",
            r#"{"code":0,"msg":"success","data":{"code":0,"msg":"success","orderNo":"P1","amount":NUMBER,"sign":"0"}}"#,
        ),
    ] {
        for number in HOSTILE {
            let body = shape.replace("NUMBER", number);
            let fake = start_fake(move |_| {
                let body = body.clone();
                async move { http::Response::new(http_body_util::Full::new(body.into())) }
            })
            .await;
            let proxy = start_proxy(&proxy_toml(fake.addr, version, "md5", "", "")).await;
            for _ in 0..2 {
                let query = jeepay_body(&[("payOrderId", "P1")]);
                let answer = post_json(proxy.addr, "/api/pay/query", &query).await;
                assert_eq!(
                    answer.status.as_u16(),
                    200,
                    "{version} {number}: {}",
                    answer.body
                );
                let json: Value = answer.json();
                // An answer that cannot be believed (not a handler's panic, `Internal`).
                assert_eq!(json["code"], 10, "{version} {number}: {json}");
                let msg = json["msg"].as_str().unwrap();
                assert!(
                    msg.contains("上游应答无法解析"),
                    "{version} {number}: {json}"
                );
            }
        }
    }
}
