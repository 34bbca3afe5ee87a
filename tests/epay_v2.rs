//! epay V2 (`/api/pay/*`, SHA256WithRSA with a timestamp) through paybridge onto DaxPay, with
//! the epay client of `tests/common/epay`. First the client's RSA, pinned by §15's E9–E11.

mod common;

use common::epay::{keys, sign};

mod client_pinned_by_vectors {
    use super::*;

    #[test]
    fn e9_request() {
        let p = [
            ("pid", "1000"),
            ("method", "web"),
            ("device", "pc"),
            ("type", "alipay"),
            ("out_trade_no", "20240717100000001"),
            ("notify_url", "http://127.0.0.1/SDK/notify_url.php"),
            ("return_url", "http://127.0.0.1/SDK/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("clientip", "192.168.1.100"),
            ("param", ""),
            ("timestamp", "1721206072"),
            ("sign_type", "RSA"),
        ];
        let expected = "Kq3372xbu7867BrKVSFiYzzcBgtL/Y+4fssFNERem/Y0fDMsVWeK5DLDWlfmNsUEpWvkXe/eLYkeX4+t5Hmvw0qcS79uwK1S8krr2d3wn8VYYHOJumljcYeTfJnhKJpFy/bT4IiET2xmTz41+Hn844vwTjj67zQmKURgAO6hk385ANU71fCC14rOXLDLpg/G5x4XR/29e16C9ylRr/U0Ft48N7vtkWiQfZ3GPKr0msfkGBoSO9ST9HjxtnZP+crcU4ug6lO+lqfyxDbc7dtTEmGrV7Iz/5LamEqqYTI2eQDMw02yToIX3v4nGtV0WLBM7+ZnSKfEret7E4qyufEysg==";
        assert_eq!(sign::rsa_sign(&p, keys::MERCHANT_PRIVATE_KEY), expected);
        assert!(sign::rsa_verify(&p, expected, keys::MERCHANT_PUBLIC_KEY));
        assert!(!sign::rsa_verify(&p, expected, keys::PLATFORM_PUBLIC_KEY));
    }

    #[test]
    fn e10_answer_body_verifies_but_its_timestamp_is_stale() {
        let body = r#"{"code":0,"trade_no":"2024071719404366151","pay_type":"qrcode","pay_info":"https:\/\/qr.alipay.com\/bax00000000000000000","timestamp":"1721206073","sign_type":"RSA","sign":"PbsOMymFa5XTcN8LaaQMS2nbBPdvAC6YTiWXlZtkOwx6nq1M+b3NJb0oK7hZzjwlIl9ERgk0cV2j3aXtWh3LctyKcqqFIlA7fAlQ00dV1PqsDVI1jO4kaPSURtMjGa\/7\/sMG63\/OENJr5lRZV7VEyQb0SKKkRPpZzxhCmLBRKJD56RddsRLU6\/rwGGXzUxcehyi1wRA2try6cXqxW\/DAyhQQHRv1XdwBkcfwtczCFJEBOfa0kYbThpGyl1KkejweBeTq59hSek1c\/efSm39VSRA0QH2uy8cvIOqGubpU8hS1S1ACuqwOj3cFoT3f\/IaQqD+DKcawJP5XSYDUEjuPnQ=="}"#;
        let answer: serde_json::Value = serde_json::from_str(body).unwrap();
        let fields = sign::json_fields(&answer);
        let pairs = sign::pairs(&fields);
        assert_eq!(
            sign::rsa_string(&pairs),
            "code=0&pay_info=https://qr.alipay.com/bax00000000000000000&pay_type=qrcode&timestamp=1721206073&trade_no=2024071719404366151"
        );
        let sig = answer["sign"].as_str().unwrap();
        // E10 stands the merchant key in for the platform's.
        assert!(sign::rsa_verify(&pairs, sig, keys::MERCHANT_PUBLIC_KEY));
        let err = sign::sdk2_verify(&pairs, keys::MERCHANT_PUBLIC_KEY).unwrap_err();
        assert!(err.starts_with("timestamp"), "{err}");
    }

    #[test]
    fn e11_notification_query() {
        let query = "pid=1000&trade_no=2024071719404366151&out_trade_no=20240717100000001&type=alipay&name=VIP%E4%BC%9A%E5%91%98&money=1&trade_status=TRADE_SUCCESS&api_trade_no=2024071722001400000000000001&buyer=2088000000000001&timestamp=1721206100&sign_type=RSA&sign=UQ3UmHwrg%2BVVIh%2F%2F%2FY%2F4DbpTItrirNa8cYILsaGIwk0Vm8B5dvI0rSiz5bw8vp3lpWiA7H%2B8%2BagzJ6uDIgZkWyN6NGE32I%2FvEd8kejA0h4ImvHla3xG47wLr0ZLomYgCZl7dXWpe0JiIR%2BsCrMAaApdqW2SK7apsKHDu3CIEfQk69qaWIAdWxp%2F0VomjiYGmlktkwwTK0a90DouqsKc8PnYe%2F8XApJXLTQtBhaPUMnR15n5eh1E%2BcW8deY8xEMa16XvTv67eCjbr05E3ryYwPivhyjgZPY5Aja71cUvMJBpe64H3CH6b6kk8mxYXFeUnKkHpphbhegIsi7tMIpHkTQ%3D%3D";
        let params = common::epay::query_pairs(&format!("http://x/?{query}"));
        let pairs = sign::pairs(&params);
        let sig = params.iter().find(|(k, _)| k == "sign").unwrap().1.as_str();
        assert!(sign::rsa_verify(&pairs, sig, keys::MERCHANT_PUBLIC_KEY));
    }

    #[test]
    fn the_platform_keys_are_a_pair() {
        let p = [("a", "1")];
        let sig = sign::rsa_sign(&p, keys::PLATFORM_PRIVATE_KEY);
        assert!(sign::rsa_verify(&p, &sig, keys::PLATFORM_PUBLIC_KEY));
    }
}

use std::time::Duration;

use common::epay::world::{dax_order, world, world_with, World};
use common::epay::{browser_target, query_pairs, sign::pairs, EpayClient, KEY, PID};
use serde_json::Value;

/// `/api/pay/create`'s fields (without `pid`, `timestamp`, `sign`: the client adds them).
fn create_fields(
    w: &World,
    no: &str,
    pay_type: &str,
    name: &str,
    money: &str,
) -> Vec<(String, String)> {
    [
        ("method", "web".to_owned()),
        ("device", "pc".to_owned()),
        ("type", pay_type.to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("return_url", w.site.return_url()),
        ("name", name.to_owned()),
        ("money", money.to_owned()),
        ("clientip", "192.168.1.100".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn v2(client: &EpayClient, method: &str, fields: &[(String, String)]) -> Value {
    let answer = client.v2(method, &pairs(fields)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Creates through `/api/pay/create`: code 0, RSA-signed with the platform key (SDK2 checks).
async fn created(w: &World, fields: &[(String, String)]) -> (String, Value) {
    let client = w.client();
    let json = v2(&client, "create", fields).await;
    assert_eq!(json["code"], 0, "{json}");
    client
        .sdk2_accepts(&json)
        .unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(json["sign_type"], "RSA");
    assert!(
        ["jump", "html", "qrcode", "urlscheme", "jsapi", "app"]
            .contains(&json["pay_type"].as_str().unwrap_or("")),
        "{json}"
    );
    assert!(json["pay_info"].is_string(), "{json}");
    let trade_no = json["trade_no"].as_str().unwrap().to_owned();
    assert!(
        trade_no.len() == 19 && trade_no.bytes().all(|b| b.is_ascii_digit()),
        "{trade_no}"
    );
    (trade_no, json)
}

fn status(v: &Value) -> String {
    v["status"].to_string().trim_matches('"').to_owned()
}

async fn paid(w: &World, name: &str, trade_no: &str) {
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, name).order_no)
        .unwrap();
    let client = w.client();
    for _ in 0..250 {
        let q = v2(&client, "query", &owned(&[("trade_no", trade_no)])).await;
        if status(&q) == "1" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{trade_no} never paid");
}

#[tokio::test]
async fn v2_create_for_each_mapped_type() {
    let w = world(None, "").await;
    // `method=web`: by `device` as V1 (§16), DaxPay's channel and method, V2's `pay_type`.
    for (i, (pay_type, device, channel, method, v2_type)) in [
        ("alipay", "pc", "ali_pay", "web", "jump"),
        ("alipay", "mobile", "ali_pay", "wap", "jump"),
        ("wxpay", "pc", "wechat_pay", "qrcode", "qrcode"),
        ("wxpay", "mobile", "wechat_pay", "wap", "jump"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("V2商品{i}");
        let mut fields = create_fields(&w, &format!("C{i}"), pay_type, &name, "0.01");
        fields.iter_mut().find(|(k, _)| k == "device").unwrap().1 = device.into();
        let (_, json) = created(&w, &fields).await;
        assert_eq!(json["pay_type"], v2_type, "{pay_type}/{device}: {json}");
        let order = dax_order(&w.sandbox, &name);
        assert_eq!(
            (
                order.channel.as_str(),
                order.method.as_str(),
                order.amount.fen()
            ),
            (channel, method, 1),
            "{pay_type}/{device}"
        );
    }
    for pay_type in ["qqpay", "bank"] {
        let a = v2(
            &w.client(),
            "create",
            &create_fields(&w, pay_type, pay_type, pay_type, "1"),
        )
        .await;
        assert_eq!(
            (a["code"].as_i64(), a["msg"].as_str()),
            (Some(-1), Some("支付方式(type)不存在")),
            "{a}"
        );
    }
}

#[tokio::test]
async fn v2_query_before_and_after_payment_signed() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "Q2", "alipay", "V2查询", "8.88")).await;
    let before = v2(&client, "query", &owned(&[("out_trade_no", "Q2")])).await;
    assert_eq!(before["code"], 0, "{before}");
    client.sdk2_accepts(&before).unwrap();
    assert_eq!(before["trade_no"], trade_no.as_str());
    assert_eq!(before["money"], "8.88");
    assert_eq!(status(&before), "0");
    assert!(before.get("endtime").is_none(), "only once paid: {before}");
    assert!(before.get("refundmoney").is_none(), "{before}");
    for (k, v) in before.as_object().unwrap() {
        assert!(
            !v.is_null() && v != "",
            "empty fields are removed: {k} in {before}"
        );
    }
    paid(&w, "V2查询", &trade_no).await;
    let after = v2(&client, "query", &owned(&[("trade_no", &trade_no)])).await;
    client.sdk2_accepts(&after).unwrap();
    assert_eq!(status(&after), "1");
    assert!(after["endtime"].is_string(), "{after}");
}

#[tokio::test]
async fn v2_refunds_idempotent_by_out_refund_no_then_refund_query() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "R2", "wxpay", "V2退款", "1.00")).await;
    paid(&w, "V2退款", &trade_no).await;
    let first = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            ("money", "0.40"),
            ("out_refund_no", "RF-000001"),
        ]),
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    client.sdk2_accepts(&first).unwrap();
    assert_eq!(first["out_refund_no"], "RF-000001");
    assert_eq!(first["money"], "0.40");
    let again = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            // Another amount: the gateway answers the earlier refund as it stored it.
            ("money", "0.30"),
            ("out_refund_no", "RF-000001"),
        ]),
    )
    .await;
    assert_eq!(
        again["code"], 0,
        "the same out_refund_no answers the earlier refund: {again}"
    );
    client.sdk2_accepts(&again).unwrap();
    // G3094 `lib/api/Pay.php` `refund`: the refundorder row's fields, no out_trade_no.
    let keys: Vec<&str> = again
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "code",
            "refund_no",
            "out_refund_no",
            "trade_no",
            "uid",
            "money",
            "reducemoney",
            "msg",
            "timestamp",
            "sign_type",
            "sign"
        ],
        "{again}"
    );
    assert_eq!(again["refund_no"], first["refund_no"]);
    assert_eq!(again["trade_no"], trade_no.as_str());
    assert_eq!(
        (again["money"].as_str(), again["reducemoney"].as_str()),
        (Some("0.40"), Some("0.40"))
    );
    assert_eq!(again["msg"], "已存在相同退款单号！退款金额¥0.40");
    assert_eq!(w.sandbox.refunds().len(), 1, "refunded once");
    let rq = v2(
        &client,
        "refundquery",
        &owned(&[("out_refund_no", "RF-000001")]),
    )
    .await;
    assert_eq!(rq["code"], 0, "{rq}");
    client.sdk2_accepts(&rq).unwrap();
    assert_eq!(
        (rq["money"].as_str(), status(&rq).as_str()),
        (Some("0.40"), "1"),
        "{rq}"
    );
    assert_eq!(rq["trade_no"], trade_no.as_str());
    let rest = v2(
        &client,
        "refund",
        &owned(&[
            ("out_trade_no", "R2"),
            ("money", "0.60"),
            ("out_refund_no", "RF-000003"),
        ]),
    )
    .await;
    assert_eq!(rest["code"], 0, "{rest}");
    let fen: Vec<u64> = w.sandbox.refunds().iter().map(|r| r.amount.fen()).collect();
    assert_eq!(fen, [40, 60]);
}

