//! `/unipay/pay` on 2.0.8 (§3), and the checks before every handler (§2.3), both sign types.

use super::*;

fn pay_body(biz: &str, channel: &str, method: &str, amount: i64) -> Value {
    let mut body = json!({
        "bizOrderNo": biz,
        "title": "测试商品",
        "channel": channel,
        "method": method,
        "amount": amount,
        "notifyUrl": "http://127.0.0.1:9/n",
    });
    if method == "barcode" {
        body["extraParam"] = json!({"authCode": "284910583729467102"});
    }
    if method == "jsapi" {
        body["extraParam"] = json!({"openId": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"});
    }
    body
}

#[tokio::test]
async fn pay_answers_each_way_with_its_pay_body() {
    for sign_type in BOTH {
        let sb = sandbox(sign_type, vec![]);
        let cases = [
            (
                "ali_pay",
                "qrcode",
                "progress",
                Some("https://qr.alipay.com/"),
            ),
            (
                "ali_pay",
                "wap",
                "progress",
                Some("https://openapi.alipay.com/gateway.do?"),
            ),
            (
                "ali_pay",
                "web",
                "progress",
                Some("https://openapi.alipay.com/gateway.do?"),
            ),
            ("ali_pay", "barcode", "success", None),
            (
                "wechat_pay",
                "qrcode",
                "progress",
                Some("weixin://wxpay/bizpayurl?pr="),
            ),
            (
                "wechat_pay",
                "wap",
                "progress",
                Some("https://wx.tenpay.com/"),
            ),
            ("wechat_pay", "app", "progress", Some("wx")),
            ("wechat_pay", "jsapi", "progress", Some("{\"timeStamp\":\"")),
            ("wechat_pay", "barcode", "success", None),
            (
                "union_pay",
                "qrcode",
                "progress",
                Some("https://qr.95516.com/"),
            ),
            ("union_pay", "app", "progress", Some("")),
            ("union_pay", "web", "progress", Some("<form")),
            ("union_pay", "barcode", "success", None),
        ];
        for (i, (channel, method, status, body_prefix)) in cases.into_iter().enumerate() {
            let biz = format!("M{i}");
            let answer = call(
                &sb,
                sign_type,
                "/unipay/pay",
                pay_body(&biz, channel, method, 1230),
            )
            .await;
            let data = ok_data(sign_type, &answer);
            assert!(data["msg"].is_null(), "{answer}");
            assert_eq!(data["bizOrderNo"], biz.as_str());
            assert_eq!(data["status"], status, "{channel} {method}");
            let order_no = data["orderNo"].as_str().expect("orderNo");
            assert!(
                order_no.starts_with('P') && order_no.len() == 21,
                "{order_no}"
            );
            match body_prefix {
                Some(prefix) => assert!(
                    data["payBody"]
                        .as_str()
                        .is_some_and(|b| b.starts_with(prefix)),
                    "{channel} {method}: {answer}"
                ),
                None => assert!(data["payBody"].is_null(), "{answer}"),
            }
            let order = sb.order(order_no).expect("stored");
            assert_eq!(order.amount.fen(), 1230);
            assert_eq!(order.refundable_balance().fen(), 1230);
        }
        // The WeChat JSAPI set, keys in Java HashMap order.
        let answer = call(
            &sb,
            sign_type,
            "/unipay/pay",
            pay_body("MJ", "wechat_pay", "jsapi", 1),
        )
        .await;
        let body: Value =
            serde_json::from_str(answer["data"]["payBody"].as_str().expect("text")).expect("JSON");
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "timeStamp",
                "signType",
                "package",
                "paySign",
                "nonceStr",
                "appId"
            ]
        );
        assert_eq!(body["signType"], "HMAC-SHA256");
    }
}

