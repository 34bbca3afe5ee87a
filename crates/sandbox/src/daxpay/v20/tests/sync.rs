//! `/unipay/sync/pay` and `/unipay/sync/refund` on 2.0.8 (§7.5; `PaySyncService`,
//! `RefundSyncService`), both sign types: what only a sync repairs — an unpaid order past its
//! expiry, a payment the channel took that DaxPay did not apply, a refund the channel finished
//! without telling DaxPay — and what it leaves alone.

use super::notices::{attempts, merchant, next};
use super::*;
use crate::order::{Amount, RefundOrderStatus, RefundStatus};

/// A WeChat QR order `biz` of 0.10 yuan expiring in 2 hours, notified to `url`: its orderNo.
async fn wechat_order(sb: &Sandbox, sign_type: SignType, biz: &str, url: &str) -> String {
    let body = json!({
        "bizOrderNo": biz, "title": "T", "channel": "wechat_pay", "method": "qrcode",
        "amount": 10, "expiredTime": epoch(7200), "notifyUrl": url,
    });
    let answer = call(sb, sign_type, "/unipay/pay", body).await;
    let data = ok_data(sign_type, &answer);
    assert_eq!(data["status"], "progress", "{answer}");
    data["orderNo"].as_str().expect("orderNo").to_owned()
}

/// The sync's `data`: exactly the common four and `status`; its status.
fn synced(sign_type: SignType, answer: &Value) -> String {
    let data = ok_data(sign_type, answer);
    assert_eq!(
        data.as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec![
            "code".to_owned(),
            "msg".to_owned(),
            "resTime".to_owned(),
            "sign".to_owned(),
            "status".to_owned()
        ]),
        "{answer}"
    );
    data["status"].as_str().expect("status").to_owned()
}

fn status_of(sb: &Sandbox, order_no: &str) -> OrderStatus {
    sb.order(order_no).expect("the order").status
}

#[tokio::test]
async fn an_unpaid_order_is_left_until_it_expired_then_closed_by_the_sync() {
    for sign_type in BOTH {
        let (url, mut rx) = merchant("SUCCESS").await;
        let sb = sandbox(sign_type, vec![]);
        let no = wechat_order(&sb, sign_type, "E1", &url).await;
        let sync = |body: Value| call(&sb, sign_type, "/unipay/sync/pay", body);

        let answer = sync(json!({"orderNo": no})).await;
        assert_eq!(synced(sign_type, &answer), "pay_progress");
        assert_eq!(status_of(&sb, &no), OrderStatus::Progress);

        assert!(sb.expire_order(&no, Duration::from_secs(120)));
        // By the merchant's number this time.
        let answer = sync(json!({"bizOrderNo": "E1"})).await;
        assert_eq!(synced(sign_type, &answer), "pay_timeout", "{sign_type:?}");
        let order = sb.order(&no).expect("the order");
        assert_eq!(order.status, OrderStatus::Close);
        assert!(order.close_time.is_some() && order.pay_time.is_none());
        // The first notice is the close: the `pay_progress` sync registered none.
        let hit = next(&mut rx).await;
        assert_eq!(
            (hit.body["orderNo"].as_str(), hit.body["status"].as_str()),
            (Some(no.as_str()), Some("close"))
        );
        assert!(verifies(sign_type, &hit.body));

        let answer = sync(json!({"orderNo": no})).await;
        assert_eq!(synced(sign_type, &answer), "pay_closed");
        let query = call(
            &sb,
            sign_type,
            "/unipay/query/payOrder",
            json!({"orderNo": no}),
        )
        .await;
        assert_eq!(ok_data(sign_type, &query)["status"], "close");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(attempts(&sb, 1).await.len(), 1, "one notice: {sign_type:?}");
    }
}

#[tokio::test]
async fn a_payment_the_channel_took_after_expiry_is_found_by_the_sync() {
    for sign_type in BOTH {
        let (url, mut rx) = merchant("SUCCESS").await;
        let sb = sandbox(sign_type, vec![]);
        let no = wechat_order(&sb, sign_type, "L1", &url).await;
        let at_channel = sb.pay_at_channel_only(&no).expect("an open order");
        assert_eq!(at_channel.status, OrderStatus::Progress);
        assert_eq!(status_of(&sb, &no), OrderStatus::Progress, "not applied");
        assert!(sb.expire_order(&no, Duration::from_secs(120)));

        let answer = call(&sb, sign_type, "/unipay/sync/pay", json!({"orderNo": no})).await;
        assert_eq!(synced(sign_type, &answer), "pay_success");
        let order = sb.order(&no).expect("the order");
        assert_eq!(order.status, OrderStatus::Success);
        assert!(order.pay_time.is_some() && order.out_order_no.is_some());
        let hit = next(&mut rx).await;
        assert_eq!(hit.body["status"], "success");
        assert!(hit.body["payTime"].is_u64() && verifies(sign_type, &hit.body));

        let answer = call(&sb, sign_type, "/unipay/sync/pay", json!({"orderNo": no})).await;
        assert_eq!(synced(sign_type, &answer), "pay_success");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(attempts(&sb, 1).await.len(), 1, "one notice: {sign_type:?}");
    }
}