/// epay.md §7.4: an `out_refund_no` of 5 characters or fewer is ignored: two refunds with the
/// same short number are two refunds, each with its own generated number.
#[tokio::test]
async fn v2_a_short_out_refund_no_is_not_an_idempotency_key() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "R5", "alipay", "短号", "1.00")).await;
    paid(&w, "短号", &trade_no).await;
    let mut numbers = Vec::new();
    // Two amounts: the very same signed request again would be a retry, answered as the first.
    for money in ["0.10", "0.20"] {
        let answer = v2(
            &client,
            "refund",
            &owned(&[
                ("trade_no", &trade_no),
                ("money", money),
                ("out_refund_no", "RF001"),
            ]),
        )
        .await;
        assert_eq!(answer["code"], 0, "{answer}");
        client.sdk2_accepts(&answer).unwrap();
        assert_eq!(answer["msg"], format!("退款成功！退款金额¥{money}"));
        let own = answer["out_refund_no"].as_str().unwrap().to_owned();
        assert_ne!(own, "RF001", "{answer}");
        assert_eq!(own.len(), 19, "a generated 19-digit number: {answer}");
        numbers.push(own);
    }
    assert_ne!(numbers[0], numbers[1]);
    assert_eq!(w.sandbox.refunds().len(), 2, "refunded twice");
}

