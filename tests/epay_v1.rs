//! epay V1 (彩虹易支付 `mapi.php`, `submit.php`, `api.php`) through paybridge onto DaxPay, with an
//! epay client written from epay.md only (`tests/common/epay`). First the client itself, pinned
//! by §15's MD5 vectors, so that its checks below mean what epay means.

mod binary;
mod common;

use common::epay::sign;

mod client_pinned_by_vectors {
    use super::*;

    const KEY: &str = common::epay::KEY;

    #[test]
    fn e1_page_payment() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "20160806151343349"),
            ("notify_url", "http://www.pay.com/notify_url.php"),
            ("return_url", "http://www.pay.com/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(sign::md5_sign(&p, KEY), "427724b6656aa612cfdbe7a2262036a3");
    }

    #[test]
    fn e2_empty_values_and_stale_sign() {
        let p = [
            ("pid", "1001"),
            ("type", "wxpay"),
            ("out_trade_no", "ORDER-2024_0001"),
            ("notify_url", "https://shop.example.com/notify"),
            ("return_url", ""),
            ("name", "Test"),
            ("money", "0.01"),
            ("clientip", "192.168.1.100"),
            ("device", ""),
            ("param", ""),
            ("sign", "ignored"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(
            sign::md5_string(&p),
            "clientip=192.168.1.100&money=0.01&name=Test&notify_url=https://shop.example.com/notify&out_trade_no=ORDER-2024_0001&pid=1001&type=wxpay"
        );
        assert_eq!(sign::md5_sign(&p, KEY), "74aefe7c1c5cd6b96136c22d822f7333");
    }

    #[test]
    fn e5_whitespace_is_signed_by_sdk1() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "Z1"),
            ("notify_url", "https://shop.example.com/n"),
            ("return_url", "https://shop.example.com/r"),
            ("name", "n"),
            ("money", "5.00"),
            ("param", "0"),
            ("sitename", " "),
        ];
        assert_eq!(sign::md5_sign(&p, KEY), "90f639d4a56afa2e9351d728ac1a3e91");
    }

    #[test]
    fn e7_notification_url_verifies_as_sdk1_does() {
        let url = "https://shop.example.com/notify.php?pid=1001&trade_no=2024070112000012345&out_trade_no=20160806151343349&type=alipay&name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB&money=1.5&trade_status=TRADE_SUCCESS&param=uid%3D7%26amp%3Bfrom%3Dapp&sign=a872b215c2dbd68864aaa2a8b94b167b&sign_type=MD5";
        let params = common::epay::query_pairs(url);
        assert!(sign::md5_verify(&sign::pairs(&params), KEY));
        let tampered = url.replace("money=1.5", "money=1.50");
        let params = common::epay::query_pairs(&tampered);
        assert!(!sign::md5_verify(&sign::pairs(&params), KEY));
        assert_eq!(common::epay::merchant::round2_fen("1.5"), Some(150));
    }
}

use std::time::Duration;

use common::epay::world::{dax_order, world, world_answering, World};
use common::epay::{browser_target, query_pairs, EpayClient, Number, KEY, PID};
use serde_json::Value;

