//! `/unipay/refund` and `/unipay/query/refundOrder` on 2.0.8 (§5, §6), both sign types.

use super::*;
use crate::order::{Amount, RefundOrderStatus, RefundStatus};

fn refund_body(order_no: &str, biz_refund_no: &str, amount: i64, reason: &str) -> Value {
    json!({
        "orderNo": order_no,
        "bizRefundNo": biz_refund_no,
        "amount": amount,
        "reason": reason,
        "attach": "x",
        "notifyUrl": "http://127.0.0.1:9/r",
    })
}

/// The refund's number from a refund answer, after checking it carries no status.
fn refund_no(sign_type: SignType, answer: &Value) -> String {
    let data = ok_data(sign_type, answer);
    assert!(
        data["status"].is_null(),
        "2.0.8 never sets the status: {answer}"
    );
    data["refundNo"].as_str().expect("refundNo").to_owned()
}

#[tokio::test]
async fn refunds_in_parts_then_refused_and_queried() {
    for sign_type in BOTH {
        let sb = sandbox(sign_type, vec![paid("P1", "B1", 1230)]);
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF1", 230, "r"),
        )
        .await;
        assert!(answer["data"]["msg"].is_null(), "{answer}");
        let no1 = refund_no(sign_type, &answer);
        assert_eq!(
            sb.order("P1").map(|o| o.refund_status),
            Some(RefundStatus::PartialRefund)
        );
        let query = call(
            &sb,
            sign_type,
            "/unipay/query/refundOrder",
            json!({"refundNo": no1}),
        )
        .await;
        let data = ok_data(sign_type, &query);
        assert_eq!(
            (
                data["status"].as_str(),
                data["amount"].as_u64(),
                data["orderAmount"].as_u64()
            ),
            (Some("success"), Some(230), Some(1230))
        );
        assert!(
            data["refundTime"].is_null() && data["finishTime"].is_u64(),
            "{query}"
        );
        let by_biz = call(
            &sb,
            sign_type,
            "/unipay/query/refundOrder",
            json!({"bizRefundNo": "RF1"}),
        )
        .await;
        assert_eq!(ok_data(sign_type, &by_biz)["refundNo"], no1.as_str());

        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF2", 1001, "r"),
        )
        .await;
        assert_error(&answer, 10006, "验证参数错误\n退款金额不能大于支付金额");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF2", 1000, "r"),
        )
        .await;
        refund_no(sign_type, &answer);
        assert_eq!(
            sb.order("P1")
                .map(|o| (o.refund_status, o.refundable_balance().fen())),
            Some((RefundStatus::Refunded, 0))
        );
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF3", 1, "r"),
        )
        .await;
        assert_refused(
            sign_type,
            &answer,
            "当前支付单退款状态[全部退款]不允许发起退款操作",
        );
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF1", 1, "r"),
        )
        .await;
        assert_refused(sign_type, &answer, "只有失败状态的才可以重新发起退款");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("NOPE", "RF4", 1, "r"),
        )
        .await;
        assert_error(&answer, 10010, "支付订单不存在");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", &no1, 1, "r"),
        )
        .await;
        assert_refused(
            sign_type,
            &answer,
            "当前支付单退款状态[全部退款]不允许发起退款操作",
        );
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/refundOrder",
            json!({"refundNo": "R0"}),
        )
        .await;
        assert_refused(sign_type, &answer, "退款订单不存在");
        let answer = call(
            &sb,
            sign_type,
            "/unipay/query/refundOrder",
            json!({"refundNo": " "}),
        )
        .await;
        assert_error(&answer, 10006, "验证参数错误\n退款号或商户退款号不能都为空");
    }
}