#[tokio::test]
async fn v2_close_an_unpaid_order() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "K2", "alipay", "V2关闭", "1")).await;
    let closed = v2(&client, "close", &owned(&[("trade_no", &trade_no)])).await;
    assert_eq!(closed["code"], 0, "{closed}");
    client.sdk2_accepts(&closed).unwrap();
    assert_eq!(closed["msg"], "订单关闭成功");
    let q = v2(&client, "query", &owned(&[("trade_no", &trade_no)])).await;
    assert_eq!(status(&q), "0", "epay has no closed state: {q}");
}

#[tokio::test]
async fn v2_notification_rsa_signed_fresh_and_acknowledged_once() {
    let w = world(None, "").await;
    let (trade_no, _) = created(&w, &create_fields(&w, "N2", "alipay", "V2通知", "1.00")).await;
    let order_no = dax_order(&w.sandbox, "V2通知").order_no;
    w.sandbox.pay_order(&order_no).unwrap();
    let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(w.sandbox.send_callback_again(&order_no));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = w.site.received();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let n = &seen[0];
    n.rsa_verified(common::epay::keys::PLATFORM_PUBLIC_KEY)
        .unwrap_or_else(|e| panic!("SDK2 verify: {e}: {n:?}"));
    assert!(!n.md5_verified(KEY), "a V2 order is not MD5-notified");
    n.business_checks("N2", 100).unwrap();
    assert_eq!(n.get("trade_no"), Some(trade_no.as_str()));
    assert_eq!(n.get("sign_type"), Some("RSA"));
    assert_eq!(n.get("money"), Some("1"));
}