/// A `mapi.php` request's fields: merchant 1001, `type`, `out_trade_no`, `name` (distinct per
/// order: it finds the DaxPay order), money, the merchant site's URLs.
fn pay<'a>(
    w: &'a World,
    no: &'a str,
    pay_type: &'a str,
    name: &'a str,
    money: &'a str,
) -> Vec<(String, String)> {
    [
        ("pid", PID.to_owned()),
        ("type", pay_type.to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("return_url", w.site.return_url()),
        ("name", name.to_owned()),
        ("money", money.to_owned()),
        ("clientip", "192.168.1.100".to_owned()),
        ("device", "pc".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn view(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    common::epay::sign::pairs(fields)
}

/// Creates through `mapi.php`; the answer must be epay's success: code 1, a 19-digit
/// `trade_no`, exactly one of `payurl`, `qrcode`, `urlscheme`, `html`, and no signature.
async fn created(client: &EpayClient, fields: &[(String, String)]) -> (String, Value) {
    let answer = client.mapi(&view(fields)).await;
    assert_eq!(answer.status, 200);
    let ct = answer.headers["content-type"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(ct.starts_with("application/json"), "{ct}");
    let json = answer.json();
    assert_eq!(json["code"], 1, "{json}");
    let trade_no = json["trade_no"].as_str().expect("trade_no").to_owned();
    assert!(
        trade_no.len() == 19 && trade_no.bytes().all(|b| b.is_ascii_digit()),
        "epay-style trade_no: {trade_no}"
    );
    let shown: Vec<&str> = ["payurl", "qrcode", "urlscheme", "html"]
        .into_iter()
        .filter(|k| json.get(*k).is_some())
        .collect();
    assert_eq!(shown.len(), 1, "{json}");
    assert!(
        json.get("sign").is_none(),
        "V1 answers carry no signature: {json}"
    );
    (trade_no, json)
}

async fn query(client: &EpayClient, number: Number<'_>) -> Value {
    client.query(number).await.json()
}

#[tokio::test]
async fn v1_create_for_each_mapped_type() {
    let w = world(None, "").await;
    let client = w.client();
    // §16's table: the way code, then DaxPay's channel and method, then epay's answer field.
    for (i, (pay_type, device, channel, method, field)) in [
        ("alipay", "pc", "ali_pay", "web", "payurl"),
        ("alipay", "mobile", "ali_pay", "wap", "payurl"),
        ("wxpay", "pc", "wechat_pay", "qrcode", "qrcode"),
        ("wxpay", "mobile", "wechat_pay", "wap", "payurl"),
    ]
    .into_iter()
    .enumerate()
    {
        let no = format!("T{i}");
        let name = format!("商品{i}");
        let mut fields = pay(&w, &no, pay_type, &name, "12.30");
        fields.retain(|(k, _)| k != "device");
        fields.push(("device".into(), device.into()));
        let (_, json) = created(&client, &fields).await;
        let order = dax_order(&w.sandbox, &name);
        assert_eq!(order.amount.fen(), 1230, "{pay_type}/{device}: money exact");
        assert_eq!(
            (order.channel.as_str(), order.method.as_str()),
            (channel, method),
            "{pay_type}/{device}: {json}"
        );
        assert!(json.get(field).is_some(), "{pay_type}/{device}: {json}");
    }
    // Types with no DaxPay counterpart (`qqpay`, `jdpay`), or none in open-source DaxPay 3.0
    // (`bank`: union_pay has no pay strategy there): epay's own text, nothing created.
    for (no, pay_type) in [("TQ", "qqpay"), ("TB", "bank"), ("TJ", "jdpay")] {
        let answer = client.mapi(&view(&pay(&w, no, pay_type, no, "1"))).await;
        assert!(
            answer.body.contains("支付方式(type)不存在"),
            "{pay_type}: {}",
            answer.body
        );
        assert!(w
            .sandbox
            .orders()
            .iter()
            .all(|o| o.title.as_deref() != Some(no)));
    }
}

#[tokio::test]
async fn v1_query_before_and_after_payment() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&client, &pay(&w, "Q1", "alipay", "查询", "1.50")).await;
    let before = query(&client, Number::Trade(&trade_no)).await;
    assert_eq!(before["code"], 1, "{before}");
    assert_eq!(before["trade_no"], trade_no.as_str());
    assert_eq!(before["out_trade_no"], "Q1");
    assert_eq!(before["type"], "alipay");
    assert_eq!(before["money"], "1.50");
    assert_eq!(before["name"], "查询");
    assert_eq!(before["status"].to_string().trim_matches('"'), "0");
    assert!(before["endtime"].is_null(), "{before}");
    assert_eq!(before["pid"].to_string().trim_matches('"'), PID);

    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "查询").order_no)
        .unwrap();
    let mut after = query(&client, Number::Out("Q1")).await;
    for _ in 0..100 {
        if after["status"].to_string().trim_matches('"') == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = query(&client, Number::Out("Q1")).await;
    }
    assert_eq!(
        after["status"].to_string().trim_matches('"'),
        "1",
        "{after}"
    );
    assert_eq!(after["trade_no"], trade_no.as_str());
    assert!(after["endtime"].is_string(), "set when paid: {after}");
}

/// Pays the order named `name` at DaxPay and waits until paybridge's query says status 1.
async fn paid(w: &World, client: &EpayClient, name: &str, trade_no: &str) {
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, name).order_no)
        .unwrap();
    for _ in 0..250 {
        let q = query(client, Number::Trade(trade_no)).await;
        if q["status"].to_string().trim_matches('"') == "1" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{trade_no} never paid");
}

