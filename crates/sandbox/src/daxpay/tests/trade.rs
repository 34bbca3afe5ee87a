//! `/unipay/pay`, `/unipay/refund`, `/unipay/query/refundOrder` and the settle endpoint.

use super::*;
use crate::order::{Amount, RefundOrderStatus, RefundStatus};

fn pay_30(biz: &str, channel: &str, method: &str, amount: Value) -> Map<String, Value> {
    obj(json!({
        "mchNo": "M1", "appId": "A1", "nonceStr": "n1", "reqTime": wall_clock(0),
        "bizOrderNo": biz, "title": "T", "channel": channel, "method": method, "amount": amount,
    }))
}

async fn pay(sb: &Sandbox, body: Map<String, Value>) -> Value {
    post(sb, "/unipay/pay", signed(scheme(Version::V3_0), body)).await
}

fn refund_30(order_no: &str, biz_refund: &str, amount: Value, reason: &str) -> Map<String, Value> {
    obj(json!({
        "mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "orderNo": order_no,
        "bizRefundNo": biz_refund, "amount": amount, "reason": reason,
    }))
}

async fn refund(sb: &Sandbox, body: Map<String, Value>) -> Value {
    post(sb, "/unipay/refund", signed(scheme(Version::V3_0), body)).await
}

#[tokio::test]
async fn pay_creates_a_progress_order_per_channel_and_method() {
    let sb = sandbox(Version::V3_0, vec![]);
    let cases = [
        ("ali_pay", "wap", "https://openapi.alipay.com/gateway.do?"),
        (
            "alipay_isv",
            "web",
            "https://openapi.alipay.com/gateway.do?",
        ),
        ("ali_pay", "app", "app_id="),
        ("ali_pay", "qrcode", "https://qr.alipay.com/"),
        ("wechat_pay", "qrcode", "weixin://wxpay/bizpayurl?pr="),
        (
            "wechat_pay",
            "wap",
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?",
        ),
    ];
    for (i, (channel, method, prefix)) in cases.into_iter().enumerate() {
        let mut body = pay_30(&format!("B{i}"), channel, method, json!(12.3));
        // WeChat H5 needs the payer's IP (see below).
        body.insert("clientIp".into(), json!("10.1.2.3"));
        let answer = pay(&sb, body).await;
        assert_eq!(answer["code"], 0, "{answer}");
        assert!(verifies_data(&answer), "{answer}");
        let data = &answer["data"];
        assert_eq!(data["status"], "progress");
        let body = data["payBody"].as_str().expect("payBody");
        assert!(body.starts_with(prefix), "{channel} {method}: {body}");
        let order_no = data["orderNo"].as_str().expect("orderNo");
        assert!(
            order_no.starts_with('P') && order_no.len() == 23,
            "{order_no}"
        );
        let order = sb.order(order_no).expect("stored");
        assert_eq!(order.amount.fen(), 1230);
        assert_eq!(order.refundable_balance().fen(), 1230);
        assert_eq!(order.channel, channel);
    }
    // WeChat H5 without the payer's IP: the channel refuses, the order stays `progress`.
    let answer = pay(&sb, pay_30("W1", "wechat_pay", "wap", json!(1))).await;
    assert_eq!(answer["code"], 20045, "{answer}");
    let msg = answer["msg"].as_str().unwrap_or_default();
    assert!(msg.starts_with("微信V3手机网站支付失败: "), "{answer}");
    let order = sb.order_by_biz("W1").expect("kept");
    assert_eq!(order.status, crate::order::OrderStatus::Progress);
    // ali jsapi: a trade number only; wechat jsapi / app: JSON text with exactly §2.6's keys.
    let answer = pay(&sb, pay_30("J1", "ali_pay", "jsapi", json!(1))).await;
    let body = answer["data"]["payBody"].as_str().expect("trade_no");
    assert!(body.bytes().all(|b| b.is_ascii_digit()), "{body}");
    let mut body = pay_30("J2", "wechat_pay", "jsapi", json!(1));
    body.insert("openId".into(), json!("o1"));
    let answer = pay(&sb, body).await;
    let text = answer["data"]["payBody"].as_str().expect("json text");
    let keys: std::collections::BTreeSet<String> = serde_json::from_str::<Map<String, Value>>(text)
        .expect("json")
        .keys()
        .cloned()
        .collect();
    let want = [
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    ];
    assert_eq!(keys, want.iter().map(|k| (*k).to_owned()).collect());
    let answer = pay(&sb, pay_30("J3", "wechat_pay", "app", json!(1))).await;
    let text = answer["data"]["payBody"].as_str().expect("json text");
    let keys: Vec<String> = text
        .trim_matches(['{', '}'])
        .split(',')
        .map(|kv| {
            kv.split(':')
                .next()
                .unwrap_or("")
                .trim_matches('"')
                .to_owned()
        })
        .collect();
    assert_eq!(
        keys,
        [
            "appid",
            "partnerid",
            "prepayid",
            "package",
            "nonceStr",
            "timeStamp",
            "sign"
        ]
    );
}