#[tokio::test]
async fn v2_return_redirect_rsa_signed() {
    let w = world(None, "").await;
    let (trade_no, _) = created(&w, &create_fields(&w, "B2", "alipay", "V2回跳", "2.50")).await;
    let order = dax_order(&w.sandbox, "V2回跳");
    w.sandbox.pay_order(&order.order_no).unwrap();
    let given = order.return_url.expect("paybridge's return URL");
    let path = given.trim_start_matches(&format!("http://{}", w.proxy));
    let answer = common::send(w.proxy, "GET", path, None, "", &[]).await;
    let target = browser_target(&answer.headers, &answer.body)
        .unwrap_or_else(|| panic!("no redirect: {} {}", answer.status, answer.body));
    assert!(target.starts_with(&w.site.return_url()), "{target}");
    let params = query_pairs(&target);
    common::epay::sign::sdk2_verify(&pairs(&params), common::epay::keys::PLATFORM_PUBLIC_KEY)
        .unwrap_or_else(|e| panic!("{e}: {target}"));
    assert!(params
        .iter()
        .any(|(k, v)| k == "trade_no" && *v == trade_no));
}

#[tokio::test]
async fn v2_refusals_with_exact_texts() {
    let w = world(None, "").await;
    let client = w.client();
    let msg = |v: &Value| {
        (
            v["code"].as_i64().unwrap_or(99),
            v["msg"].as_str().unwrap_or("").to_owned(),
        )
    };
    let fields = create_fields(&w, "E2", "alipay", "e", "1");
    // No timestamp; a stale one; a bad signature; no signature.
    let mut no_ts: Vec<(&str, &str)> = vec![("pid", PID)];
    no_ts.extend(pairs(&fields));
    let sign = common::epay::sign::rsa_sign(&no_ts, &client.private_key);
    let mut form = owned(&no_ts);
    form.push(("sign_type".into(), "RSA".into()));
    form.push(("sign".into(), sign));
    let a = client.post_form("/api/pay/create", &form).await.json();
    assert_eq!(
        msg(&a),
        (-3, "时间戳(timestamp)字段不能为空".to_owned()),
        "{a}"
    );
    let stale = (common::epay::sign::timestamp().parse::<u64>().unwrap() - 301).to_string();
    let mut old = no_ts.clone();
    old.push(("timestamp", &stale));
    let sign = common::epay::sign::rsa_sign(&old, &client.private_key);
    let mut form = owned(&old);
    form.push(("sign_type".into(), "RSA".into()));
    form.push(("sign".into(), sign));
    let a = client.post_form("/api/pay/create", &form).await.json();
    assert_eq!(
        msg(&a),
        (-3, "时间戳字段不正确，请检查服务器时间".to_owned()),
        "{a}"
    );
    let mut tampered = client.v2_signed(&pairs(&fields));
    tampered.iter_mut().find(|(k, _)| k == "money").unwrap().1 = "2".into();
    let a = client.post_form("/api/pay/create", &tampered).await.json();
    assert_eq!(msg(&a), (-3, "RSA签名校验失败".to_owned()), "{a}");
    let unsigned: Vec<(String, String)> = client
        .v2_signed(&pairs(&fields))
        .into_iter()
        .filter(|(k, _)| k != "sign")
        .collect();
    let a = client.post_form("/api/pay/create", &unsigned).await.json();
    assert_eq!(msg(&a), (-3, "缺少签名参数".to_owned()), "{a}");
    assert_eq!(
        w.sandbox.requests_seen(),
        0,
        "nothing refused reached DaxPay"
    );
    // Unknown orders.
    let a = v2(&client, "query", &owned(&[("out_trade_no", "NOPE")])).await;
    assert_eq!(msg(&a), (-1, "订单号不存在".to_owned()), "{a}");
    let a = v2(&client, "query", &[]).await;
    assert_eq!(msg(&a), (-1, "订单号不能为空".to_owned()), "{a}");
}