#[tokio::test]
async fn v1_partial_and_full_refunds_and_an_over_refund_refused() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&client, &pay(&w, "R1", "wxpay", "退款", "1.00")).await;
    paid(&w, &client, "退款", &trade_no).await;

    let first = client.refund(Number::Trade(&trade_no), "0.30").await.json();
    assert_eq!(first["code"], 0, "refund success is code 0: {first}");
    let over = client.refund(Number::Out("R1"), "0.71").await.json();
    assert_eq!(
        (over["code"].as_i64(), over["msg"].as_str()),
        (Some(-1), Some("退款金额不能超过该订单剩余可退款金额！")),
        "build 3094's cumulative refunds: {over}"
    );
    let q = query(&client, Number::Trade(&trade_no)).await;
    assert_eq!(
        q["status"].to_string().trim_matches('"'),
        "2",
        "refunded in part: {q}"
    );
    let rest = client.refund(Number::Out("R1"), "0.70").await.json();
    assert_eq!(rest["code"], 0, "{rest}");
    let again = client.refund(Number::Out("R1"), "0.01").await.json();
    assert_eq!(
        (again["code"].as_i64(), again["msg"].as_str()),
        (Some(-1), Some("该订单已全额退款！")),
        "{again}"
    );
    let refunds = w.sandbox.refunds();
    let fen: Vec<u64> = refunds.iter().map(|r| r.amount.fen()).collect();
    assert_eq!(fen, [30, 70], "exact amounts reached DaxPay: {refunds:?}");
}

#[tokio::test]
async fn v1_notification_verified_as_epaycore_and_acknowledged_once() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&client, &pay(&w, "N1", "alipay", "VIP会员 A&B", "1.50")).await;
    assert!(w.site.received().is_empty(), "nothing before payment");
    let order_no = dax_order(&w.sandbox, "VIP会员 A&B").order_no;
    w.sandbox.pay_order(&order_no).unwrap();
    let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    // DaxPay calls twice more: still one delivery (acknowledged by `success`).
    assert!(w.sandbox.send_callback_again(&order_no));
    assert!(w.sandbox.send_callback_again(&order_no));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = w.site.received();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let n = &seen[0];
    assert_eq!(n.path, "/notify.php");
    assert!(n.body.is_empty());
    assert!(n.md5_verified(KEY), "SDK1 verifyNotify: {n:?}");
    n.business_checks("N1", 150).unwrap();
    assert_eq!(n.get("trade_no"), Some(trade_no.as_str()));
    assert_eq!(n.get("pid"), Some(PID));
    assert_eq!(n.get("type"), Some("alipay"));
    assert_eq!(n.get("money"), Some("1.5"), "PHP float form");
    assert_eq!(n.get("sign_type"), Some("MD5"));
    let names: Vec<&str> = n.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "pid",
            "trade_no",
            "out_trade_no",
            "type",
            "name",
            "money",
            "trade_status",
            "sign",
            "sign_type"
        ],
        "§11's order, no param (none was given)"
    );
    // The name as the gateway stores and echoes it (§9: `htmlspecialchars(addslashes())`).
    assert_eq!(n.get("name"), Some("VIP会员 A&amp;B"));
}

#[tokio::test]
async fn v1_notification_echoes_param_as_the_gateway_stores_it() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "N3", "wxpay", "参数", "1.00");
    fields.push(("param".into(), "uid=7&from=app".into()));
    let (trade_no, _) = created(&client, &fields).await;
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "参数").order_no)
        .unwrap();
    let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
    let n = &seen[0];
    assert!(n.md5_verified(KEY), "{n:?}");
    n.business_checks("N3", 100).unwrap();
    let names: Vec<&str> = n.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "pid",
            "trade_no",
            "out_trade_no",
            "type",
            "name",
            "money",
            "trade_status",
            "param",
            "sign",
            "sign_type"
        ],
        "§11's order (3065/3094), param after trade_status"
    );
    assert_eq!(
        n.get("param"),
        Some("uid=7&amp;from=app"),
        "E7's stored form"
    );
    assert_eq!(n.get("money"), Some("1"));
    let q = query(&client, Number::Trade(&trade_no)).await;
    assert_eq!(
        q["param"], "uid=7&amp;from=app",
        "the query answers the stored form too: {q}"
    );
}

#[tokio::test]
async fn v1_money_is_exact_both_ways() {
    let w = world(None, "").await;
    let client = w.client();
    // §9: accepted forms, stored as decimal(10,2) (half away from zero); §16: fen = that × 100.
    for (i, (money, fen, text)) in [
        ("0.01", 1, "0.01"),
        ("01.50", 150, "1.50"),
        (".5", 50, "0.50"),
        ("1.", 100, "1.00"),
        ("1.005", 101, "1.01"),
        ("99999.99", 9_999_999, "99999.99"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("金额{i}");
        let (trade_no, _) =
            created(&client, &pay(&w, &format!("M{i}"), "alipay", &name, money)).await;
        assert_eq!(dax_order(&w.sandbox, &name).amount.fen(), fen, "{money}");
        let q = query(&client, Number::Trade(&trade_no)).await;
        assert_eq!(q["money"], text, "{money}: {q}");
    }
}

#[tokio::test]
async fn v1_notification_retried_until_the_body_contains_success() {
    // epay's rule (§11): the body must contain `success`, `SUCCESS` or `Success`; the HTTP
    // status is ignored. `ok` and `fail` are not acknowledgements; `Success` inside text is.
    let w = world_answering(
        None,
        "",
        &["fail", "ok", "<p>Result: Success</p>", "success"],
    )
    .await;
    let client = w.client();
    created(&client, &pay(&w, "N2", "wxpay", "重试", "0.10")).await;
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "重试").order_no)
        .unwrap();
    let seen = w.site.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = w.site.received();
    assert_eq!(seen.len(), 3, "acknowledged by the third answer: {seen:?}");
    for n in &seen {
        assert!(n.md5_verified(KEY), "{n:?}");
        n.business_checks("N2", 10).unwrap();
        assert_eq!(n.get("money"), Some("0.1"));
    }
    assert_eq!(
        seen[0].raw_query, seen[2].raw_query,
        "a V1 notification is the same each time"
    );
}