#[tokio::test]
async fn pay_refusals_are_code_0_with_only_a_message() {
    let sign_type = SignType::HmacSha256;
    let sb = sandbox(sign_type, vec![]);
    let failure = |answer: &Value, msg: &str| {
        let data = ok_data(sign_type, answer);
        assert_eq!(data["msg"], msg, "{answer}");
        for key in ["bizOrderNo", "orderNo", "status", "payBody"] {
            assert!(data[key].is_null(), "{key}: {answer}");
        }
    };
    for (channel, method, msg) in [
        ("paypal", "qrcode", "不支持的能力"),
        ("ali_pay", "normal", "不存在的支付方式"),
        ("ali_pay", "jsapi", "该支付宝支付方式不可用"),
        ("wechat_pay", "web", "不存在的支付方式"),
        ("union_pay", "jsapi", "该云闪付支付方式不可用"),
    ] {
        let answer = call(
            &sb,
            sign_type,
            "/unipay/pay",
            pay_body("X", channel, method, 1),
        )
        .await;
        failure(&answer, msg);
    }
    let mut body = pay_body("X", "union_pay", "qrcode", 1);
    body["allocation"] = json!(true);
    failure(
        &call(&sb, sign_type, "/unipay/pay", body).await,
        "云闪付不支持分账",
    );
    // The platform limit is shape B, before anything else.
    let answer = call(
        &sb,
        sign_type,
        "/unipay/pay",
        pay_body("X", "paypal", "x", 19_912),
    )
    .await;
    assert_refused(sign_type, &answer, "支付金额超过限额");
    let answer = call(
        &sb,
        sign_type,
        "/unipay/pay",
        pay_body("L", "ali_pay", "qrcode", 19_911),
    )
    .await;
    assert_eq!(answer["data"]["status"], "progress", "{answer}");
    // The channel refuses: the order stays `progress` with the error.
    let mut body = pay_body("CF", "ali_pay", "qrcode", 5);
    body["title"] = json!(crate::CHANNEL_FAIL);
    failure(
        &call(&sb, sign_type, "/unipay/pay", body).await,
        "沙箱通道模拟失败",
    );
    let order = sb.order_by_biz("CF").expect("created");
    assert_eq!(order.status, OrderStatus::Progress);
    assert_eq!(order.error_msg.as_deref(), Some("沙箱通道模拟失败"));
    // Paid, closed: refused with getOrderAndCheck's words.
    call(
        &sb,
        sign_type,
        "/unipay/pay",
        pay_body("B", "ali_pay", "barcode", 1),
    )
    .await;
    let answer = call(
        &sb,
        sign_type,
        "/unipay/pay",
        pay_body("B", "ali_pay", "barcode", 1),
    )
    .await;
    failure(&answer, "已经支付成功，请勿重新支付");
}

#[tokio::test]
async fn a_repeated_pay_reruns_the_stored_order_with_its_stored_amount() {
    let sign_type = SignType::Md5;
    let sb = sandbox(sign_type, vec![]);
    let first = call(
        &sb,
        sign_type,
        "/unipay/pay",
        pay_body("R1", "ali_pay", "wap", 1000),
    )
    .await;
    let first = ok_data(sign_type, &first);
    let mut again = pay_body("R1", "ali_pay", "web", 7);
    again["title"] = json!("another");
    again["notifyUrl"] = json!("http://127.0.0.1:9/other");
    let second = ok_data(sign_type, &call(&sb, sign_type, "/unipay/pay", again).await);
    assert_eq!(second["orderNo"], first["orderNo"], "the same order");
    let body = second["payBody"].as_str().expect("payBody");
    assert!(
        body.contains("total_amount=10.00") && body.contains("alipay.trade.page.pay"),
        "{body}"
    );
    let order = sb.order_by_biz("R1").expect("order");
    assert_eq!(
        (order.amount.fen(), order.title.as_deref()),
        (1000, Some("测试商品"))
    );
    assert_eq!(
        (order.method.as_str(), order.notify_url.as_deref()),
        ("web", Some("http://127.0.0.1:9/other"))
    );
}