#[tokio::test]
async fn a_request_with_both_pid_and_mchno_is_refused() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "PM", "alipay", "双身份", "1")).await;
    let seen = w.sandbox.requests_seen();
    let mut both = client.v2_signed(&[("trade_no", &trade_no), ("mchNo", common::JEEPAY_MCH)]);
    both.push(("appId".into(), common::JEEPAY_APP.into()));
    let a = client.post_form("/api/pay/query", &both).await;
    assert_eq!(
        a.body,
        common::error(9999, "参数有误[请求同时含有pid与mchNo，无法确定接口类型]"),
        "refused before it is routed"
    );
    assert_eq!(w.sandbox.requests_seen(), seen, "nothing reached DaxPay");
    // A Jeepay query on the same path still works; an epay one too.
    let q = v2(&client, "query", &owned(&[("trade_no", &trade_no)])).await;
    assert_eq!(q["code"], 0, "{q}");
}

#[tokio::test]
async fn v2_an_over_refund_is_refused_signed_and_refundmoney_shows_the_refunded_part() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "R3", "alipay", "V2超额", "1.00")).await;
    paid(&w, "V2超额", &trade_no).await;
    let first = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            ("money", "0.40"),
            ("out_refund_no", "RF-300001"),
        ]),
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    let over = v2(
        &client,
        "refund",
        &owned(&[
            ("out_trade_no", "R3"),
            ("money", "0.61"),
            ("out_refund_no", "RF-300002"),
        ]),
    )
    .await;
    // §7.4: a business failure the handler returns is `code -1`, signed; §6.5 (3094) its text.
    assert_eq!(
        (over["code"].as_i64(), over["msg"].as_str()),
        (Some(-1), Some("退款金额不能超过该订单剩余可退款金额！")),
        "{over}"
    );
    assert!(over.get("sign").is_some(), "signed: {over}");
    let q = v2(&client, "query", &owned(&[("trade_no", &trade_no)])).await;
    client.sdk2_accepts(&q).unwrap();
    assert_eq!(status(&q), "2", "{q}");
    assert_eq!(
        q["refundmoney"], "0.40",
        "§7.3: only after a partial refund: {q}"
    );
    assert_eq!(w.sandbox.refunds().len(), 1);
}

#[tokio::test]
async fn v2_close_of_a_paid_order_is_refused_in_epays_words() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "K3", "wxpay", "V2已付关闭", "1")).await;
    paid(&w, "V2已付关闭", &trade_no).await;
    let a = v2(&client, "close", &owned(&[("trade_no", &trade_no)])).await;
    // §7.6: a business failure returned by the handler, -1 and signed.
    assert_eq!(
        (a["code"].as_i64(), a["msg"].as_str()),
        (Some(-1), Some("该订单状态不支持关闭！")),
        "{a}"
    );
    let a = v2(&client, "close", &owned(&[("out_trade_no", "NOPE")])).await;
    assert_eq!(a["code"], -1, "{a}");
}