#[tokio::test]
async fn v1_the_return_redirect_is_signed_as_the_notification() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&client, &pay(&w, "B1", "alipay", "回跳", "2.00")).await;
    let order = dax_order(&w.sandbox, "回跳");
    let given = order.return_url.clone().expect("paybridge's return URL");
    assert!(
        given.starts_with(&format!("http://{}/", w.proxy)),
        "{given}"
    );
    w.sandbox.pay_order(&order.order_no).unwrap();
    let path = given.trim_start_matches(&format!("http://{}", w.proxy));
    let answer = common::send(w.proxy, "GET", path, None, "", &[]).await;
    let target = browser_target(&answer.headers, &answer.body)
        .unwrap_or_else(|| panic!("no redirect: {} {}", answer.status, answer.body));
    assert!(target.starts_with(&w.site.return_url()), "{target}");
    let params = query_pairs(&target);
    let pairs = common::epay::sign::pairs(&params);
    assert!(
        common::epay::sign::md5_verify(&pairs, KEY),
        "SDK1 verifyReturn: {target}"
    );
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("trade_no"), Some(trade_no.as_str()));
    assert_eq!(get("trade_status"), Some("TRADE_SUCCESS"));
    assert_eq!(get("money"), Some("2"));
}

#[tokio::test]
async fn v1_submit_sends_the_browser_on() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "S1", "alipay", "页面", "3.00");
    fields.retain(|(k, _)| k != "clientip");
    let link = client.submit_get(&view(&fields)).await;
    let target = browser_target(&link.headers, &link.body)
        .unwrap_or_else(|| panic!("no redirect: {} {}", link.status, link.body));
    assert!(target.starts_with("http"), "{target}");
    let form = client.submit_post(&view(&fields)).await;
    assert!(
        browser_target(&form.headers, &form.body).is_some(),
        "{}",
        form.body
    );
    assert_eq!(
        w.sandbox
            .orders()
            .iter()
            .filter(|o| o.title.as_deref() == Some("页面"))
            .count(),
        1,
        "the identical re-submit reuses the order"
    );
    fields.retain(|(k, _)| k != "return_url");
    let page = client.submit_post(&view(&fields)).await;
    assert!(
        page.body.contains("回调地址(return_url)不能为空"),
        "{}",
        page.body
    );
}

/// A WeChat pay from a PC browser is a QR code to scan: the page draws it (inline SVG) from
/// exactly the channel's content, and links the content for a payer already on the phone.
#[tokio::test]
async fn v1_submit_wxpay_from_a_pc_is_a_scannable_qr_page() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "S2", "wxpay", "扫码", "0.01");
    fields.retain(|(k, _)| k != "clientip");
    let page = client.submit_get(&view(&fields)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("请使用微信扫码支付"), "{}", page.body);
    let link = page
        .body
        .split("<a href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link: {}", page.body))
        .replace("&amp;", "&");
    assert!(link.starts_with("weixin://"), "{link}");
    let drawn = qrcode::QrCode::new(link.as_bytes())
        .unwrap()
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let svg = &drawn[drawn.find("<svg").unwrap()..];
    assert!(
        page.body.contains(svg),
        "the QR code of the content: {}",
        page.body
    );
    assert!(
        !page.body.contains("<?xml"),
        "no XML declaration inside HTML"
    );
}