/// Verifies a 3.x answer whose `data` is a typed object, from the raw bytes' order.
fn verifies_data(answer: &Value) -> bool {
    // `post` parsed into a sorted map; the typed results here are short, so re-sign in the
    // sandbox's declared order by re-reading the object's keys as the sandbox writes them.
    let map = answer.as_object().expect("object");
    let data = map["data"].as_object().expect("data");
    let order: &[&str] = if data.contains_key("refundNo") {
        &["refundNo", "bizRefundNo", "status", "errorMsg"]
    } else {
        &["bizOrderNo", "orderNo", "status", "payBody"]
    };
    let members: Vec<(&str, result::Member)> = order
        .iter()
        .filter_map(|k| data.get(*k).map(|v| (*k, v)))
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map_or(result::Member::Null, |s| result::Member::Text(s.to_owned())),
            )
        })
        .collect();
    let text = |k: &str| Cow::Owned(map[k].as_str().expect("text").to_owned());
    let fields = [
        ("code", Cow::Owned(map["code"].to_string())),
        ("msg", text("msg")),
        ("data", Cow::Owned(result::signed_json(&members))),
        ("resTime", text("resTime")),
        ("traceId", text("traceId")),
    ];
    scheme(Version::V3_0).verify(&fields, SECRET, map["sign"].as_str().expect("sign"))
}