#[tokio::test]
async fn v2_the_page_endpoint_answers_html() {
    let w = world(None, "").await;
    let client = w.client();
    // `/api/pay/submit`: the page endpoint, RSA-signed like the others; an HTML answer.
    let page = client
        .v2(
            "submit",
            &pairs(&create_fields(&w, "S3", "alipay", "V2页面", "1")),
        )
        .await;
    let ct = page.headers["content-type"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(ct.starts_with("text/html"), "{ct}: {}", page.body);
    // Alipay on a PC: DaxPay's page URL, the browser sent on to it.
    let target = browser_target(&page.headers, &page.body)
        .unwrap_or_else(|| panic!("sent on: {}", page.body));
    assert!(
        target.starts_with("https://openapi.alipay.com/gateway.do?"),
        "{target}"
    );
    // An error there is the sysmsg page with epay's text.
    let mut unsigned =
        client.v2_signed(&pairs(&create_fields(&w, "S4", "alipay", "V2页面错", "1")));
    unsigned.retain(|(k, _)| k != "sign");
    let page = client.post_form("/api/pay/submit", &unsigned).await;
    assert!(page.body.contains("缺少签名参数"), "{}", page.body);
    assert!(
        !page.body.trim_start().starts_with('{'),
        "an HTML page: {}",
        page.body
    );
}

#[tokio::test]
async fn v2_each_notification_attempt_is_signed_afresh() {
    // §11: "each attempt rebuilds the URL, so V2 attempts carry a new timestamp and signature".
    // Attempts at least 1.1 s apart have different whole-second timestamps.
    let w = world_with(None, "", &["fail", "success"], 1100).await;
    let (_, _) = created(&w, &create_fields(&w, "F2", "wxpay", "V2重签", "0.50")).await;
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "V2重签").order_no)
        .unwrap();
    let seen = w.site.wait_for(2, Duration::from_secs(8)).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    for n in &seen {
        n.rsa_verified(common::epay::keys::PLATFORM_PUBLIC_KEY)
            .unwrap_or_else(|e| panic!("{e}: {n:?}"));
        n.business_checks("F2", 50).unwrap();
    }
    assert_ne!(seen[0].get("timestamp"), seen[1].get("timestamp"));
    assert_ne!(seen[0].get("sign"), seen[1].get("sign"));
}

#[tokio::test]
async fn v2_refund_refusals_with_exact_texts() {
    let w = world(None, "").await;
    let client = w.client();
    let msg = |v: &Value| {
        (
            v["code"].as_i64().unwrap_or(99),
            v["msg"].as_str().unwrap_or("").to_owned(),
        )
    };
    let (trade_no, _) = created(&w, &create_fields(&w, "RR", "alipay", "V2退款错", "1.00")).await;
    // §7.4's exceptions (unsigned), then Order::refund's refusal of an unpaid order (§6.5, 3094).
    let a = v2(
        &client,
        "refund",
        &owned(&[("trade_no", &trade_no), ("money", "x")]),
    )
    .await;
    assert_eq!(msg(&a), (-1, "金额输入错误".to_owned()), "{a}");
    let a = v2(&client, "refund", &owned(&[("money", "0.10")])).await;
    assert_eq!(msg(&a), (-1, "订单号不能为空".to_owned()), "{a}");
    let a = v2(
        &client,
        "refund",
        &owned(&[("out_trade_no", "NOPE"), ("money", "0.10")]),
    )
    .await;
    assert_eq!(msg(&a), (-1, "当前订单不存在！".to_owned()), "{a}");
    let a = v2(
        &client,
        "refund",
        &owned(&[("trade_no", &trade_no), ("money", "0.10")]),
    )
    .await;
    assert_eq!(msg(&a), (-1, "该订单状态不支持退款！".to_owned()), "{a}");
    let a = v2(&client, "refundquery", &[]).await;
    assert_eq!(msg(&a), (-1, "商户退款单号不能为空".to_owned()), "{a}");
    let a = v2(
        &client,
        "refundquery",
        &owned(&[("out_refund_no", "RF-NOPE01")]),
    )
    .await;
    assert_eq!(msg(&a), (-1, "退款记录不存在".to_owned()), "{a}");
    assert!(w.sandbox.refunds().is_empty());
}

#[tokio::test]
async fn v2_accepts_md5_with_a_timestamp_and_still_signs_with_rsa() {
    // §5 step 7: V2 routes accept MD5 requests (with `timestamp`); answers are RSA-signed anyway
    // and the order is a V2 order (RSA notifications).
    let w = world(None, "").await;
    let client = w.client();
    let ts = common::epay::sign::timestamp();
    let mut fields: Vec<(&str, &str)> = vec![("pid", PID)];
    let owned_fields = create_fields(&w, "M5", "alipay", "V2用MD5", "1.00");
    fields.extend(pairs(&owned_fields));
    fields.push(("timestamp", &ts));
    let form = client.v1_signed(&fields);
    assert!(form.iter().any(|(k, v)| k == "sign_type" && v == "MD5"));
    let a = client.post_form("/api/pay/create", &form).await.json();
    assert_eq!(a["code"], 0, "{a}");
    client
        .sdk2_accepts(&a)
        .unwrap_or_else(|e| panic!("{e}: {a}"));
    let order_no = dax_order(&w.sandbox, "V2用MD5").order_no;
    w.sandbox.pay_order(&order_no).unwrap();
    let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
    let n = &seen[0];
    n.rsa_verified(common::epay::keys::PLATFORM_PUBLIC_KEY)
        .unwrap_or_else(|e| panic!("a V2 order is RSA-notified: {e}: {n:?}"));
    // Without the timestamp, MD5 is refused on V2 as RSA is.
    let stale: Vec<(&str, &str)> = fields
        .iter()
        .copied()
        .filter(|(k, _)| *k != "timestamp")
        .collect();
    let a = client
        .post_form("/api/pay/create", &client.v1_signed(&stale))
        .await
        .json();
    assert_eq!(a["msg"], "时间戳(timestamp)字段不能为空", "{a}");
}