#[tokio::test]
async fn v1_every_refusal_with_its_exact_text() {
    let w = world(None, "").await;
    let client = w.client();
    let msg = |v: &Value| {
        (
            v["code"].as_i64().unwrap_or(99),
            v["msg"].as_str().unwrap_or("").to_owned(),
        )
    };
    // Signature: build 3094's code and text (operations-mapping.md: 3094 where the builds
    // differ).
    let mut form = client.v1_signed(&view(&pay(&w, "E1", "alipay", "e", "1")));
    form.iter_mut().find(|(k, _)| k == "money").unwrap().1 = "2".into();
    let bad = client.post_form("/mapi.php", &form).await.json();
    assert_eq!(msg(&bad), (-3, "MD5签名校验失败".to_owned()), "{bad}");
    let upper: Vec<(String, String)> = client
        .v1_signed(&view(&pay(&w, "E1", "alipay", "e", "1")))
        .into_iter()
        .map(|(k, v)| {
            if k == "sign" {
                (k, v.to_uppercase())
            } else {
                (k, v)
            }
        })
        .collect();
    assert_eq!(
        msg(&client.post_form("/mapi.php", &upper).await.json()),
        (-3, "MD5签名校验失败".to_owned()),
        "upper case refused (`===`)"
    );
    let base = pay(&w, "E2", "alipay", "e2", "1");
    let without = |name: &str| -> Vec<(String, String)> {
        base.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    for (fields, text) in [
        (without("out_trade_no"), "订单号(out_trade_no)不能为空"),
        (without("notify_url"), "通知地址(notify_url)不能为空"),
        (without("name"), "商品名称(name)不能为空"),
        (without("money"), "金额(money)不能为空"),
        (without("type"), "支付方式(type)不能为空"),
        (without("clientip"), "用户IP地址(clientip)不能为空"),
    ] {
        let a = client.mapi(&view(&fields)).await.json();
        assert_eq!(msg(&a), (-1, text.to_owned()), "{a}");
    }
    for (money, text) in [
        ("0", "金额(money)不能为空"),
        ("1e2", "金额不合法"),
        ("-1", "金额不合法"),
    ] {
        let mut fields = base.clone();
        fields.iter_mut().find(|(k, _)| k == "money").unwrap().1 = money.into();
        assert_eq!(
            msg(&client.mapi(&view(&fields)).await.json()),
            (-1, text.to_owned()),
            "{money}"
        );
    }
    let mut fields = base.clone();
    fields
        .iter_mut()
        .find(|(k, _)| k == "out_trade_no")
        .unwrap()
        .1 = "A B".into();
    assert_eq!(
        msg(&client.mapi(&view(&fields)).await.json()),
        (-1, "订单号(out_trade_no)格式不正确".to_owned())
    );
    created(&client, &base).await;
    // Unknown merchant; no parameters at all.
    let mut other = client.clone();
    other.pid = "9999".into();
    let mut fields = base.clone();
    fields[0].1 = "9999".into();
    assert_eq!(
        msg(&other.mapi(&view(&fields)).await.json()),
        (-1, "商户不存在！".to_owned())
    );
    let empty = common::send(
        w.proxy,
        "POST",
        "/mapi.php",
        Some(common::epay::client::FORM),
        "",
        &[],
    )
    .await;
    // `mapi.php`'s literal, its space included.
    assert_eq!(empty.body, r#"{"code":-4, "msg":"未传入任何参数"}"#);
    assert_eq!(
        empty.headers["content-type"],
        "application/json; charset=UTF-8"
    );
    // Query and refund: the key in clear; unknown orders.
    let mut wrong = client.clone();
    wrong.key = "x".repeat(32);
    assert_eq!(
        msg(&query(&wrong, Number::Out("E2")).await),
        (-3, "商户密钥错误".to_owned())
    );
    assert_eq!(
        msg(&query(&client, Number::Out("NOPE")).await),
        (-1, "订单号不存在".to_owned())
    );
    let none = client
        .get_query(
            "/api.php",
            &[
                ("act".into(), "order".into()),
                ("pid".into(), PID.into()),
                ("key".into(), KEY.into()),
            ],
        )
        .await
        .json();
    assert_eq!(msg(&none), (-4, "订单号不能为空".to_owned()));
    assert_eq!(
        msg(&client.refund(Number::Out("NOPE"), "1").await.json()),
        (-1, "当前订单不存在！".to_owned())
    );
    assert_eq!(
        msg(&client.refund(Number::Out("E2"), "x").await.json()),
        (-1, "金额输入错误".to_owned())
    );
    let unpaid = client.refund(Number::Out("E2"), "0.5").await.json();
    assert_eq!(
        msg(&unpaid),
        (-1, "该订单状态不支持退款！".to_owned()),
        "an unpaid order is not refunded, in 3094's words"
    );
}

#[tokio::test]
async fn a_jeepay_merchant_on_the_same_listener_is_unaffected() {
    let w = world(None, "").await;
    let body = common::jeepay_body(&[
        ("mchOrderNo", "J1"),
        ("wayCode", "WX_NATIVE"),
        ("amount", "100"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", "http://127.0.0.1:9/n"),
    ]);
    let answer = common::post_json(w.proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(common::sdk_accepts(&answer, common::JEEPAY_SECRET));
    let pay_order_id = answer["data"]["payOrderId"].as_str().unwrap();
    let q = common::post_json(
        w.proxy,
        "/api/pay/query",
        &common::jeepay_body(&[("payOrderId", pay_order_id)]),
    )
    .await
    .json();
    assert_eq!(q["code"], 0, "{q}");
    assert!(common::sdk_accepts(&q, common::JEEPAY_SECRET));
    // And an epay order alongside.
    created(&w.client(), &pay(&w, "J1", "alipay", "并存", "1")).await;
}

#[tokio::test]
async fn v1_repeated_out_trade_no_as_the_gateway_treats_it() {
    let w = world(None, "").await;
    let client = w.client();
    let base = pay(&w, "D1", "alipay", "重复", "1.00");
    let (trade_no, _) = created(&client, &base).await;
    // Identical: the same order again (§6.1 step 16).
    let (again, _) = created(&client, &base).await;
    assert_eq!(again, trade_no);
    // Changed: refused in epay's words.
    let mut changed = base.clone();
    changed.iter_mut().find(|(k, _)| k == "money").unwrap().1 = "2".into();
    let a = client.mapi(&view(&changed)).await.json();
    assert_eq!(
        (a["code"].as_i64(), a["msg"].as_str()),
        (
            Some(-1),
            Some("该订单(D1)支付参数有变化，请更换订单号重新发起支付")
        ),
        "{a}"
    );
    // Paid: refused in epay's words.
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "重复").order_no)
        .unwrap();
    w.site.wait_for(1, Duration::from_secs(5)).await;
    let a = client.mapi(&view(&base)).await.json();
    assert_eq!(
        (a["code"].as_i64(), a["msg"].as_str()),
        (Some(-1), Some("该订单(D1)已完成支付，请勿重复发起支付")),
        "{a}"
    );
}

#[tokio::test]
async fn v1_submit_refusals_are_html_pages_with_epays_texts() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "SP1", "alipay", "页面错", "1");
    fields.retain(|(k, _)| k != "clientip");
    for (name, text) in [
        ("notify_url", "通知地址(notify_url)不能为空"),
        ("name", "商品名称(name)不能为空"),
        ("out_trade_no", "订单号(out_trade_no)不能为空"),
    ] {
        let without: Vec<(String, String)> =
            fields.iter().filter(|(k, _)| k != name).cloned().collect();
        let page = client.submit_get(&view(&without)).await;
        let ct = page.headers["content-type"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(page.body.contains(text), "{name}: {}", page.body);
        assert!(
            page.body.contains("站点提示信息"),
            "the sysmsg page: {}",
            page.body
        );
    }
    let mut bad = client.v1_signed(&view(&fields));
    bad.iter_mut().find(|(k, _)| k == "name").unwrap().1 = "改".into();
    let page = client.get_query("/submit.php", &bad).await;
    assert!(
        page.body.contains("签名校验失败，请返回重试！") || page.body.contains("MD5签名校验失败"),
        "{}",
        page.body
    );
    assert!(
        w.sandbox.orders().is_empty(),
        "nothing refused reached DaxPay"
    );
}

/// V1 sends the merchant key in clear (`api.php`: in the query string for `act=order`, in the
/// body for `act=refund`): it must never reach paybridge's log, even at DEBUG.
#[tokio::test]
async fn the_merchant_key_never_reaches_the_debug_log() {
    let (sb, _sandbox) = common::start_sandbox(&common::epay::world::sandbox_config()).await;
    let unused: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let toml = common::epay::world::proxy_config(sb.addr, unused, 50);
    let mut served = binary::Served::start(&toml, "debug");
    let addr = served.address("paybridge serving");
    let client = common::epay::client(addr);
    let created = client
        .mapi(&[
            ("pid", PID),
            ("type", "alipay"),
            ("out_trade_no", "LOG1"),
            ("notify_url", "http://127.0.0.1:9/n"),
            ("name", "日志"),
            ("money", "1"),
            ("clientip", "192.168.1.100"),
        ])
        .await
        .json();
    assert_eq!(created["code"], 1, "{created}");
    assert_eq!(query(&client, Number::Out("LOG1")).await["code"], 1);
    assert_eq!(query(&client, Number::Out("NOPE")).await["code"], -1);
    let mut wrong = client.clone();
    wrong.key = format!("{KEY}x");
    assert_eq!(query(&wrong, Number::Out("LOG1")).await["code"], -3);
    assert_eq!(
        client.refund(Number::Out("LOG1"), "0.5").await.json()["code"],
        -1
    );
    assert_eq!(
        wrong.refund(Number::Out("LOG1"), "0.5").await.json()["code"],
        -3
    );
    served.drain(Duration::from_millis(500));
    let all = served.all();
    assert!(
        all.matches("paybridge::access").count() >= 6,
        "every request logged: {all}"
    );
    assert!(!all.contains(KEY), "the merchant key is in the log: {all}");
    assert!(!all.contains("key="), "{all}");
}

/// The same when the request passes through to a legacy epay gateway (and falls back).
#[tokio::test]
async fn the_merchant_key_never_reaches_the_debug_log_on_passthrough() {
    let (sb, _sandbox) = common::start_sandbox(&common::epay::world::sandbox_config()).await;
    let orders = [("2024070112000012345", "LEGACY-PAID", "1.50", 1u8)];
    let (lg, _legacy) = common::start_legacy(&common::epay::world::legacy_epay_toml(&orders)).await;
    let unused: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let toml = common::epay::world::proxy_config(sb.addr, unused, 50)
        + &format!(
            "\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n\
             [routing]\ndefault = {{ action = \"passthrough\", upstream = \"legacy\", fallback = \"merchant\" }}\n",
            lg.addr
        );
    let mut served = binary::Served::start(&toml, "debug");
    let addr = served.address("paybridge serving");
    let client = common::epay::client(addr);
    assert_eq!(
        query(&client, Number::Out("LEGACY-PAID")).await["status"],
        1
    );
    assert_eq!(
        query(&client, Number::Out("NOPE")).await["code"],
        -1,
        "asked on both sides"
    );
    let refund = client
        .refund(Number::Out("LEGACY-PAID"), "0.10")
        .await
        .json();
    assert_eq!(refund["code"], 0, "{refund}");
    served.drain(Duration::from_millis(500));
    let all = served.all();
    assert!(
        all.matches("paybridge::access").count() >= 3,
        "every request logged: {all}"
    );
    assert!(!all.contains(KEY), "the merchant key is in the log: {all}");
    assert!(!all.contains("key="), "{all}");
}

/// Review finding 5: `mapi.php` with `device=jump` asks for a URL only (epay.md §6.2: "always
/// `payurl`"): wxpay answers `payurl`, never `qrcode`.
#[tokio::test]
async fn v1_device_jump_answers_payurl_for_wxpay() {
    let w = world(None, "").await;
    let mut fields = pay(&w, "J1", "wxpay", "跳转支付", "1");
    fields.iter_mut().find(|(k, _)| k == "device").unwrap().1 = "jump".into();
    let (_, json) = created(&w.client(), &fields).await;
    let url = json["payurl"]
        .as_str()
        .unwrap_or_else(|| panic!("payurl: {json}"));
    assert!(url.starts_with("http"), "{json}");
}

/// Review finding 9: an array parameter (`extra[k]=…`) is left out of the signature by build
/// 3094, which then carries on: the request is served, not refused with a text of paybridge's.
#[tokio::test]
async fn v1_an_array_parameter_is_left_out_as_the_gateway_does() {
    let w = world(None, "").await;
    let client = w.client();
    let mut form = client.v1_signed(&view(&pay(&w, "ARR1", "alipay", "数组参数", "1")));
    form.push(("extra[k]".to_owned(), "v".to_owned()));
    form.push(("list[]".to_owned(), "1".to_owned()));
    let json = client.post_form("/mapi.php", &form).await.json();
    assert_eq!(json["code"], 1, "{json}");
}

/// Review finding 9: the gateway takes any `out_trade_no` length (its column keeps 150
/// characters); DaxPay keeps 100, so a longer one is refused before anything is sent, in the
/// gateway's form (code -1, the field named as epay names it) with the limit said.
#[tokio::test]
async fn v1_an_out_trade_no_over_100_is_refused_with_its_limit() {
    let w = world(None, "").await;
    let long = "L".repeat(101);
    let json = w
        .client()
        .mapi(&view(&pay(&w, &long, "alipay", "长订单号", "1")))
        .await
        .json();
    assert_eq!(
        (json["code"].as_i64(), json["msg"].as_str()),
        (Some(-1), Some("订单号(out_trade_no)不能超过100个字符")),
        "{json}"
    );
    assert!(w.sandbox.orders().is_empty());
}

/// Review finding 4: a V1 refund's `refund_no` is epay's 19-digit number and equals its
/// `out_refund_no` (§6.5, G3094), never DaxPay's refund number.
#[tokio::test]
async fn v1_refund_no_is_epays_19_digits_and_its_out_refund_no() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&client, &pay(&w, "RN1", "alipay", "退款号", "1.00")).await;
    paid(&w, &client, "退款号", &trade_no).await;
    let json = client.refund(Number::Trade(&trade_no), "0.50").await.json();
    assert_eq!(json["code"], 0, "{json}");
    let refund_no = json["refund_no"].as_str().unwrap();
    assert!(
        refund_no.len() == 19 && refund_no.bytes().all(|b| b.is_ascii_digit()),
        "{json}"
    );
    assert_eq!(json["out_refund_no"].as_str(), Some(refund_no), "{json}");
}