/// `getOrderAndCheck` runs the same sync for a repeated pay of an expired order.
#[tokio::test]
async fn a_repeated_pay_of_an_expired_order_runs_the_same_sync() {
    for sign_type in BOTH {
        let (url, mut rx) = merchant("SUCCESS").await;
        let sb = sandbox(sign_type, vec![]);
        let no = wechat_order(&sb, sign_type, "R1", &url).await;
        sb.pay_at_channel_only("R1")
            .expect("by the merchant's number too");
        assert!(sb.expire_order(&no, Duration::from_secs(1)));
        let again = json!({
            "bizOrderNo": "R1", "title": "T", "channel": "wechat_pay", "method": "qrcode",
            "amount": 10, "notifyUrl": url,
        });
        let answer = call(&sb, sign_type, "/unipay/pay", again).await;
        let data = ok_data(sign_type, &answer);
        assert_eq!(data["msg"], "支付已超时，请重新确认支付状态", "{answer}");
        assert!(data["status"].is_null(), "{answer}");
        assert_eq!(status_of(&sb, &no), OrderStatus::Success);
        assert_eq!(next(&mut rx).await.body["status"], "success");
    }
}

#[tokio::test]
async fn a_refund_the_channel_finished_unseen_is_found_by_the_refund_sync() {
    for sign_type in BOTH {
        let (url, mut rx) = merchant("SUCCESS").await;
        let mut order = paid("P1", "B1", 1230);
        order.channel = "wechat_pay".to_owned();
        let sb = sandbox(sign_type, vec![order]);
        let body = json!({"orderNo": "P1", "bizRefundNo": "RF1", "amount": 230, "notifyUrl": url});
        let answer = call(&sb, sign_type, "/unipay/refund", body).await;
        let refund_no = ok_data(sign_type, &answer)["refundNo"]
            .as_str()
            .expect("refundNo")
            .to_owned();
        let sync = |body: Value| call(&sb, sign_type, "/unipay/sync/refund", body);

        let answer = sync(json!({"refundNo": refund_no})).await;
        assert_eq!(synced(sign_type, &answer), "refund_progress");
        assert_eq!(
            sb.refund(&refund_no).map(|r| r.status),
            Some(RefundOrderStatus::Progress)
        );

        assert!(sb.succeed_refund_at_channel_only(&refund_no).is_some());
        assert_eq!(
            sb.refund(&refund_no).map(|r| r.status),
            Some(RefundOrderStatus::Progress),
            "DaxPay was not told"
        );
        let answer = sync(json!({"bizRefundNo": "RF1"})).await;
        assert_eq!(
            synced(sign_type, &answer),
            "refund_success",
            "{sign_type:?}"
        );
        let refund = sb.refund(&refund_no).expect("the refund");
        assert_eq!(refund.status, RefundOrderStatus::Success);
        assert!(refund.finish_time.is_some() && refund.out_refund_no.is_some());
        assert_eq!(
            sb.order("P1").map(|o| o.refund_status),
            Some(RefundStatus::PartialRefund)
        );
        // `RefundRepairService` registers two notices.
        for _ in 0..2 {
            let hit = next(&mut rx).await;
            assert_eq!(hit.body["status"], "success");
            assert!(verifies(sign_type, &hit.body));
        }

        let answer = sync(json!({"refundNo": refund_no})).await;
        assert_eq!(synced(sign_type, &answer), "refund_success");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(attempts(&sb, 2).await.len(), 2, "{sign_type:?}");
    }
}

#[tokio::test]
async fn a_refund_that_never_reached_the_channel_is_closed_and_a_closed_one_says_close() {
    for sign_type in BOTH {
        let mut order = paid("P1", "B1", 1230);
        order.channel = "wechat_pay".to_owned();
        let sb = sandbox(sign_type, vec![order]);
        let body = json!({"orderNo": "P1", "bizRefundNo": "RF1", "amount": 230, "reason": crate::REFUND_FAIL});
        call(&sb, sign_type, "/unipay/refund", body).await;
        let failed = sb.refunds().pop().expect("the refund");
        assert_eq!(failed.status, RefundOrderStatus::Fail);
        let sync = |no: &str| {
            call(
                &sb,
                sign_type,
                "/unipay/sync/refund",
                json!({"refundNo": no}),
            )
        };
        let answer = sync(&failed.refund_no).await;
        assert_eq!(synced(sign_type, &answer), "pay_not_found");
        assert_eq!(
            sb.refund(&failed.refund_no).map(|r| r.status),
            Some(RefundOrderStatus::Close)
        );
        let order = sb.order("P1").expect("the order");
        assert_eq!(order.refundable_balance(), Amount::from_fen(1230));
        // 2.0.8 sets the *status* back and leaves `refundStatus` as the failure left it.
        assert_eq!(
            (order.status, order.refund_status),
            (OrderStatus::Success, RefundStatus::Refunding)
        );
        let answer = sync(&failed.refund_no).await;
        assert_eq!(synced(sign_type, &answer), "close");
    }
}

