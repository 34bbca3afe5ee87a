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

use common::epay::world::{dax_order, world};

const LEGACY_PAID: (&str, &str, &str, u8) = ("2024070112000012345", "LEGACY-PAID", "1.50", 1);

fn mapi_fields<'a>(no: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("pid", epay::PID),
        ("type", "alipay"),
        ("out_trade_no", no),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("name", name),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ]
}

#[tokio::test]
async fn passthrough_of_an_epay_merchant_is_byte_exact() {
    let routes = "\n[routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\" }\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    let signed = client.v1_signed(&mapi_fields("P-1", "透传"));
    let body = epay::form(&common::epay::sign::pairs(&signed));
    let a = common::send(
        w.proxy,
        "POST",
        "/mapi.php?x=%E4%B8%AD",
        Some(epay::client::FORM),
        body.clone(),
        &[("x-merchant-trace", "abc")],
    )
    .await;
    let orders = legacy.epay_orders();
    let made = orders
        .iter()
        .find(|o| o.out_trade_no == "P-1")
        .expect("created at the legacy gateway");
    assert_eq!(
        a.body,
        format!(
            r#"{{"code":1,"trade_no":"{0}","qrcode":"https:\/\/qr.alipay.com\/bax0{0}"}}"#,
            made.trade_no
        ),
        "the legacy gateway's bytes"
    );
    assert_eq!(a.headers["content-type"], "application/json; charset=UTF-8");
    let seen = legacy.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/mapi.php?x=%E4%B8%AD");
    assert_eq!(seen[0].body, body.as_bytes(), "the merchant's bytes");
    assert_eq!(seen[0].headers["x-merchant-trace"], "abc");
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
    // The query (key in clear, GET) and a refund pass through too.
    let q = client.query(Number::Out("LEGACY-PAID")).await;
    assert!(
        q.body
            .starts_with(r#"{"code":1,"msg":"succ","trade_no":"2024070112000012345""#),
        "{}",
        q.body
    );
    let r = client
        .refund(Number::Trade("2024070112000012345"), "0.50")
        .await
        .json();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(legacy.epay_refunds().len(), 1);
    assert_eq!(w.sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn translated_epay_merchant_falls_back_to_the_legacy_gateway_for_its_old_orders() {
    let routes = "\n[routing]\ndefault = { action = \"translate\", fallback = \"legacy\" }\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    // A new order is made at DaxPay, not at the legacy gateway.
    let created = client.mapi(&mapi_fields("NEW-1", "迁移")).await.json();
    assert_eq!(created["code"], 1, "{created}");
    dax_order(&w.sandbox, "迁移");
    assert!(legacy
        .epay_orders()
        .iter()
        .all(|o| o.out_trade_no != "NEW-1"));
    // The old order, unknown on the DaxPay side: the legacy gateway answers.
    let q = client.query(Number::Out("LEGACY-PAID")).await.json();
    assert_eq!(
        (q["code"].as_i64(), q["status"].as_i64()),
        (Some(1), Some(1)),
        "{q}"
    );
    assert_eq!(q["trade_no"], "2024070112000012345");
    let r = client
        .refund(Number::Out("LEGACY-PAID"), "1.50")
        .await
        .json();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(legacy.epay_order("2024070112000012345").unwrap().status, 2);
    // Unknown on both sides: epay's own text, no loop.
    let before = legacy.received().len();
    let none = client.query(Number::Out("NOWHERE")).await.json();
    assert_eq!(
        (none["code"].as_i64(), none["msg"].as_str()),
        (Some(-1), Some("订单号不存在")),
        "{none}"
    );
    assert_eq!(legacy.received().len(), before + 1, "asked once");
    // The new order is answered from the DaxPay side, the legacy gateway not asked.
    let before = legacy.received().len();
    let q = client.query(Number::Out("NEW-1")).await.json();
    assert_eq!(q["code"], 1, "{q}");
    assert_eq!(legacy.received().len(), before);
}

#[tokio::test]
async fn passthrough_epay_merchant_falls_back_to_daxpay_for_orders_the_legacy_gateway_does_not_know(
) {
    let routes = "\n[routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\", fallback = \"merchant\" }\n\
                  [[routes]]\nname = \"new orders at DaxPay\"\npaths = [\"/mapi.php\"]\naction = \"translate\"\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    let created = client.mapi(&mapi_fields("NEW-2", "回落")).await.json();
    assert_eq!(created["code"], 1, "{created}");
    let trade_no = created["trade_no"].as_str().unwrap().to_owned();
    assert!(legacy
        .epay_orders()
        .iter()
        .all(|o| o.out_trade_no != "NEW-2"));
    // The legacy gateway says 订单号不存在 → translated.
    let q = client.query(Number::Trade(&trade_no)).await.json();
    assert_eq!(q["code"], 1, "{q}");
    assert_eq!(q["out_trade_no"], "NEW-2");
    // Its own order: the legacy gateway's answer as it is.
    let q = client.query(Number::Out("LEGACY-PAID")).await.json();
    assert_eq!(q["status"], 1, "{q}");
}

fn v2_fields<'a>(no: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("method", "web"),
        ("type", "alipay"),
        ("out_trade_no", no),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("name", name),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ]
}

#[tokio::test]
async fn v2_passthrough_of_an_epay_merchant_is_byte_exact() {
    let routes = "\n[routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\" }\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    let signed = client.v2_signed(&v2_fields("P2-1", "透传V2"));
    let body = epay::form(&common::epay::sign::pairs(&signed));
    let a = common::send(
        w.proxy,
        "POST",
        "/api/pay/create",
        Some(epay::client::FORM),
        body.clone(),
        &[],
    )
    .await;
    let json = a.json();
    assert_eq!(json["code"], 0, "{json}");
    client
        .sdk2_accepts(&json)
        .unwrap_or_else(|e| panic!("{e}: {json}"));
    let made = legacy
        .epay_orders()
        .into_iter()
        .find(|o| o.out_trade_no == "P2-1")
        .expect("made at the legacy gateway");
    assert_eq!(json["trade_no"], made.trade_no.as_str());
    let seen = legacy.received();
    assert_eq!(
        (seen.len(), seen[0].body.as_ref()),
        (1, body.as_bytes()),
        "the merchant's bytes"
    );
    // `/api/pay/query` (a Jeepay path too) with `pid`: the epay merchant's, passed through.
    let q = client
        .v2("query", &[("out_trade_no", "LEGACY-PAID")])
        .await
        .json();
    assert_eq!(
        (q["code"].as_i64(), q["status"].as_i64()),
        (Some(0), Some(1)),
        "{q}"
    );
    client.sdk2_accepts(&q).unwrap();
    assert_eq!(legacy.received().len(), 2);
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

#[tokio::test]
async fn v2_translated_epay_merchant_falls_back_to_the_legacy_gateway() {
    let routes = "\n[routing]\ndefault = { action = \"translate\", fallback = \"legacy\" }\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    let q = client
        .v2("query", &[("out_trade_no", "LEGACY-PAID")])
        .await
        .json();
    assert_eq!(
        (q["code"].as_i64(), q["status"].as_i64()),
        (Some(0), Some(1)),
        "{q}"
    );
    client.sdk2_accepts(&q).unwrap();
    let r = client
        .v2(
            "refund",
            &[
                ("out_trade_no", "LEGACY-PAID"),
                ("money", "0.50"),
                ("out_refund_no", "LEGACY-RF-1"),
            ],
        )
        .await
        .json();
    assert_eq!(r["code"], 0, "{r}");
    client.sdk2_accepts(&r).unwrap();
    assert_eq!(legacy.epay_refunds().len(), 1);
    let none = client
        .v2("query", &[("out_trade_no", "NOWHERE")])
        .await
        .json();
    assert_eq!(
        (none["code"].as_i64(), none["msg"].as_str()),
        (Some(-1), Some("订单号不存在")),
        "{none}"
    );
}