/// Review finding 6: `submit.php` without `type` (V2Board/Xboard's default, epay.md §14) is the
/// cashier, as at the gateway: the payer picks one of the merchant's types, and the pick creates
/// the order with exactly the merchant's signed parameters.
#[tokio::test]
async fn v1_submit_without_type_is_the_cashier_and_the_payers_pick_pays() {
    use common::epay::cashier::{action, choices, hidden_fields, post_path};
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "CS1", "alipay", "收银台", "2.50");
    fields.retain(|(k, _)| k != "clientip" && k != "type" && k != "device");
    let page = client.submit_get(&view(&fields)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("收银台"), "{}", page.body);
    let offered = choices(&page.body);
    let types: Vec<&str> = offered.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        types,
        ["alipay", "wxpay"],
        "the merchant's types: {}",
        page.body
    );
    assert!(
        w.sandbox.orders().is_empty(),
        "nothing made before the pick"
    );
    let hidden = hidden_fields(&page.body);
    assert_eq!(
        hidden,
        client.v1_signed(&view(&fields)),
        "sent back as signed"
    );
    assert_eq!(
        action(&page.body).as_deref(),
        Some("submit.php"),
        "relative"
    );
    let path = post_path("/submit.php", &page.body).unwrap();
    assert_eq!(path, "/submit.php");
    // Behind a path prefix (`public_url = "https://pay.example/epay"`) it stays under it.
    assert_eq!(
        post_path("/epay/submit.php", &page.body).as_deref(),
        Some("/epay/submit.php")
    );
    // The payer picks alipay: the browser posts the form with that button.
    let (button, alipay) = offered[0].clone();
    let mut picked = hidden.clone();
    picked.push((button.clone(), alipay));
    let paid = client.post_form(&path, &picked).await;
    let target = browser_target(&paid.headers, &paid.body)
        .unwrap_or_else(|| panic!("sent on to pay: {}", paid.body));
    assert!(target.starts_with("http"), "{target}");
    let order = dax_order(&w.sandbox, "收银台");
    assert_eq!(
        (order.channel.as_str(), order.amount.fen()),
        ("ali_pay", 250)
    );
    // The payer cannot change what the merchant signed: another amount is refused.
    let mut tampered = picked.clone();
    tampered.iter_mut().find(|(k, _)| k == "money").unwrap().1 = "0.01".into();
    let refused = client.post_form(&path, &tampered).await;
    assert!(refused.body.contains("站点提示信息"), "{}", refused.body);
    assert!(refused.body.contains("签名校验失败"), "{}", refused.body);
}