/// Review finding 5: V2 `method=jump` asks for a URL only (epay.md §7.2, §8): wxpay answers
/// `pay_type:"jump"` with a URL the payer opens, never `qrcode`.
#[tokio::test]
async fn v2_method_jump_answers_a_url_for_wxpay() {
    let w = world(None, "").await;
    let mut fields = create_fields(&w, "J1", "wxpay", "V2跳转", "1");
    fields.retain(|(k, _)| k != "method");
    fields.push(("method".to_owned(), "jump".to_owned()));
    let (_, json) = created(&w, &fields).await;
    assert_eq!(json["pay_type"], "jump", "{json}");
    let url = json["pay_info"].as_str().unwrap();
    assert!(url.starts_with("http"), "a URL to open: {json}");
}

/// Review finding 7: a payment code paid at once names no DaxPay number as the channel's
/// `api_trade_no`: the query and the notification give the channel's number, so the scan
/// answer must not give another value (it is not known yet: `null`).
#[tokio::test]
async fn v2_scan_api_trade_no_is_never_daxpays_order_number() {
    let w = world(None, "").await;
    let mut fields = create_fields(&w, "S7", "wxpay", "V2付款码", "1");
    fields.retain(|(k, _)| k != "method" && k != "type");
    fields.push(("method".to_owned(), "scan".to_owned()));
    fields.push(("auth_code".to_owned(), "134567890123456789".to_owned()));
    let client = w.client();
    let json = v2(&client, "create", &fields).await;
    assert_eq!(
        (json["code"].as_i64(), json["pay_type"].as_str()),
        (Some(0), Some("scan")),
        "{json}"
    );
    client.sdk2_accepts(&json).unwrap();
    let info: Value = serde_json::from_str(json["pay_info"].as_str().unwrap()).unwrap();
    let order = dax_order(&w.sandbox, "V2付款码");
    assert_ne!(
        info["api_trade_no"].as_str(),
        Some(order.order_no.as_str()),
        "{info}"
    );
    let q = v2(&client, "query", &owned(&[("out_trade_no", "S7")])).await;
    match info["api_trade_no"].as_str() {
        Some(given) => assert_eq!(q["api_trade_no"].as_str(), Some(given), "{q}"),
        None => assert!(info["api_trade_no"].is_null(), "{info}"),
    }
}

/// Review finding 8: the same order created again after a close, parameters unchanged: the
/// gateway reuses its `trade_no` and its channel refuses the closed trade (code -2 with the
/// `trade_no`), never `支付参数有变化` (nothing changed).
#[tokio::test]
async fn v2_create_again_after_close_says_closed_not_changed() {
    let w = world(None, "").await;
    let client = w.client();
    let fields = create_fields(&w, "K8", "alipay", "V2关闭重建", "1");
    let (trade_no, _) = created(&w, &fields).await;
    let closed = v2(&client, "close", &owned(&[("trade_no", &trade_no)])).await;
    assert_eq!(closed["code"], 0, "{closed}");
    // Another request of the same order (the same parameters the gateway compares; a
    // parameter it does not compare makes it another signed request, not a replay).
    let mut same = fields.clone();
    same.push(("sitename".to_owned(), "again".to_owned()));
    let again = v2(&client, "create", &same).await;
    assert_eq!(again["code"], -2, "{again}");
    assert_eq!(
        again["trade_no"].as_str(),
        Some(trade_no.as_str()),
        "{again}"
    );
    let msg = again["msg"].as_str().unwrap();
    assert_eq!(msg, "该订单(K8)已关闭，请更换订单号重新发起支付");
    // A changed parameter is still the gateway's refusal.
    let changed = create_fields(&w, "K8", "alipay", "V2关闭重建", "2");
    let refused = v2(&client, "create", &changed).await;
    assert_eq!(
        refused["msg"],
        "该订单(K8)支付参数有变化，请更换订单号重新发起支付"
    );
}

