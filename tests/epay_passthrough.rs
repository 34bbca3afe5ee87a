//! epay merchants routed to a legacy epay gateway (the legacy sandbox's V1): passthrough byte
//! for byte, and fallback for orders one side does not know. First, the legacy gateway and the
//! epay client (both written from epay.md, independently) agree with each other.

mod common;

use common::epay::{self, Number};
use common::start_legacy;

fn legacy_toml() -> String {
    format!(
        "[legacy_sandbox]\n[[legacy_sandbox.epay_merchants]]\npid = {}\nkey = \"{}\"\n\
         [[legacy_sandbox.epay_orders]]\ntrade_no = \"2024070112000012345\"\n\
         out_trade_no = \"LEGACY-PAID\"\npid = {}\nmoney = \"1.50\"\nstatus = 1\n",
        epay::PID,
        epay::KEY,
        epay::PID
    )
}

fn pay_fields<'a>(out_trade_no: &'a str, pay_type: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("pid", epay::PID),
        ("type", pay_type),
        ("out_trade_no", out_trade_no),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("return_url", "http://127.0.0.1:9/return.php"),
        ("name", "VIP会员"),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
        ("device", "pc"),
    ]
}

#[tokio::test]
async fn the_legacy_gateway_and_the_client_agree() {
    let (running, legacy) = start_legacy(&legacy_toml()).await;
    let client = epay::client(running.addr);
    let created = client.mapi(&pay_fields("L-1", "wxpay")).await.json();
    assert_eq!(created["code"], 1, "{created}");
    let trade_no = created["trade_no"].as_str().unwrap().to_owned();
    assert!(created["qrcode"].as_str().unwrap().starts_with("weixin://"));
    let queried = client.query(Number::Trade(&trade_no)).await.json();
    assert_eq!(
        (queried["status"].as_i64(), queried["money"].as_str()),
        (Some(0), Some("1.00"))
    );
    assert!(legacy.epay_mark_paid(&trade_no));
    let refund = client.refund(Number::Out("L-1"), "0.40").await.json();
    assert_eq!(refund["code"], 0, "{refund}");
    let over = client.refund(Number::Out("L-1"), "0.61").await.json();
    assert_eq!(over["msg"], "退款金额不能超过该订单剩余可退款金额！");
    let missing = client.query(Number::Out("NOPE")).await;
    assert_eq!(
        missing.body,
        r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#
    );
    let page = client.submit_get(&pay_fields("L-2", "alipay")).await;
    let target = epay::browser_target(&page.headers, &page.body).expect("a redirect");
    assert!(target.starts_with("https://qr.alipay.com/"), "{target}");
}