/// The payer's pick never overrides a `type` the merchant signed, and is no parameter of the
/// server-to-server `mapi.php` (where an unsigned extra parameter fails the signature).
#[tokio::test]
async fn v1_the_payers_pick_never_overrides_a_signed_type() {
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = pay(&w, "CS2", "alipay", "已选类型", "1.00");
    fields.retain(|(k, _)| k != "clientip");
    let mut form = client.v1_signed(&view(&fields));
    form.push(("__paytype".to_owned(), "wxpay".to_owned()));
    let page = client.post_form("/submit.php", &form).await;
    assert!(
        browser_target(&page.headers, &page.body).is_some(),
        "{}",
        page.body
    );
    assert_eq!(dax_order(&w.sandbox, "已选类型").channel, "ali_pay");
    let mut mapi = client.v1_signed(&view(&pay(&w, "CS3", "alipay", "接口", "1.00")));
    mapi.push(("__paytype".to_owned(), "wxpay".to_owned()));
    let json = client.post_form("/mapi.php", &mapi).await.json();
    assert_ne!(json["code"], 1, "{json}");
}

/// Review finding 10: `paybridge check` says the schedule epay merchants get (epay's own, 1, 3,
/// 19 and 55 minutes, unless `[notify]` sets one), not only Jeepay's.
#[test]
fn check_says_the_epay_merchants_notify_schedule() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["check", "--config", "config/paybridge.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    let line = summary
        .lines()
        .find(|l| l.starts_with("notify (epay merchants)"))
        .unwrap_or_else(|| panic!("no epay notify line: {summary}"));
    assert!(line.contains("0, 1, 3, 19 and 55 min"), "{line}");
    let toml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/paybridge.toml"
    ))
    .unwrap();
    assert!(
        toml.contains(
            "epay merchants: epay's own\n# schedule by default (5 GETs at 0, 1, 3, 19 and 55 min"
        ),
        "the [notify] comment says both schedules"
    );
}