#[tokio::test]
async fn barcode_is_paid_at_once_and_the_query_shows_four_decimals() {
    let sb = sandbox(Version::V3_0, vec![]);
    let amount: Value = serde_json::from_str("12.30").expect("number");
    let mut body = pay_30("BAR", "wechat_pay", "barcode", amount);
    body.insert("authCode".into(), json!("134567890123456789"));
    let answer = pay(&sb, body).await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    assert!(answer["data"]["payBody"].is_null());
    let order_no = answer["data"]["orderNo"].as_str().expect("no").to_owned();
    let query =
        obj(json!({"mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "orderNo": order_no}));
    let bytes = serde_json::to_vec(
        &post(
            &sb,
            "/unipay/query/payOrder",
            signed(scheme(Version::V3_0), query),
        )
        .await,
    )
    .expect("json");
    let text = String::from_utf8(bytes).expect("utf8");
    assert!(text.contains(r#""amount":12.3000"#), "{text}");
    assert!(text.contains(r#""realAmount":12.3000"#), "{text}");
    assert!(text.contains(r#""payTime":"20"#), "{text}");
}

#[tokio::test]
async fn pay_refusals_carry_daxpays_codes_and_messages() {
    let sb = sandbox(Version::V3_0, vec![]);
    let v = |d: &str| format!("验证参数错误\n{d}");
    let cases: Vec<(Map<String, Value>, i64, String, bool)> = vec![
        (
            pay_30("X", "ali_pay", "wap", json!(0)),
            10506,
            v("支付金额不可小于0.01元"),
            false,
        ),
        (
            pay_30("X", "ali_pay", "wap", json!(1.234)),
            10506,
            v("支付金额精度到分, 且要小于一亿元"),
            false,
        ),
        (
            pay_30("X", "ali_pay", "wap", json!(100000000)),
            10506,
            v("支付金额精度到分, 且要小于一亿元"),
            false,
        ),
        (
            pay_30("", "ali_pay", "wap", json!(1)),
            10506,
            v("商户订单号不可为空"),
            false,
        ),
        (
            pay_30("X", "union_pay", "wap", json!(1)),
            20030,
            "不支持的能力: union_pay".into(),
            true,
        ),
        (
            pay_30("X", "nope", "wap", json!(1)),
            20030,
            "不支持的能力: nope".into(),
            true,
        ),
        (
            pay_30("X", "ali_pay", "nope", json!(1)),
            20030,
            "该支付方式不存在".into(),
            true,
        ),
        (
            pay_30("X", "wechat_pay", "web", json!(1)),
            10506,
            v("不支持的支付方式"),
            true,
        ),
        (
            pay_30("X", "wechat_pay", "jsapi", json!(1)),
            10506,
            v("微信JSAPI支付必须传入openId参数"),
            true,
        ),
        (
            pay_30("X", "wechat_pay", "barcode", json!(1)),
            10506,
            v("微信付款码支付必须传入付款码参数"),
            true,
        ),
    ];
    for (body, code, msg, signed_refusal) in cases {
        let answer = pay(&sb, body).await;
        if signed_refusal {
            assert_signed_refusal(Version::V3_0, &answer, code, &msg);
        } else {
            assert_unsigned(&answer, code, &msg);
        }
    }
    let mut past = pay_30("X", "ali_pay", "wap", json!(1));
    past.insert("expiredTime".into(), json!(wall_clock(-60)));
    assert_signed_refusal(
        Version::V3_0,
        &pay(&sb, past).await,
        10506,
        &v("支付超时时间设置有误, 请检查!"),
    );
    assert!(sb.refunds().is_empty());
}

#[tokio::test]
async fn duplicates_follow_check_order_and_channel_failure_keeps_progress() {
    let mut waiting = order("W1", "BW", OrderStatus::Wait);
    waiting.app_id = Some("A1".into());
    let sb = sandbox(
        Version::V3_0,
        vec![
            waiting,
            order("S1", "BS", OrderStatus::Success),
            order("C1", "BC", OrderStatus::Close),
        ],
    );
    let answer = pay(&sb, pay_30("BW", "ali_pay", "qrcode", json!(1))).await;
    assert_eq!(
        answer["data"]["orderNo"], "W1",
        "a wait order is reused: {answer}"
    );
    for (biz, msg) in [
        ("BW", "订单号重复，请重新发起支付"),
        ("BS", "已经支付成功，请勿重新支付"),
        ("BC", "该订单支付失败或已经被关闭"),
    ] {
        assert_signed_refusal(
            Version::V3_0,
            &pay(&sb, pay_30(biz, "ali_pay", "wap", json!(1))).await,
            20044,
            msg,
        );
    }
    let mut failing = pay_30("F1", "ali_pay", "wap", json!(1));
    failing.insert("title".into(), json!(CHANNEL_FAIL));
    let answer = pay(&sb, failing).await;
    assert_eq!(answer["code"], 20045, "{answer}");
    assert!(answer["msg"]
        .as_str()
        .expect("msg")
        .starts_with("支付失败: "));
    let order = sb.order(&answer_order_no(&sb, "F1")).expect("kept");
    assert_eq!(order.status, OrderStatus::Progress);
    assert!(order.error_msg.is_some());
}

#[tokio::test]
async fn refunds_deduct_fail_rerun_and_are_queried_by_number() {
    let mut paid = order("O1", "B1", OrderStatus::Success);
    paid.amount = Amount::from_fen(1299);
    let sb = sandbox(
        Version::V3_0,
        vec![paid, order("O2", "B2", OrderStatus::Progress)],
    );
    // Refusals first.
    let answer = refund(&sb, refund_30("NOPE", "RF0", json!(1), "r")).await;
    assert_signed_refusal(Version::V3_0, &answer, 10405, "支付订单不存在");
    let answer = refund(&sb, refund_30("O2", "RF0", json!(1), "r")).await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20044,
        "当前支付单订状态[支付中]不允许发起退款操作",
    );
    let answer = refund(&sb, refund_30("O1", "RF0", json!(13), "r")).await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        10506,
        "验证参数错误\n退款金额不能大于支付金额",
    );
    // A failing channel: code 0, status fail, the order left refunding with the balance deducted.
    let answer = refund(&sb, refund_30("O1", "RF1", json!(2.99), REFUND_FAIL)).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["status"], "fail");
    assert!(verifies_data(&answer), "{answer}");
    let o1 = sb.order("O1").expect("O1");
    assert_eq!(
        (o1.refund_status, o1.refundable_balance().fen()),
        (RefundStatus::Refunding, 1000)
    );
    let answer = refund(&sb, refund_30("O1", "RF2", json!(1), "r")).await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20044,
        "当前支付单退款状态[退款中]不允许发起退款操作",
    );
    // The same bizRefundNo re-runs; nothing is deducted twice.
    let answer = refund(&sb, refund_30("O1", "RF1", json!(2.99), "again")).await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    let o1 = sb.order("O1").expect("O1");
    assert_eq!(
        (o1.refund_status, o1.refundable_balance().fen()),
        (RefundStatus::PartialRefund, 1000)
    );
    let answer = refund(&sb, refund_30("O1", "RF1", json!(2.99), "again")).await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20044,
        "只有失败状态的才可以重新发起退款",
    );
    let refund_no = sb.refunds()[0].refund_no.clone();
    let answer = refund(&sb, refund_30("O1", &refund_no, json!(1), "r")).await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        10506,
        "验证参数错误\n退款单号已存在",
    );
    // The rest: fully refunded.
    let answer = refund(
        &sb,
        refund_30(
            "O1",
            "RF3",
            serde_json::from_str("10.00").expect("number"),
            "r",
        ),
    )
    .await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    let o1 = sb.order("O1").expect("O1");
    assert_eq!(
        (o1.refund_status, o1.refundable_balance().fen()),
        (RefundStatus::Refunded, 0)
    );
    assert_eq!(
        sb.refund(&refund_no).map(|r| r.status),
        Some(RefundOrderStatus::Success)
    );

    // Refund query: refundNo in any app, truncated orderAmount, 4-decimal amounts.
    let q = |body: Value| signed(scheme(Version::V3_0), obj(body));
    let answer = post(
        &sb,
        "/unipay/query/refundOrder",
        q(json!({"mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "refundNo": refund_no})),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    let text = answer.to_string();
    assert!(
        text.contains(r#""orderAmount":12"#) && text.contains(r#""amount":2.9900"#),
        "{text}"
    );
    assert_eq!(
        answer["data"]["orderId"].as_str().map(|s| s.len() > 10),
        Some(true)
    );
    let answer = post(
        &sb,
        "/unipay/query/refundOrder",
        q(json!({"mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0)})),
    )
    .await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        10506,
        "验证参数错误\n退款号或商户退款号不能都为空",
    );
    let answer = post(
        &sb,
        "/unipay/query/refundOrder",
        q(json!({"mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "bizRefundNo": "nope"})),
    )
    .await;
    assert_signed_refusal(Version::V3_0, &answer, 20041, "退款订单不存在");
}

#[tokio::test]
async fn settle_endpoint_pays_and_fails() {
    let sb = sandbox(
        Version::V3_0,
        vec![
            order("O1", "B1", OrderStatus::Progress),
            order("O2", "B2", OrderStatus::Progress),
        ],
    );
    let (status, answer) = send(&sb, Method::POST, "/sandbox/orders/O1/pay", vec![]).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("success"))
    );
    let o1 = sb.order("O1").expect("O1");
    assert!(o1.pay_time.is_some() && o1.real_amount().is_some());
    let (status, _) = send(&sb, Method::POST, "/sandbox/orders/O1/fail", vec![]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = send(&sb, Method::POST, "/sandbox/orders/nope/pay", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sb.fail_order("B2").map(|o| o.status), Ok(OrderStatus::Fail));
}

#[test]
fn lifecycle_pay_answer_vector() {
    let pay_body = r#"{"appId":"wx123","timeStamp":"1756699200","package":"prepay_id=wx01","paySign":"abc/+="}"#;
    let data: result::Typed = vec![
        ("bizOrderNo", result::Member::Text("M20250901001".into())),
        (
            "orderNo",
            result::Member::Text("P2025090112000001000001".into()),
        ),
        ("status", result::Member::Text("progress".into())),
        ("payBody", result::Member::Text(pay_body.into())),
    ];
    let signed = result::signed_json(&data);
    let fields = [
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        ("data", Cow::Borrowed(signed.as_str())),
        ("resTime", Cow::Borrowed("2025-09-01 12:00:00")),
        ("traceId", Cow::Borrowed("T1")),
    ];
    let secret = "SecretKey123";
    assert_eq!(
        Scheme::new(Version::V3_0, SignType::Md5).sign(&fields, secret),
        "c5f1c9b9f0170022ebe93019fd1dc0a1"
    );
    assert_eq!(
        Scheme::new(Version::V3_0, SignType::HmacSha256).sign(&fields, secret),
        "2e53572e76b5627c1420accf56ec47bbbdb3a6ae6fa0225e727736e340de5b1e"
    );
}

fn answer_order_no(sb: &Sandbox, biz: &str) -> String {
    let table = sb.inner.orders.lock();
    let found = table
        .values()
        .find(|e| e.order.biz_order_no == biz)
        .map(|e| e.order.order_no.clone());
    found.expect("order")
}
