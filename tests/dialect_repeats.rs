//! A merchant number used again by an epay merchant, answered as the epay gateway answers it
//! (epay.md §6.1 step 16, §7.4) from paybridge's order store: the same order again (its
//! `trade_no` and what the payer needs), a changed or paid one refused, a V2 refund repeated by
//! its `out_refund_no` answered with the first refund. DaxPay never pays or refunds twice.

mod common;

use common::epay::world::{dax_order, world};

fn mapi_fields<'a>(no: &'a str, money: &'a str, clientip: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("pid", common::epay::PID),
        ("type", "wxpay"),
        ("out_trade_no", no),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("name", "重复"),
        ("money", money),
        ("clientip", clientip),
    ]
}

#[tokio::test]
async fn a_repeated_out_trade_no_is_the_same_order_again_unless_changed() {
    let w = world(None, "").await;
    let client = w.client();
    let first = client
        .mapi(&mapi_fields("REP-1", "1.00", "10.0.0.1"))
        .await
        .json();
    assert_eq!(first["code"], 1, "{first}");
    // Another request (another signature: not the replay store's) with the same order fields.
    let again = client
        .mapi(&mapi_fields("REP-1", "1.00", "10.0.0.2"))
        .await
        .json();
    assert_eq!(again["code"], 1, "{again}");
    assert_eq!(again["trade_no"], first["trade_no"], "the same trade_no");
    assert_eq!(
        again["qrcode"], first["qrcode"],
        "what the payer needs, as first given"
    );
    let orders: Vec<_> = w
        .sandbox
        .orders()
        .into_iter()
        .filter(|o| o.title.as_deref() == Some("重复"))
        .collect();
    assert_eq!(orders.len(), 1, "DaxPay made one order");

    let changed = client.mapi(&mapi_fields("REP-1", "2.00", "10.0.0.1")).await;
    assert_eq!(
        changed.body,
        r#"{"code":-1,"msg":"该订单(REP-1)支付参数有变化，请更换订单号重新发起支付"}"#
    );
}

#[tokio::test]
async fn a_repeated_out_trade_no_of_a_paid_order_is_refused() {
    let w = world(None, "").await;
    let client = w.client();
    let first = client
        .mapi(&mapi_fields("REP-1", "1.00", "10.0.0.1"))
        .await
        .json();
    assert_eq!(first["code"], 1, "{first}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "重复").order_no)
        .unwrap();
    let paid = client.mapi(&mapi_fields("REP-1", "1.00", "10.0.0.3")).await;
    assert_eq!(
        paid.body,
        r#"{"code":-1,"msg":"该订单(REP-1)已完成支付，请勿重复发起支付"}"#
    );
    assert_eq!(w.sandbox.requests_to("/unipay/pay"), 1, "never paid again");
}

#[tokio::test]
async fn a_v2_refund_repeated_by_its_out_refund_no_is_the_first_refund() {
    let w = world(None, "").await;
    let client = w.client();
    let created = client
        .mapi(&mapi_fields("REP-2", "1.00", "10.0.0.1"))
        .await
        .json();
    let trade_no = created["trade_no"].as_str().unwrap().to_owned();
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "重复").order_no)
        .unwrap();
    let fields = |attempt: &'static str| {
        vec![
            ("trade_no", trade_no.clone()),
            ("money", "0.30".to_owned()),
            ("out_refund_no", "RFD-REPEAT-1".to_owned()),
            // Signed like every parameter: each request has its own signature, so the second
            // is answered by the order store, not the replay store.
            ("attempt", attempt.to_owned()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        owned
    };
    let first = client
        .v2("refund", &borrow(&send(fields("1"))))
        .await
        .json();
    assert_eq!(first["code"], 0, "{first}");
    let again = client
        .v2("refund", &borrow(&send(fields("2"))))
        .await
        .json();
    assert_eq!(again["code"], 0, "{again}");
    client.sdk2_accepts(&again).unwrap();
    assert_eq!(again["refund_no"], first["refund_no"], "{again}");
    assert_eq!(again["money"], "0.30");
    assert_eq!(w.sandbox.refunds().len(), 1, "refunded once");
}

fn borrow(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