/// Review finding 9: `method=applet` without the payer's id is refused in the gateway's own
/// words for such a parameter, never DaxPay's `微信JSAPI支付必须传入openId参数`.
#[tokio::test]
async fn v2_applet_without_sub_openid_in_epays_words() {
    let w = world(None, "").await;
    let mut fields = create_fields(&w, "A9", "wxpay", "V2小程序", "1");
    fields.retain(|(k, _)| k != "method");
    fields.push(("method".to_owned(), "applet".to_owned()));
    let json = v2(&w.client(), "create", &fields).await;
    assert_eq!(
        (json["code"].as_i64(), json["msg"].as_str()),
        (Some(-1), Some("applet支付时参数(sub_openid)不能为空")),
        "{json}"
    );
    assert!(w.sandbox.orders().is_empty(), "nothing sent to DaxPay");
}

fn epay_number(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|n| n.len() == 19 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Review finding 4: `refund_no` is epay's 19-digit number (§7.4, §9), never DaxPay's; with a
/// short `out_refund_no` it equals `out_refund_no` (§7.4); `refundquery` finds the refund by
/// either number, for a long merchant number too, and answers the same numbers.
#[tokio::test]
async fn v2_refund_no_is_epays_19_digits_and_refundquery_finds_it() {
    let w = world(None, "").await;
    let client = w.client();
    let (trade_no, _) = created(&w, &create_fields(&w, "RN4", "alipay", "V2退款号", "2.00")).await;
    paid(&w, "V2退款号", &trade_no).await;
    let short = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            ("money", "0.50"),
            ("out_refund_no", "R1"),
        ]),
    )
    .await;
    assert_eq!(short["code"], 0, "{short}");
    assert!(epay_number(&short["refund_no"]), "{short}");
    assert_eq!(short["out_refund_no"], short["refund_no"], "{short}");
    let long = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            ("money", "0.70"),
            ("out_refund_no", "MERCHANT-REFUND-0004"),
        ]),
    )
    .await;
    assert_eq!(long["code"], 0, "{long}");
    assert!(epay_number(&long["refund_no"]), "{long}");
    assert_eq!(long["out_refund_no"], "MERCHANT-REFUND-0004");
    for (answer, money) in [(&short, "0.50"), (&long, "0.70")] {
        let refund_no = answer["refund_no"].as_str().unwrap();
        let out_refund_no = answer["out_refund_no"].as_str().unwrap();
        for by in [("refund_no", refund_no), ("out_refund_no", out_refund_no)] {
            let q = v2(&client, "refundquery", &owned(&[by])).await;
            assert_eq!(q["code"], 0, "{by:?}: {q}");
            client.sdk2_accepts(&q).unwrap();
            assert_eq!(
                (
                    q["refund_no"].as_str(),
                    q["out_refund_no"].as_str(),
                    q["money"].as_str()
                ),
                (Some(refund_no), Some(out_refund_no), Some(money)),
                "{by:?}: {q}"
            );
        }
    }
    // The long number again: the earlier refund, under the same refund_no.
    let again = v2(
        &client,
        "refund",
        &owned(&[
            ("trade_no", &trade_no),
            ("money", "0.70"),
            ("out_refund_no", "MERCHANT-REFUND-0004"),
        ]),
    )
    .await;
    assert_eq!(again["refund_no"], long["refund_no"], "{again}");
}

/// Review finding 6, V2: `/api/pay/submit` without `type` is the cashier too; the payer's pick
/// goes back to `/api/pay/submit` with the merchant's RSA-signed parameters as they were.
#[tokio::test]
async fn v2_page_without_type_is_the_cashier() {
    use common::epay::cashier::{action, choices, hidden_fields, post_path};
    let w = world(None, "").await;
    let client = w.client();
    let mut fields = create_fields(&w, "CS4", "wxpay", "V2收银台", "1");
    fields.retain(|(k, _)| k != "type" && k != "method" && k != "device" && k != "clientip");
    let page = client.v2("submit", &pairs(&fields)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let offered = choices(&page.body);
    let (button, _) = offered
        .iter()
        .find(|(_, v)| v == "wxpay")
        .unwrap_or_else(|| panic!("wxpay offered: {}", page.body))
        .clone();
    assert_eq!(action(&page.body).as_deref(), Some("submit"), "relative");
    let path = post_path("/api/pay/submit", &page.body).unwrap();
    assert_eq!(path, "/api/pay/submit");
    let mut picked = hidden_fields(&page.body);
    assert!(
        picked.iter().any(|(k, v)| k == "sign_type" && v == "RSA"),
        "{picked:?}"
    );
    picked.push((button, "wxpay".to_owned()));
    let qr = client.post_form(&path, &picked).await;
    assert!(qr.body.contains("请使用微信扫码支付"), "{}", qr.body);
    assert_eq!(dax_order(&w.sandbox, "V2收银台").channel, "wechat_pay");
}
