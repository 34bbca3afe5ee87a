//! Close, cancel and the pay query on 2.0.8 (§2.6, §2.7, §4): refusals in shape B with
//! `PayCloseService` / `PayCancelService`'s texts, times as epoch seconds.

use super::*;

fn progress(order_no: &str, biz: &str) -> SandboxOrder {
    let mut o = paid(order_no, biz, 250);
    o.status = OrderStatus::Progress;
    o
}

#[tokio::test]
async fn close_and_cancel_answer_an_empty_signed_result_or_refuse_in_shape_b() {
    for sign_type in BOTH {
        let mut wx = progress("P4", "B4");
        wx.channel = "wechat_pay".to_owned();
        wx.method = "jsapi".to_owned();
        let mut failing = progress("P5", "B5");
        failing.channel_fails = true;
        let sb = sandbox(
            sign_type,
            vec![
                progress("P1", "B1"),
                progress("P2", "B2"),
                paid("P3", "B3", 1),
                wx,
                failing,
            ],
        );
        let data = ok_data(
            sign_type,
            &call(&sb, sign_type, "/unipay/close", json!({"orderNo": "P1"})).await,
        );
        assert_eq!(
            data.as_object().map(Map::len),
            Some(4),
            "PayCloseResult has no fields: {data}"
        );
        assert!(data["msg"].is_null());
        assert_eq!(sb.order_status("P1"), Some(OrderStatus::Close));
        let data = ok_data(
            sign_type,
            &call(
                &sb,
                sign_type,
                "/unipay/cancel",
                json!({"bizOrderNo": "B2"}),
            )
            .await,
        );
        assert!(data["msg"].is_null());
        assert_eq!(sb.order_status("P2"), Some(OrderStatus::Cancel));

        for (path, body, msg) in [
            (
                "/unipay/close",
                json!({"orderNo": "NOPE"}),
                "支付订单不存在",
            ),
            (
                "/unipay/cancel",
                json!({"orderNo": "NOPE"}),
                "支付订单不存在",
            ),
            ("/unipay/close", json!({}), "支付订单不存在"),
            (
                "/unipay/close",
                json!({"orderNo": "P1"}),
                "订单不是支付中, 无法进行关闭订单",
            ),
            (
                "/unipay/close",
                json!({"orderNo": "P3"}),
                "订单不是支付中, 无法进行关闭订单",
            ),
            (
                "/unipay/cancel",
                json!({"orderNo": "P3"}),
                "订单不是支付中, 无法进行撤销订单",
            ),
            ("/unipay/cancel", json!({"orderNo": "P4"}), "撤销订单失败"),
            ("/unipay/close", json!({"orderNo": "P5"}), "关闭订单失败"),
            ("/unipay/cancel", json!({"orderNo": "P5"}), "撤销订单失败"),
        ] {
            let answer = call(&sb, sign_type, path, body).await;
            assert_refused(sign_type, &answer, msg);
        }
        assert_eq!(sb.order_status("P5"), Some(OrderStatus::Progress));
        // `orderNo` wins when non-null, even empty.
        let answer = call(
            &sb,
            sign_type,
            "/unipay/close",
            json!({"orderNo": "", "bizOrderNo": "B4"}),
        )
        .await;
        assert_refused(sign_type, &answer, "支付订单不存在");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/close",
            json!({"orderNo": "P".repeat(33)}),
        )
        .await;
        assert_error(&answer, 10006, "验证参数错误\n支付订单号不可超过32位\n");
    }
}

#[tokio::test]
async fn a_close_running_refuses_a_second_one() {
    let sign_type = SignType::HmacSha256;
    let sb = sandbox(sign_type, vec![progress("P1", "B1")]);
    // A close in flight holds the order's lock until it finishes.
    let key = crate::daxpay::state::OrderKey::OrderNo("P1");
    let running = sb
        .inner
        .orders
        .begin_close(key, None, Version::V2_0, false)
        .expect("the first close starts");
    let answer = call(&sb, sign_type, "/unipay/close", json!({"orderNo": "P1"})).await;
    assert_refused(sign_type, &answer, "支付订单已在关闭中，请勿重复发起");
    let answer = call(&sb, sign_type, "/unipay/cancel", json!({"orderNo": "P1"})).await;
    assert_refused(sign_type, &answer, "支付订单已在撤销中，请勿重复发起");
    assert!(running.finish().await.is_ok());
    assert_eq!(sb.order_status("P1"), Some(OrderStatus::Close));
}