#[tokio::test]
async fn syncs_refuse_in_2_0_8s_words_and_change_nothing_when_the_channel_fails() {
    for sign_type in BOTH {
        let mut alipay = paid("P2", "B2", 1230);
        alipay.channel = "ali_pay".to_owned();
        let mut open = SandboxOrder::new("P3", "B3", OrderStatus::Progress);
        open.channel = "wechat_pay".to_owned();
        let sb = sandbox(sign_type, vec![paid("P1", "B1", 1230), alipay, open]);
        let pay_sync = |body: Value| call(&sb, sign_type, "/unipay/sync/pay", body);
        let refund_sync = |body: Value| call(&sb, sign_type, "/unipay/sync/refund", body);
        assert_refused(
            sign_type,
            &pay_sync(json!({"orderNo": "P9"})).await,
            "支付订单不存在",
        );
        assert_refused(sign_type, &pay_sync(json!({})).await, "支付订单不存在");
        assert_refused(
            sign_type,
            &refund_sync(json!({"refundNo": "R9"})).await,
            "未查询到退款订单",
        );
        assert_refused(
            sign_type,
            &refund_sync(json!({"refundNo": " ", "bizRefundNo": ""})).await,
            "未查询到退款订单",
        );
        assert_error(
            &pay_sync(json!({"orderNo": "P".repeat(33)})).await,
            10006,
            "验证参数错误\n支付订单号不可超过32位\n",
        );
        assert_error(
            &refund_sync(json!({"refundNo": "R".repeat(101)})).await,
            10006,
            "验证参数错误\n退款号不可超过100位\n",
        );

        // Alipay's refund query fails the sync unless the refund is done there.
        let pending = json!({"orderNo": "P2", "bizRefundNo": "RF2", "amount": 30, "reason": crate::REFUND_PENDING});
        call(&sb, sign_type, "/unipay/refund", pending).await;
        let refund_no = sb.refunds().pop().expect("the refund").refund_no;
        assert_refused(
            sign_type,
            &refund_sync(json!({"refundNo": refund_no})).await,
            "支付宝网关退款未成功",
        );

        assert!(sb.expire_order("P3", Duration::from_secs(120)));
        sb.fail_channel_queries(true);
        assert_refused(
            sign_type,
            &pay_sync(json!({"orderNo": "P3"})).await,
            "沙箱通道查询失败",
        );
        assert_eq!(
            status_of(&sb, "P3"),
            OrderStatus::Progress,
            "nothing changed"
        );
        sb.fail_channel_queries(false);
        let answer = pay_sync(json!({"orderNo": "P3"})).await;
        assert_eq!(synced(sign_type, &answer), "pay_timeout");
    }
}

#[tokio::test]
async fn only_2_0_serves_the_syncs() {
    let mut config = config(SignType::HmacSha256, vec![]);
    config.version = Version::V3_0;
    let sb = Sandbox::new(&config);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/unipay/sync/pay")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("request");
    let response = sb.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn orders_made_with_a_short_expiry_keep_it() {
    for sign_type in BOTH {
        let sb = sandbox(sign_type, vec![]);
        sb.expire_new_orders(Some(Duration::from_secs(120)));
        let no = wechat_order(&sb, sign_type, "S1", "http://127.0.0.1:9/n").await;
        sb.expire_new_orders(None);
        let later = wechat_order(&sb, sign_type, "S2", "http://127.0.0.1:9/n").await;
        let expiry = |no: &str| {
            let query = call(
                &sb,
                sign_type,
                "/unipay/query/payOrder",
                json!({"orderNo": no}),
            );
            async move { ok_data(sign_type, &query.await)["expiredTime"].as_i64() }
        };
        let past = expiry(&no).await.expect("an expiry");
        assert!((past - epoch(-120)).abs() <= 2, "{past}");
        let asked = expiry(&later).await.expect("an expiry");
        assert!((asked - epoch(7200)).abs() <= 2, "{asked}");
        let answer = call(&sb, sign_type, "/unipay/sync/pay", json!({"orderNo": no})).await;
        assert_eq!(synced(sign_type, &answer), "pay_timeout");
    }
}