#[tokio::test]
async fn a_failed_refund_leaves_the_order_refunding_and_reruns_with_its_stored_amount() {
    let sign_type = SignType::HmacSha256;
    let mut progress = paid("P2", "B2", 10);
    progress.status = OrderStatus::Progress;
    let sb = sandbox(sign_type, vec![paid("P1", "B1", 1230), progress]);
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        refund_body("P1", "RF1", 500, crate::REFUND_FAIL),
    )
    .await;
    assert_eq!(answer["data"]["msg"], "沙箱通道模拟退款失败", "{answer}");
    let no = refund_no(sign_type, &answer);
    let order = sb.order("P1").expect("order");
    assert_eq!(
        (order.refund_status, order.refundable_balance()),
        (RefundStatus::Refunding, Amount::from_fen(730))
    );
    let refund = sb.refund(&no).expect("refund");
    assert_eq!(
        (refund.status, refund.error_code.as_deref()),
        (RefundOrderStatus::Fail, Some("SANDBOX_FAIL"))
    );
    // Any other refund of the order is refused while it is `refunding`.
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        refund_body("P1", "RF2", 1, "r"),
    )
    .await;
    assert_refused(
        sign_type,
        &answer,
        "当前支付单退款状态[退款中]不允许发起退款操作",
    );
    // The same bizRefundNo re-runs with the stored order and amount; msg stays stale.
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        refund_body("OTHER", "RF1", 1, "r"),
    )
    .await;
    assert_eq!(refund_no(sign_type, &answer), no);
    assert_eq!(
        answer["data"]["msg"], "沙箱通道模拟退款失败",
        "stale: {answer}"
    );
    let refund = sb.refund(&no).expect("refund");
    assert_eq!(
        (refund.status, refund.amount.fen()),
        (RefundOrderStatus::Success, 500)
    );
    assert_eq!(
        sb.order("P1").map(|o| o.refund_status),
        Some(RefundStatus::PartialRefund)
    );
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        refund_body("P2", "RF3", 1, "r"),
    )
    .await;
    assert_refused(
        sign_type,
        &answer,
        "当前支付单订状态[支付中]不允许发起退款操作",
    );
    let mut no_amount = refund_body("P1", "RF4", 1, "r");
    no_amount.as_object_mut().map(|m| m.remove("amount"));
    assert_error(
        &call(&sb, sign_type, "/unipay/refund", no_amount).await,
        10001,
        "数据错误",
    );
}

#[tokio::test]
async fn wechat_refunds_stay_in_progress_until_the_channel_settles_them() {
    let sign_type = SignType::Md5;
    let mut wx = paid("P1", "B1", 100);
    wx.channel = "wechat_pay".to_owned();
    let sb = sandbox(sign_type, vec![wx, paid("P2", "B2", 100)]);
    let no = refund_no(
        sign_type,
        &call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF1", 100, "r"),
        )
        .await,
    );
    let query = call(
        &sb,
        sign_type,
        "/unipay/query/refundOrder",
        json!({"refundNo": no}),
    )
    .await;
    assert_eq!(ok_data(sign_type, &query)["status"], "progress");
    assert_eq!(
        sb.succeed_refund(&no).map(|r| r.status),
        Some(RefundOrderStatus::Success)
    );
    assert_eq!(
        sb.order("P1").map(|o| o.refund_status),
        Some(RefundStatus::Refunded)
    );
    assert!(sb.succeed_refund(&no).is_none(), "only a progress refund");
    // Held: even an Alipay refund waits; closing it gives the balance back.
    sb.hold_refunds(true);
    let no = refund_no(
        sign_type,
        &call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P2", "RF2", 40, "r"),
        )
        .await,
    );
    assert_eq!(
        sb.refund(&no).map(|r| r.status),
        Some(RefundOrderStatus::Progress)
    );
    assert_eq!(
        sb.close_refund(&no).map(|r| r.status),
        Some(RefundOrderStatus::Close)
    );
    let order = sb.order("P2").expect("order");
    assert_eq!(
        (order.refund_status, order.refundable_balance().fen()),
        (RefundStatus::NoRefund, 100)
    );
    assert_eq!(sb.requests_to("/unipay/refund"), 2);
}

#[tokio::test]
async fn a_running_pay_or_refund_holds_its_lock() {
    let sign_type = SignType::HmacSha256;
    let sb = sandbox(sign_type, vec![paid("P1", "B1", 100)]);
    sb.hold_lock("RF1");
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        refund_body("P1", "RF1", 1, "r"),
    )
    .await;
    let data = ok_data(sign_type, &answer);
    assert_eq!(data["msg"], "退款处理中，请勿重复操作");
    assert_eq!(
        (data["refundNo"].as_str(), data["bizRefundNo"].as_str()),
        (Some("RF1"), Some("RF1"))
    );
    assert!(sb.refunds().is_empty(), "nothing done");
    sb.hold_lock("B9");
    let body = json!({"bizOrderNo": "B9", "title": "T", "channel": "ali_pay", "method": "qrcode", "amount": 1});
    let answer = call(&sb, sign_type, "/unipay/pay", body.clone()).await;
    let data = ok_data(sign_type, &answer);
    assert_eq!(data["msg"], "正在支付中，请勿重复支付");
    assert!(data["orderNo"].is_null() && sb.order_by_biz("B9").is_none());
    sb.release_lock("B9");
    sb.release_lock("RF1");
    assert_eq!(
        ok_data(sign_type, &call(&sb, sign_type, "/unipay/pay", body).await)["status"],
        "progress"
    );
    refund_no(
        sign_type,
        &call(
            &sb,
            sign_type,
            "/unipay/refund",
            refund_body("P1", "RF1", 1, "r"),
        )
        .await,
    );
}