#[tokio::test]
async fn an_expired_order_is_refused_and_closed_by_the_sync() {
    let sign_type = SignType::HmacSha256;
    let sb = sandbox(sign_type, vec![]);
    let mut body = pay_body("E1", "wechat_pay", "qrcode", 1);
    body["expiredTime"] = json!(epoch(-5));
    ok_data(
        sign_type,
        &call(&sb, sign_type, "/unipay/pay", body.clone()).await,
    );
    let answer = call(&sb, sign_type, "/unipay/pay", body).await;
    assert_eq!(
        answer["data"]["msg"], "支付已超时，请重新确认支付状态",
        "{answer}"
    );
    assert_eq!(
        sb.order_by_biz("E1").map(|o| o.status),
        Some(OrderStatus::Close)
    );
}

#[tokio::test]
async fn pay_binding_and_validation() {
    let sign_type = SignType::HmacSha256;
    let sb = sandbox(sign_type, vec![]);
    let answer = call(
        &sb,
        sign_type,
        "/unipay/pay",
        json!({"channel": "ali_pay", "method": "qrcode", "amount": 0}),
    )
    .await;
    assert_error(
        &answer,
        10006,
        "验证参数错误\n商户订单号不可为空\n支付标题不可为空\n最小不能小于1\n",
    );
    // Jackson: `"7"` binds 7 and a float is truncated (and signed that way).
    let mut body = obj(pay_body("T1", "ali_pay", "qrcode", 1));
    body.insert("amount".to_owned(), json!(2.9));
    body.insert("reqTime".to_owned(), json!(epoch(0)));
    let mut as_bound = body.clone();
    as_bound.insert("amount".to_owned(), json!(2));
    let sign = client_sign(Scheme::new(Version::V2_0, sign_type), &as_bound);
    body.insert("sign".to_owned(), json!(sign));
    let answer = post_raw(&sb, "/unipay/pay", serde_json::to_vec(&body).expect("json")).await;
    assert_eq!(ok_data(sign_type, &answer)["status"], "progress");
    assert_eq!(sb.order_by_biz("T1").map(|o| o.amount.fen()), Some(2));
    // A string extraParam, a non-numeric reqTime, an amount beyond int: binding fails.
    for (key, value) in [
        ("extraParam", json!("{\"openId\":\"x\"}")),
        ("reqTime", json!("soon")),
        ("amount", json!(2_147_483_648_i64)),
    ] {
        let mut body = obj(pay_body("T2", "ali_pay", "qrcode", 1));
        body.insert(key.to_owned(), value);
        let answer = call(&sb, sign_type, "/unipay/pay", Value::Object(body)).await;
        assert_eq!(answer["code"], 10005, "{key}: {answer}");
        assert!(answer["data"].is_null());
    }
    // Signed with a field 2.0.8 does not declare: dropped by binding, so the signature fails.
    let mut body = pay_body("T3", "ali_pay", "qrcode", 1);
    body["mchNo"] = json!("M1");
    assert_error(
        &call(&sb, sign_type, "/unipay/pay", body).await,
        20052,
        "验签失败",
    );
}

#[tokio::test]
async fn req_time_window_is_ten_seconds_by_default() {
    let sign_type = SignType::Md5;
    let sb = sandbox(sign_type, vec![paid("P1", "B1", 1)]);
    let query = |req_time: i64| json!({"orderNo": "P1", "reqTime": req_time});
    let answer = call(&sb, sign_type, "/unipay/query/payOrder", query(epoch(-11))).await;
    assert_error(&answer, 10006, "验证参数错误\n请求已过期，请重新发送！");
    let answer = call(&sb, sign_type, "/unipay/query/payOrder", query(epoch(61))).await;
    assert_error(
        &answer,
        10006,
        "验证参数错误\n请求时间晚于服务器接收到的时间，请检查",
    );
    for fresh in [epoch(-8), epoch(55)] {
        let answer = call(&sb, sign_type, "/unipay/query/payOrder", query(fresh)).await;
        ok_data(sign_type, &answer);
    }
    let answer = post_raw(
        &sb,
        "/unipay/query/payOrder",
        br#"{"orderNo":"P1"}"#.to_vec(),
    )
    .await;
    assert_error(&answer, 10006, "验证参数错误\n请求时间必填\n");
}
