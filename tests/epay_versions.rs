//! epay V1 and V2 onto every DaxPay paybridge speaks (issue 22: "3.0, 3.0-beta, and 2.0"):
//! the epay suites run on 3.0; here the same lifecycle runs on 3.0-beta (an app without a
//! merchant number) and on 2.0 (one identity per server: the epay and the Jeepay merchant share
//! it, each with its `order_prefix`), both with each sign type. Through real sockets, with the
//! independent epay client of `tests/common/epay`; paybridge's settlement worker runs, as it
//! must beside a 2.0 DaxPay.

mod common;

use std::time::Duration;

use common::epay::world::{dax_order, eventually, world_on, Dax, World};
use common::epay::{keys, sign, EpayClient, Number, KEY, PID};
use paybridge_sandbox::RefundOrderStatus;
use serde_json::Value;

/// Every DaxPay other than 3.0 (whose suites are `epay_v1`, `epay_v2`, …), each sign type.
const DAXES: [Dax; 4] = [
    Dax {
        version: "3.0-beta",
        sign_type: "hmac_sha256",
    },
    Dax {
        version: "3.0-beta",
        sign_type: "md5",
    },
    Dax {
        version: "2.0",
        sign_type: "hmac_sha256",
    },
    Dax {
        version: "2.0",
        sign_type: "md5",
    },
];

/// A `mapi.php` request's fields (`name` distinct per order: it finds the DaxPay order).
fn mapi(
    w: &World,
    no: &str,
    pay_type: &str,
    device: &str,
    name: &str,
    money: &str,
) -> Vec<(String, String)> {
    owned(&[
        ("pid", PID),
        ("type", pay_type),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", name),
        ("money", money),
        ("clientip", "192.168.1.100"),
        ("device", device),
    ])
}