/// `Sandbox::hold_close`: a close running elsewhere, until released; the order unchanged.
#[tokio::test]
async fn a_close_held_by_a_test_refuses_closes_and_cancels_until_released() {
    let sign_type = SignType::Md5;
    let sb = sandbox(sign_type, vec![progress("P1", "B1")]);
    sb.hold_close("P1");
    for (path, busy) in [
        ("/unipay/close", "支付订单已在关闭中，请勿重复发起"),
        ("/unipay/cancel", "支付订单已在撤销中，请勿重复发起"),
    ] {
        let by_biz = call(&sb, sign_type, path, json!({"bizOrderNo": "B1"})).await;
        assert_refused(sign_type, &by_biz, busy);
    }
    assert_eq!(sb.order_status("P1"), Some(OrderStatus::Progress));
    sb.release_close("P1");
    let answer = call(&sb, sign_type, "/unipay/close", json!({"orderNo": "P1"})).await;
    assert_eq!(answer["data"]["code"], 0, "{answer}");
    assert_eq!(sb.order_status("P1"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn the_pay_query_writes_2_0_8s_result_with_epoch_second_times() {
    for sign_type in BOTH {
        let mut o = paid("P1", "B1", 1230);
        o.pay_time = super::super::wall_of(1_719_815_455, BEIJING);
        o.expired_time = super::super::wall_of(1_719_822_600, BEIJING);
        o.attach = Some("a=1".to_owned());
        let sb = sandbox(sign_type, vec![o]);
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"orderNo": "P1"}),
        )
        .await;
        let data = ok_data(sign_type, &answer);
        let keys: Vec<&str> = data
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "code",
                "msg",
                "resTime",
                "sign",
                "bizOrderNo",
                "orderNo",
                "outOrderNo",
                "title",
                "description",
                "allocation",
                "autoAllocation",
                "channel",
                "method",
                "amount",
                "refundableBalance",
                "status",
                "refundStatus",
                "allocStatus",
                "payTime",
                "expiredTime",
                "closeTime",
                "errorCode",
                "errorMsg"
            ]
        );
        assert_eq!(data["payTime"], 1_719_815_455);
        assert_eq!(data["expiredTime"], 1_719_822_600);
        assert_eq!(
            (data["amount"].as_u64(), data["refundableBalance"].as_u64()),
            (Some(1230), Some(1230))
        );
        assert!(
            data["msg"].is_null() && data["closeTime"].is_null() && data.get("attach").is_none()
        );
        assert_eq!(data["allocation"], false);
        // By the merchant's number under 2.0.8's typo; the correct spelling is not declared.
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"bizOrderNoeNo": "B1"}),
        )
        .await;
        assert_eq!(ok_data(sign_type, &answer)["orderNo"], "P1");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"bizOrderNo": "B1"}),
        )
        .await;
        assert_error(&answer, 20052, "验签失败");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"bizOrderNoeNo": " "}),
        )
        .await;
        assert_error(&answer, 10006, "验证参数错误\n业务号或支付单ID不能都为空");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"orderNo": "NOPE"}),
        )
        .await;
        assert_refused(sign_type, &answer, "支付订单不存在");
    }
}

#[tokio::test]
async fn shape_a_answers_bad_bodies_and_signatures() {
    let sign_type = SignType::Md5;
    let sb = sandbox(sign_type, vec![progress("P1", "B1")]);
    for body in [&b"[]"[..], b"{", b"", br#"{"orderNo":{}}"#] {
        let answer = post_raw(&sb, "/unipay/close", body.to_vec()).await;
        assert_eq!(answer["code"], 10005, "{answer}");
        assert!(answer["data"].is_null());
    }
    let mut body = obj(json!({"orderNo": "P1", "reqTime": epoch(0)}));
    body.insert("sign".to_owned(), json!("0".repeat(32)));
    let answer = post_raw(
        &sb,
        "/unipay/close",
        serde_json::to_vec(&body).expect("json"),
    )
    .await;
    assert_error(&answer, 20052, "验签失败");
    // Signed with the other digest: refused too.
    let answer = call(
        &sb,
        SignType::HmacSha256,
        "/unipay/close",
        json!({"orderNo": "P1"}),
    )
    .await;
    assert_error(&answer, 20052, "验签失败");
    let answer = call(
        &sb,
        sign_type,
        "/unipay/close",
        json!({"orderNo": "P1", "clientIp": "localhost", "nonceStr": "x".repeat(33)}),
    )
    .await;
    assert_error(
        &answer,
        10006,
        "验证参数错误\nIP地址不合法！\n随机数不可超过32位\n",
    );
    assert_eq!(sb.order_status("P1"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn every_pay_and_refund_status_reads_back() {
    use crate::order::RefundStatus;
    let sign_type = SignType::HmacSha256;
    let mut orders = Vec::new();
    for (i, status) in [
        OrderStatus::Progress,
        OrderStatus::Success,
        OrderStatus::Close,
        OrderStatus::Cancel,
        OrderStatus::Fail,
    ]
    .into_iter()
    .enumerate()
    {
        let mut o = paid(&format!("P{i}"), &format!("B{i}"), 1230);
        o.status = status;
        orders.push(o);
    }
    for (i, refund) in RefundStatus::ALL.into_iter().enumerate() {
        let mut o = paid(&format!("R{i}"), &format!("BR{i}"), 1230);
        o.refund_status = refund;
        orders.push(o);
    }
    let sb = sandbox(sign_type, orders.clone());
    for o in &orders {
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"orderNo": o.order_no}),
        )
        .await;
        let data = ok_data(sign_type, &answer);
        assert_eq!(data["status"], o.status.as_str(), "{answer}");
        assert_eq!(data["refundStatus"], o.refund_status.as_str(), "{answer}");
        let balance = if o.refund_status == RefundStatus::Refunded {
            0
        } else {
            1230
        };
        assert_eq!(data["refundableBalance"], balance, "{answer}");
    }
}
