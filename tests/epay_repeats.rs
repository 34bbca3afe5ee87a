//! The second review's findings on the epay dialect (issue 22), each performed through real
//! sockets with the epay client of `tests/common/epay` (written from epay.md):
//!
//! - an `out_trade_no` asked for again with another `type` is answered as the order was made
//!   (server to server, and a payer picking twice on the cashier), never the first order's pay
//!   content rendered as the new type;
//! - concurrent V2 refunds with one `out_refund_no`: the one meeting the first in flight waits
//!   for it and is answered as its repeat, never as a failure; DaxPay refunds once;
//! - a literal `?` in a parameter's value (an unencoded URL) is part of the value, as PHP reads
//!   it: nothing before it is lost;
//! - an `/api/…` path that is no gateway route answers the gateway's `URL Error!`.

mod common;

use std::time::Duration;

use common::epay::cashier::{choices, hidden_fields, post_path};
use common::epay::world::{dax_order, world, world_through, World};
use common::epay::{browser_target, keys, sign, EpayClient, Number, PID};
use serde_json::Value;

fn pay(w: &World, no: &str, pay_type: &str, name: &str) -> Vec<(String, String)> {
    [
        ("pid", PID.to_owned()),
        ("type", pay_type.to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("return_url", w.site.return_url()),
        ("name", name.to_owned()),
        ("money", "1.00".to_owned()),
        ("clientip", "192.168.1.100".to_owned()),
        ("device", "pc".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn mapi(client: &EpayClient, fields: &[(String, String)]) -> Value {
    let answer = client.mapi(&sign::pairs(fields)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Finding 1a, server to server: `mapi.php` alipay, then the same order with wxpay (and the
/// other way round). The answer is the order as it was made: its pay content under its own
/// key, never an Alipay page URL as WeChat QR content nor `weixin://` as a page URL. DaxPay
/// holds one order for each.
#[tokio::test]
async fn an_order_asked_again_with_another_type_is_answered_as_it_was_made() {
    let w = world(None, "").await;
    let client = w.client();
    for (no, first_type, then_type, name) in [
        ("TY1", "alipay", "wxpay", "先支付宝"),
        ("TY2", "wxpay", "alipay", "先微信"),
    ] {
        let first = mapi(&client, &pay(&w, no, first_type, name)).await;
        assert_eq!(first["code"], 1, "{first}");
        let again = mapi(&client, &pay(&w, no, then_type, name)).await;
        assert_eq!(
            again, first,
            "{no}: {then_type} after {first_type} answers the order as made"
        );
        dax_order(&w.sandbox, name);
    }
    assert_eq!(
        w.sandbox.orders().len(),
        2,
        "DaxPay was asked to pay once each"
    );
    // The order keeps its type: the query says what was made.
    let q = client.query(Number::Out("TY1")).await.json();
    assert_eq!(
        (q["code"].clone(), q["type"].clone()),
        (1.into(), "alipay".into()),
        "{q}"
    );
}

/// Finding 1a on the cashier: the payer picks 微信支付, goes back and picks 支付宝. The second
/// pick gets the order as it was made (the WeChat QR page, whose poll is the order's own), not
/// `weixin://` sent to a desktop browser's `window.location`.
#[tokio::test]
async fn a_payer_picking_twice_on_the_cashier_gets_the_order_as_made() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "CS-TWICE", "alipay", "选两次");
    fields.retain(|(k, _)| k != "clientip" && k != "type" && k != "device");
    let page = client.submit_get(&sign::pairs(&fields)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let path = post_path("/submit.php", &page.body).unwrap();
    let hidden = hidden_fields(&page.body);
    let pick = |wanted: &str| {
        let (button, value) = choices(&page.body)
            .into_iter()
            .find(|(_, v)| v == wanted)
            .unwrap_or_else(|| panic!("{wanted} offered: {}", page.body));
        let mut form = hidden.clone();
        form.push((button, value));
        form
    };
    let wechat = client.post_form(&path, &pick("wxpay")).await;
    assert!(
        wechat.body.contains("请使用微信扫码支付"),
        "{}",
        wechat.body
    );
    let alipay = client.post_form(&path, &pick("alipay")).await;
    assert!(
        !alipay.body.contains("weixin://") || alipay.body.contains("请使用微信扫码支付"),
        "never weixin:// as a page to go to: {}",
        alipay.body
    );
    assert_eq!(
        browser_target(&alipay.headers, &alipay.body),
        None,
        "{}",
        alipay.body
    );
    assert_eq!(alipay.body, wechat.body, "the same page, the same order");
    assert_eq!(dax_order(&w.sandbox, "选两次").channel, "wechat_pay");
    assert_eq!(w.sandbox.orders().len(), 1);
}

/// V2 fields (after `pid`) signed with their own `timestamp` (so that two requests are two,
/// not one replayed: V2's replay identity is the signature).
fn v2_signed_at(fields: &[(&str, &str)], timestamp: u64) -> Vec<(String, String)> {
    let timestamp = timestamp.to_string();
    let mut all = vec![("pid", PID)];
    all.extend_from_slice(fields);
    all.push(("timestamp", &timestamp));
    let signature = sign::rsa_sign(&all, keys::MERCHANT_PRIVATE_KEY);
    all.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([
            ("sign_type".to_owned(), "RSA".to_owned()),
            ("sign".to_owned(), signature),
        ])
        .collect()
}

fn v2_refund(trade_no: &str, out_refund_no: &str, timestamp: u64) -> Vec<(String, String)> {
    v2_signed_at(
        &[
            ("trade_no", trade_no),
            ("money", "0.40"),
            ("out_refund_no", out_refund_no),
        ],
        timestamp,
    )
}

/// Finding 1b: two V2 refunds with one `out_refund_no`, the second sent while DaxPay's answer
/// to the first is held. Neither is answered as a failure (SDK2 would record a refund that was
/// made as failed): the second waits for the first and is answered as its repeat. DaxPay
/// refunds once.
#[tokio::test]
async fn concurrent_v2_refunds_with_one_out_refund_no_never_answer_a_failure() {
    let (w, relay) = world_through(&["/unipay/refund"]).await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let mut create = pay(&w, "CR1", "wxpay", "并发退款");
    create.retain(|(k, _)| k != "pid");
    create.push(("method".into(), "web".into()));
    let created = client.v2("create", &sign::pairs(&create)).await.json();
    assert_eq!(created["code"], 0, "{created}");
    let trade_no = created["trade_no"].as_str().unwrap().to_owned();
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "并发退款").order_no)
        .unwrap();
    let now: u64 = sign::timestamp().parse().unwrap();
    let first_form = v2_refund(&trade_no, "CONC-000001", now);
    let second_form = v2_refund(&trade_no, "CONC-000001", now - 1);
    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.post_form("/api/pay/refund", &first_form).await })
    };
    // DaxPay makes the refund; its answer is held: the first request is in flight.
    let arrival = relay.arrivals.recv().await.unwrap();
    let release = arrival.forward_held();
    let second = {
        let client = client.clone();
        tokio::spawn(async move { client.post_form("/api/pay/refund", &second_form).await })
    };
    // Only so that the second meets the first in flight (without the fix it is then answered
    // at once, as a failure); the assertions below hold in any interleaving.
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.send(()).unwrap();
    let first = first.await.unwrap();
    let second = second.await.unwrap();
    for answer in [&first, &second] {
        assert!(!answer.body.contains("失败"), "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["code"], 0, "{json}");
        client.sdk2_accepts(&json).unwrap();
        assert_eq!(json["out_refund_no"], "CONC-000001", "{json}");
    }
    let again = second.json();
    assert_eq!(again["msg"], "已存在相同退款单号！退款金额¥0.40", "{again}");
    assert_eq!(again["refund_no"], first.json()["refund_no"]);
    assert_eq!(w.sandbox.refunds().len(), 1, "DaxPay refunded once");
    assert!(relay.arrivals.try_recv().is_err(), "one refund call sent");
}

/// The V1 pay parameters with `?` left unencoded in the notify and return URLs, as a
/// hand-built request sends them; PHP splits on `&` only, so they are those URLs.
fn raw_with_question_marks(w: &World, client: &EpayClient, no: &str, name: &str) -> String {
    let notify = format!("{}?a=1", w.site.notify_url());
    let back = format!("{}?id=1", w.site.return_url());
    let fields: Vec<(String, String)> = pay(w, no, "alipay", name)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "notify_url" => (k, notify.clone()),
            "return_url" => (k, back.clone()),
            _ => (k, v),
        })
        .collect();
    client
        .v1_signed(&sign::pairs(&fields))
        .iter()
        .map(|(k, v)| match k.as_str() {
            "notify_url" | "return_url" => format!("{k}={v}"),
            _ => common::epay::form(&[(k.as_str(), v.as_str())]),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Finding 2a: `mapi.php` (form body) and `submit.php` (GET query string) with a literal `?`
/// in a URL value: `pid` and everything else before it is kept, the order is made.
#[tokio::test]
async fn a_literal_question_mark_in_a_value_loses_nothing() {
    let w = world(None, "").await;
    let client = w.client();
    let body = raw_with_question_marks(&w, &client, "QM1", "问号表单");
    assert!(body.contains("?a=1"), "{body}");
    let answer = common::send(
        w.proxy,
        "POST",
        "/mapi.php",
        Some("application/x-www-form-urlencoded"),
        body,
        &[],
    )
    .await;
    let json = answer.json();
    assert_eq!(json["code"], 1, "{json}");
    dax_order(&w.sandbox, "问号表单");
    let query = raw_with_question_marks(&w, &client, "QM2", "问号链接");
    let page = common::send(
        w.proxy,
        "GET",
        &format!("/submit.php?{query}"),
        None,
        "",
        &[],
    )
    .await;
    assert!(
        browser_target(&page.headers, &page.body).is_some(),
        "sent on to pay: {}",
        page.body
    );
    dax_order(&w.sandbox, "问号链接");
}

/// Finding 2c: `/api/pay/a-b` is no route of the gateway's (`ApiHelper::load_api`'s pattern):
/// with a form `pid` and no `mchNo` it is epay's `URL Error!`, not another dialect's 404.
#[tokio::test]
async fn an_api_path_that_is_no_gateway_route_is_url_error() {
    let w = world(None, "").await;
    let client = w.client();
    for path in ["/api/pay/a-b", "/api/pay/a/b"] {
        let answer = client
            .post_form(path, &client.v2_signed(&[("trade_no", "1")]))
            .await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.body, r#"{"code":-5,"msg":"URL Error!"}"#, "{path}");
    }
    // A two-word method paybridge lacks keeps its own words.
    let info = client
        .post_form("/api/merchant/info", &client.v2_signed(&[]))
        .await;
    assert!(info.body.contains("\"code\":-5"), "{}", info.body);
    assert!(!info.body.contains("URL Error!"), "{}", info.body);
}

/// Finding 2d: the gateway keeps no closed state (its close leaves `status` 0, epay.md §7.6),
/// so closing an order already closed is answered as the close it asks for, consistent with
/// the query's status 0; never `该订单状态不支持关闭！`, which reads as "paid" beside it. A paid
/// order stays refused (`tests/epay_v2.rs`).
#[tokio::test]
async fn closing_an_order_already_closed_is_answered_as_closed() {
    let w = world(None, "").await;
    let client = w.client();
    let mut create = pay(&w, "CL2", "alipay", "再次关闭");
    create.retain(|(k, _)| k != "pid");
    create.push(("method".into(), "web".into()));
    let created = client.v2("create", &sign::pairs(&create)).await.json();
    assert_eq!(created["code"], 0, "{created}");
    let trade_no = created["trade_no"].as_str().unwrap().to_owned();
    let now: u64 = sign::timestamp().parse().unwrap();
    // Two requests (their own timestamps), not one replayed.
    for (round, at) in [("first", now), ("again", now - 1)] {
        let form = v2_signed_at(&[("trade_no", trade_no.as_str())], at);
        let closed = client.post_form("/api/pay/close", &form).await.json();
        assert_eq!(
            (closed["code"].as_i64(), closed["msg"].as_str()),
            (Some(0), Some("订单关闭成功")),
            "{round}: {closed}"
        );
        client.sdk2_accepts(&closed).unwrap();
    }
    let q = client
        .v2("query", &[("trade_no", trade_no.as_str())])
        .await
        .json();
    assert_eq!(q["status"].to_string().trim_matches('"'), "0", "{q}");
}