/// `/api/pay/create`'s fields (the client adds `pid`, `timestamp` and the signature).
fn create(w: &World, no: &str, pay_type: &str, name: &str, money: &str) -> Vec<(String, String)> {
    owned(&[
        ("method", "web"),
        ("device", "pc"),
        ("type", pay_type),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", name),
        ("money", money),
        ("clientip", "192.168.1.100"),
    ])
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn status(v: &Value) -> String {
    v["status"].to_string().trim_matches('"').to_owned()
}

fn code_msg(v: &Value) -> (i64, String) {
    (
        v["code"].as_i64().unwrap_or(99),
        v["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Created through `mapi.php`: code 1, a 19-digit `trade_no`, one pay field. Its `trade_no`
/// and the answer.
async fn mapi_created(
    dax: Dax,
    client: &EpayClient,
    fields: &[(String, String)],
) -> (String, Value) {
    let json = client.mapi(&sign::pairs(fields)).await.json();
    assert_eq!(json["code"], 1, "{dax:?}: {json}");
    let trade_no = json["trade_no"].as_str().expect("trade_no").to_owned();
    assert!(
        trade_no.len() == 19 && trade_no.bytes().all(|b| b.is_ascii_digit()),
        "{dax:?}: {trade_no}"
    );
    (trade_no, json)
}

/// Created through `/api/pay/create`: code 0, signed as SDK2 checks.
async fn v2_created(dax: Dax, w: &World, fields: &[(String, String)]) -> String {
    let client = w.client();
    let json = client.v2("create", &sign::pairs(fields)).await.json();
    assert_eq!(json["code"], 0, "{dax:?}: {json}");
    client
        .sdk2_accepts(&json)
        .unwrap_or_else(|e| panic!("{dax:?}: {e}: {json}"));
    json["trade_no"].as_str().unwrap().to_owned()
}

async fn v2(client: &EpayClient, method: &str, fields: &[(&str, &str)]) -> Value {
    let answer = client.v2(method, fields).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// The payer pays the order titled `name`; waits until the V1 query says 1.
async fn paid(w: &World, name: &str, trade_no: &str) {
    let order_no = dax_order(&w.sandbox, name).order_no;
    w.sandbox.pay_order(&order_no).unwrap();
    let client = w.client();
    for _ in 0..250 {
        let q = client.query(Number::Trade(trade_no)).await.json();
        if status(&q) == "1" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{:?}: {trade_no} never paid", w.dax);
}

/// V1 `mapi.php` for each mapped type and device: DaxPay's channel and method as §16's table
/// and the way-code table of the version give them; DaxPay's `bizOrderNo` carries the epay
/// merchant's prefix on 2.0; a type without a channel there is epay's `支付方式(type)不存在`.
#[tokio::test]
async fn v1_create_for_alipay_and_wxpay_on_every_daxpay() {
    for dax in DAXES {
        let w = world_on(dax).await;
        let client = w.client();
        let mut cases = vec![
            ("alipay", "pc", "ali_pay", "web", "payurl"),
            ("alipay", "mobile", "ali_pay", "wap", "payurl"),
            ("wxpay", "pc", "wechat_pay", "qrcode", "qrcode"),
            ("wxpay", "mobile", "wechat_pay", "wap", "payurl"),
        ];
        // 2.0.8 has Union Pay (UP_QR, UP_WAP): `bank` is mapped there.
        if dax.shared() {
            cases.push(("bank", "pc", "union_pay", "qrcode", "qrcode"));
            cases.push(("bank", "mobile", "union_pay", "wap", "html"));
        }
        for (i, (pay_type, device, channel, method, field)) in cases.into_iter().enumerate() {
            let no = format!("V{i}");
            let name = format!("版本{i}");
            let (_, json) = mapi_created(
                dax,
                &client,
                &mapi(&w, &no, pay_type, device, &name, "12.30"),
            )
            .await;
            assert!(
                json.get(field).is_some(),
                "{dax:?} {pay_type}/{device}: {json}"
            );
            let order = dax_order(&w.sandbox, &name);
            assert_eq!(
                (
                    order.channel.as_str(),
                    order.method.as_str(),
                    order.amount.fen()
                ),
                (channel, method, 1230),
                "{dax:?} {pay_type}/{device}"
            );
            assert_eq!(order.biz_order_no, w.biz_order_no(&no), "{dax:?}");
        }
        let refused = if dax.shared() { "qqpay" } else { "bank" };
        let a = client
            .mapi(&sign::pairs(&mapi(&w, "VX", refused, "pc", "无通道", "1")))
            .await
            .json();
        assert_eq!(
            code_msg(&a),
            (-1, "支付方式(type)不存在".to_owned()),
            "{dax:?}"
        );
        assert!(w
            .sandbox
            .orders()
            .iter()
            .all(|o| o.title.as_deref() != Some("无通道")));
    }
}

/// V1 query before and after payment; the V1 notification verified as SDK1 verifies it and
/// delivered once although DaxPay calls again.
#[tokio::test]
async fn v1_query_and_notification_on_every_daxpay() {
    for dax in DAXES {
        let w = world_on(dax).await;
        let client = w.client();
        let fields = mapi(&w, "Q1", "alipay", "pc", "VIP会员 A&B", "1.50");
        let (trade_no, _) = mapi_created(dax, &client, &fields).await;
        let before = client.query(Number::Out("Q1")).await.json();
        assert_eq!(
            (before["code"].as_i64(), status(&before).as_str()),
            (Some(1), "0"),
            "{dax:?}: {before}"
        );
        assert_eq!(before["trade_no"], trade_no.as_str(), "{dax:?}");
        assert_eq!(
            before["out_trade_no"], "Q1",
            "the merchant's own number: {before}"
        );
        assert_eq!(before["money"], "1.50", "{dax:?}");
        assert_eq!(before["type"], "alipay", "{dax:?}");
        assert!(before["endtime"].is_null(), "{dax:?}: {before}");
        assert!(w.site.received().is_empty(), "nothing before payment");

        paid(&w, "VIP会员 A&B", &trade_no).await;
        let after = client.query(Number::Trade(&trade_no)).await.json();
        assert_eq!(after["out_trade_no"], "Q1", "{dax:?}: {after}");
        assert!(after["endtime"].is_string(), "{dax:?}: {after}");
        let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(seen.len(), 1, "{dax:?}: {seen:?}");
        let order_no = dax_order(&w.sandbox, "VIP会员 A&B").order_no;
        assert!(w.sandbox.send_callback_again(&order_no), "{dax:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = w.site.received();
        assert_eq!(seen.len(), 1, "{dax:?}: notified once: {seen:?}");
        let n = &seen[0];
        assert!(n.md5_verified(KEY), "{dax:?}: SDK1 verifyNotify: {n:?}");
        n.business_checks("Q1", 150).unwrap();
        assert_eq!(n.get("trade_no"), Some(trade_no.as_str()));
        assert_eq!(n.get("name"), Some("VIP会员 A&amp;B"));
        assert_eq!(n.get("money"), Some("1.5"));
        // The payer back through paybridge: the merchant's return_url, signed as the
        // notification, with the merchant's own number.
        let back = dax_order(&w.sandbox, "VIP会员 A&B")
            .return_url
            .expect("paybridge's return URL");
        let path = back.trim_start_matches(&format!("http://{}", w.proxy));
        let page = common::send(w.proxy, "GET", path, None, "", &[]).await;
        let target = common::epay::browser_target(&page.headers, &page.body)
            .unwrap_or_else(|| panic!("{dax:?}: no redirect: {}", page.body));
        assert!(target.starts_with(&w.site.return_url()), "{target}");
        let params = common::epay::query_pairs(&target);
        assert!(
            sign::md5_verify(&sign::pairs(&params), KEY),
            "{dax:?}: {target}"
        );
        assert!(
            params.contains(&("out_trade_no".to_owned(), "Q1".to_owned())),
            "{target}"
        );
    }
}

/// A partial, then the rest, of an Alipay order (DaxPay refunds it at once on every version):
/// code 0 each, the exact amounts at DaxPay, status 2 after the first, and the next refused in
/// build 3094's words.
#[tokio::test]
async fn v1_partial_then_full_refund_on_every_daxpay() {
    for dax in DAXES {
        let w = world_on(dax).await;
        let client = w.client();
        let (trade_no, _) = mapi_created(
            dax,
            &client,
            &mapi(&w, "R1", "alipay", "pc", "退款", "1.00"),
        )
        .await;
        paid(&w, "退款", &trade_no).await;
        let first = client.refund(Number::Trade(&trade_no), "0.30").await.json();
        assert_eq!(
            code_msg(&first),
            (0, "退款成功！退款金额￥0.30".to_owned()),
            "{dax:?}: {first}"
        );
        assert_eq!(first["out_trade_no"], "R1", "{dax:?}: {first}");
        let q = client.query(Number::Out("R1")).await.json();
        assert_eq!(status(&q), "2", "{dax:?}: refunded in part: {q}");
        let over = client.refund(Number::Out("R1"), "0.71").await.json();
        assert_eq!(
            code_msg(&over),
            (-1, "退款金额不能超过该订单剩余可退款金额！".to_owned()),
            "{dax:?}"
        );
        let rest = client.refund(Number::Out("R1"), "0.70").await.json();
        assert_eq!(
            code_msg(&rest),
            (0, "退款成功！退款金额￥0.70".to_owned()),
            "{dax:?}: {rest}"
        );
        let again = client.refund(Number::Out("R1"), "0.01").await.json();
        assert_eq!(
            code_msg(&again),
            (-1, "该订单已全额退款！".to_owned()),
            "{dax:?}: {again}"
        );
        let fen: Vec<u64> = w.sandbox.refunds().iter().map(|r| r.amount.fen()).collect();
        assert_eq!(fen, [30, 70], "{dax:?}");
        assert_eq!(status(&client.query(Number::Out("R1")).await.json()), "2");
        // Refunds are never notified (epay.md §11): the payment only.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(w.site.received().len(), 1, "{dax:?}");
    }
}

/// DaxPay 2.0.8's WeChat refunds are asynchronous (the channel settles them later): the V1
/// refund is accepted (code 0, saying so, never a failure a V1 merchant would retry), the order
/// stays paid (1) while it runs and another refund meanwhile is refused; once the channel says
/// it succeeded (two 2.0 notices) the order is refunded (2) and the rest can be refunded.
#[tokio::test]
async fn v1_a_wechat_refund_on_2_0_is_settled_by_the_channel_later() {
    for sign_type in ["hmac_sha256", "md5"] {
        let dax = Dax::new("2.0", sign_type);
        let w = world_on(dax).await;
        let client = w.client();
        let (trade_no, _) = mapi_created(
            dax,
            &client,
            &mapi(&w, "W1", "wxpay", "pc", "微信退款", "1.00"),
        )
        .await;
        paid(&w, "微信退款", &trade_no).await;
        let accepted = client.refund(Number::Trade(&trade_no), "0.40").await.json();
        assert_eq!(
            code_msg(&accepted),
            (0, "退款已受理，正在处理中！退款金额￥0.40".to_owned()),
            "{dax:?}: {accepted}"
        );
        let refunds = w.sandbox.refunds();
        assert_eq!(refunds.len(), 1, "{dax:?}");
        assert_eq!(refunds[0].status, RefundOrderStatus::Progress, "{dax:?}");
        assert_eq!(status(&client.query(Number::Out("W1")).await.json()), "1");
        let meanwhile = client.refund(Number::Out("W1"), "0.10").await.json();
        assert_eq!(
            code_msg(&meanwhile),
            (
                -1,
                "退款未处理：该订单有正在处理的退款，请稍后再试".to_owned()
            ),
            "{dax:?}"
        );
        assert_eq!(
            w.sandbox.refunds().len(),
            1,
            "{dax:?}: nothing more refunded"
        );

        w.sandbox.succeed_refund(&refunds[0].refund_no).unwrap();
        for _ in 0..250 {
            if status(&client.query(Number::Out("W1")).await.json()) == "2" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status(&client.query(Number::Out("W1")).await.json()), "2");
        let rest = client.refund(Number::Out("W1"), "0.60").await.json();
        assert_eq!(rest["code"], 0, "{dax:?}: {rest}");
        let second = w.sandbox.refunds()[1].refund_no.clone();
        w.sandbox.succeed_refund(&second).unwrap();
        let done = || {
            w.sandbox
                .refunds()
                .iter()
                .all(|r| r.status == RefundOrderStatus::Success)
        };
        eventually("both refunds settled", done).await;
        let mut again = client.refund(Number::Out("W1"), "0.01").await.json();
        for _ in 0..250 {
            if again["msg"] == "该订单已全额退款！" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            again = client.refund(Number::Out("W1"), "0.01").await.json();
        }
        assert_eq!(
            code_msg(&again),
            (-1, "该订单已全额退款！".to_owned()),
            "{dax:?}: {again}"
        );
        let fen: Vec<u64> = w.sandbox.refunds().iter().map(|r| r.amount.fen()).collect();
        assert_eq!(fen, [40, 60], "{dax:?}");
    }
}

/// V2 on every version: create, query before and after payment, a refund with the merchant's
/// `out_refund_no`, `refundquery` by it, and a close of another (unpaid) order; every code-0
/// answer signed as SDK2 checks; the V2 notification RSA-signed with the platform key.
#[tokio::test]
async fn v2_create_query_refund_refundquery_close_on_every_daxpay() {
    for dax in DAXES {
        let w = world_on(dax).await;
        let client = w.client();
        let trade_no = v2_created(dax, &w, &create(&w, "V2A", "alipay", "V2全程", "2.00")).await;
        let before = v2(&client, "query", &[("out_trade_no", "V2A")]).await;
        client.sdk2_accepts(&before).unwrap();
        assert_eq!(
            (status(&before).as_str(), before["trade_no"].as_str()),
            ("0", Some(trade_no.as_str())),
            "{dax:?}: {before}"
        );
        assert_eq!(before["out_trade_no"], "V2A", "{dax:?}: {before}");
        paid(&w, "V2全程", &trade_no).await;
        let after = v2(&client, "query", &[("trade_no", &trade_no)]).await;
        client.sdk2_accepts(&after).unwrap();
        assert_eq!(status(&after), "1", "{dax:?}: {after}");
        let n = &w.site.wait_for(1, Duration::from_secs(5)).await[0];
        n.rsa_verified(keys::PLATFORM_PUBLIC_KEY)
            .unwrap_or_else(|e| panic!("{dax:?}: SDK2 verify: {e}: {n:?}"));
        n.business_checks("V2A", 200).unwrap();

        let refund = v2(
            &client,
            "refund",
            &[
                ("trade_no", &trade_no),
                ("money", "0.50"),
                ("out_refund_no", "VR-000001"),
            ],
        )
        .await;
        client
            .sdk2_accepts(&refund)
            .unwrap_or_else(|e| panic!("{dax:?}: {e}: {refund}"));
        assert_eq!(refund["msg"], "退款成功！退款金额¥0.50", "{dax:?}");
        assert_eq!(refund["out_refund_no"], "VR-000001");
        let refund_no = refund["refund_no"].as_str().unwrap().to_owned();
        assert_eq!(refund_no.len(), 19, "{dax:?}: epay's refund_no: {refund}");
        // Found by either number (2.0's refund query keeps no `attach`: the store has it).
        for by in [
            ("out_refund_no", "VR-000001"),
            ("refund_no", refund_no.as_str()),
        ] {
            let rq = v2(&client, "refundquery", &[by]).await;
            client.sdk2_accepts(&rq).unwrap();
            let got = (
                rq["money"].as_str(),
                status(&rq),
                rq["out_trade_no"].as_str(),
            );
            assert_eq!(
                got,
                (Some("0.50"), "1".to_owned(), Some("V2A")),
                "{dax:?} by {by:?}: {rq}"
            );
            assert_eq!(rq["refund_no"], refund_no.as_str(), "{dax:?}: {rq}");
        }
        let q = v2(&client, "query", &[("trade_no", &trade_no)]).await;
        assert_eq!(
            (status(&q).as_str(), q["refundmoney"].as_str()),
            ("2", Some("0.50")),
            "{dax:?}: {q}"
        );

        let other = v2_created(dax, &w, &create(&w, "V2B", "wxpay", "V2关单", "1")).await;
        let closed = v2(&client, "close", &[("trade_no", &other)]).await;
        client.sdk2_accepts(&closed).unwrap();
        assert_eq!(closed["msg"], "订单关闭成功", "{dax:?}");
        let order = dax_order(&w.sandbox, "V2关单");
        assert_eq!(
            order.status,
            paybridge_sandbox::OrderStatus::Close,
            "{dax:?}"
        );
        let q = v2(&client, "query", &[("out_trade_no", "V2B")]).await;
        assert_eq!(status(&q), "0", "{dax:?}: epay has no closed state: {q}");
    }
}

/// On 2.0 the epay and the Jeepay merchant share DaxPay's one identity: the same merchant
/// number on both sides names two orders (each its own prefix), and neither merchant can reach
/// the other's.
#[tokio::test]
async fn on_2_0_the_shared_identity_keeps_the_epay_and_the_jeepay_orders_apart() {
    let dax = Dax::new("2.0", "hmac_sha256");
    let w = world_on(dax).await;
    let client = w.client();
    let (trade_no, _) = mapi_created(
        dax,
        &client,
        &mapi(&w, "SAME1", "alipay", "pc", "同号", "1"),
    )
    .await;
    let body = common::jeepay_body(&[
        ("mchOrderNo", "SAME1"),
        ("wayCode", "WX_NATIVE"),
        ("amount", "300"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    let jeepay = common::post_json(w.proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(jeepay["code"], 0, "{jeepay}");
    let bizs: Vec<String> = w
        .sandbox
        .orders()
        .into_iter()
        .map(|o| o.biz_order_no)
        .collect();
    assert!(bizs.contains(&"EP-SAME1".to_owned()), "{bizs:?}");
    assert!(bizs.contains(&"JP-SAME1".to_owned()), "{bizs:?}");
    let q = client.query(Number::Out("SAME1")).await.json();
    assert_eq!(
        (q["trade_no"].as_str(), q["money"].as_str()),
        (Some(trade_no.as_str()), Some("1.00")),
        "the epay merchant's own order: {q}"
    );
    // The Jeepay merchant's DaxPay order number is no epay order of 1001.
    let jeepay_order = jeepay["data"]["payOrderId"].as_str().unwrap();
    let q = client.query(Number::Trade(jeepay_order)).await.json();
    assert_eq!(code_msg(&q), (-1, "订单号不存在".to_owned()), "{q}");
}
