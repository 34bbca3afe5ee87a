//! 2.0.8's notices (§7) received by a small HTTP server on 127.0.0.1: flat JSON, no type
//! field, `application/json`, signed as §7.3; exactly `SUCCESS`; one attempt by default;
//! refund success from the channel notified twice; a notice before the commit; muted.

use std::convert::Infallible;

use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use super::*;
use crate::order::{RefundOrderStatus, RefundStatus};

/// One request the merchant's server received.
#[derive(Debug)]
pub(super) struct Hit {
    pub(super) content_type: String,
    pub(super) body: Value,
}

/// The merchant: answers `answer` to every request and hands each over on a channel.
pub(super) async fn merchant(answer: &'static str) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/daxpay2/callback/r1/pay",
        listener.local_addr().expect("address")
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let tx = tx.clone();
                async move {
                    let content_type = req
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let bytes = req.into_body().collect().await.expect("body").to_bytes();
                    let body = serde_json::from_slice(&bytes).expect("JSON notice");
                    let _ = tx.send(Hit { content_type, body });
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(answer))))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, rx)
}

/// The next notice (a generous bound, only so that a missing one fails instead of hanging).
pub(super) async fn next(rx: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notice within 10 s")
        .expect("the merchant runs")
}

/// Waits until the sandbox has recorded `n` attempts (each is recorded once answered).
pub(super) async fn attempts(sb: &Sandbox, n: usize) -> Vec<crate::SentCallback> {
    for _ in 0..1000 {
        if sb.callbacks().len() >= n {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sb.callbacks()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

const PAY_KEYS: [&str; 23] = [
    "code",
    "msg",
    "resTime",
    "sign",
    "orderNo",
    "bizOrderNo",
    "outOrderNo",
    "title",
    "description",
    "allocation",
    "autoAllocation",
    "channel",
    "method",
    "amount",
    "status",
    "refundStatus",
    "allocStatus",
    "payTime",
    "expiredTime",
    "closeTime",
    "attach",
    "errorCode",
    "errorMsg",
];
const REFUND_KEYS: [&str; 21] = [
    "code",
    "msg",
    "resTime",
    "sign",
    "orderNo",
    "bizOrderNo",
    "outOrderNo",
    "title",
    "refundNo",
    "bizRefundNo",
    "outRefundNo",
    "channel",
    "orderAmount",
    "amount",
    "reason",
    "refundTime",
    "finishTime",
    "status",
    "attach",
    "errorCode",
    "errorMsg",
];

#[tokio::test]
async fn a_barcode_paid_at_once_is_notified_once_flat_and_signed() {
    for sign_type in BOTH {
        // Not exactly `SUCCESS`: unacknowledged, and the stopped retry job sends nothing more.
        let (url, mut rx) = merchant("SUCCESS\n").await;
        let sb = sandbox(sign_type, vec![]);
        let body = json!({
            "bizOrderNo": "B1", "title": "T", "channel": "ali_pay", "method": "barcode",
            "amount": 10, "attach": "a=1", "notifyUrl": url,
            "extraParam": {"authCode": "284910583729467102"},
        });
        let data = ok_data(sign_type, &call(&sb, sign_type, "/unipay/pay", body).await);
        assert_eq!(data["status"], "success");
        let hit = next(&mut rx).await;
        assert_eq!(hit.content_type, "application/json");
        assert_eq!(keys(&hit.body), PAY_KEYS);
        assert!(verifies(sign_type, &hit.body), "{}", hit.body);
        assert_eq!(
            (hit.body["status"].as_str(), hit.body["amount"].as_u64()),
            (Some("success"), Some(10))
        );
        assert!(
            hit.body["payTime"].is_u64() && hit.body["msg"].is_null(),
            "{}",
            hit.body
        );
        assert_eq!(hit.body["attach"], "a=1");
        let sent = attempts(&sb, 1).await;
        assert_eq!(sent.len(), 1);
        assert!(!sent[0].acknowledged, "only exactly SUCCESS acknowledges");
        assert!(
            sb.inner.callbacks.retry_schedule().is_empty(),
            "one attempt by default"
        );
    }
}

#[tokio::test]
async fn close_and_cancel_are_notified_fail_is_not() {
    let sign_type = SignType::HmacSha256;
    let (url, mut rx) = merchant("SUCCESS").await;
    let mut orders = Vec::new();
    for no in ["P1", "P2", "P3"] {
        let mut o = paid(no, &format!("B{no}"), 5);
        o.status = OrderStatus::Progress;
        o.notify_url = Some(url.clone());
        orders.push(o);
    }
    let sb = sandbox(sign_type, orders);
    ok_data(
        sign_type,
        &call(&sb, sign_type, "/unipay/close", json!({"orderNo": "P1"})).await,
    );
    let hit = next(&mut rx).await;
    assert_eq!(
        (hit.body["orderNo"].as_str(), hit.body["status"].as_str()),
        (Some("P1"), Some("close"))
    );
    assert!(hit.body["closeTime"].is_u64());
    // 2.0.8 never notifies a failed payment.
    sb.fail_order("P2").expect("failed");
    ok_data(
        sign_type,
        &call(&sb, sign_type, "/unipay/cancel", json!({"orderNo": "P3"})).await,
    );
    let hit = next(&mut rx).await;
    assert_eq!(
        (hit.body["orderNo"].as_str(), hit.body["status"].as_str()),
        (Some("P3"), Some("cancel"))
    );
    assert!(attempts(&sb, 2).await.iter().all(|a| a.acknowledged));
}

#[tokio::test]
async fn refund_success_from_the_channel_is_notified_twice_a_sync_one_once() {
    let sign_type = SignType::Md5;
    let (url, mut rx) = merchant("SUCCESS").await;
    let mut wx = paid("P1", "B1", 100);
    wx.channel = "wechat_pay".to_owned();
    let sb = sandbox(sign_type, vec![wx, paid("P2", "B2", 100)]);
    let refund = |order: &str, biz: &str| json!({"orderNo": order, "bizRefundNo": biz, "amount": 30, "attach": "x", "notifyUrl": url});
    // Alipay answers success within the request: one notice.
    ok_data(
        sign_type,
        &call(&sb, sign_type, "/unipay/refund", refund("P2", "RA")).await,
    );
    let hit = next(&mut rx).await;
    assert_eq!(keys(&hit.body), REFUND_KEYS);
    assert!(verifies(sign_type, &hit.body), "{}", hit.body);
    assert_eq!(
        (
            hit.body["bizRefundNo"].as_str(),
            hit.body["status"].as_str()
        ),
        (Some("RA"), Some("success"))
    );
    assert!(hit.body["refundTime"].is_null() && hit.body["finishTime"].is_u64());
    // WeChat's refund settles through the channel's callback: two notices.
    let answer = call(&sb, sign_type, "/unipay/refund", refund("P1", "RW")).await;
    let no = ok_data(sign_type, &answer)["refundNo"]
        .as_str()
        .expect("no")
        .to_owned();
    sb.succeed_refund(&no).expect("settled");
    for _ in 0..2 {
        let hit = next(&mut rx).await;
        assert_eq!(
            (hit.body["refundNo"].as_str(), hit.body["status"].as_str()),
            (Some(no.as_str()), Some("success"))
        );
        assert_eq!(hit.body["orderAmount"], 100);
        assert!(verifies(sign_type, &hit.body));
    }
    assert_eq!(attempts(&sb, 3).await.len(), 3);
    // A refund closed by the channel: one `close` notice, the balance back.
    sb.hold_refunds(true);
    let answer = call(&sb, sign_type, "/unipay/refund", refund("P2", "RC")).await;
    let no = ok_data(sign_type, &answer)["refundNo"]
        .as_str()
        .expect("no")
        .to_owned();
    sb.close_refund(&no).expect("closed");
    let hit = next(&mut rx).await;
    assert_eq!(
        (hit.body["refundNo"].as_str(), hit.body["status"].as_str()),
        (Some(no.as_str()), Some("close"))
    );
    assert_eq!(
        sb.order("P2").map(|o| o.refundable_balance().fen()),
        Some(70)
    );
}

#[tokio::test]
async fn a_notice_can_come_before_the_change_is_committed() {
    let sign_type = SignType::HmacSha256;
    let (url, mut rx) = merchant("SUCCESS").await;
    let mut qr = paid("P1", "B1", 100);
    qr.status = OrderStatus::Progress;
    qr.notify_url = Some(url.clone());
    let mut wx = paid("P2", "B2", 100);
    wx.channel = "wechat_pay".to_owned();
    let mut cfg = config(sign_type, vec![qr, wx]);
    cfg.callback_before_commit = Duration::from_secs(600);
    let sb = Sandbox::new(&cfg);
    sb.pay_order("P1").expect("paid");
    let hit = next(&mut rx).await;
    assert_eq!(hit.body["status"], "success");
    let query = |body| call(&sb, sign_type, "/unipay/query/payOrder", body);
    let before = ok_data(sign_type, &query(json!({"orderNo": "P1"})).await);
    assert_eq!(
        (before["status"].as_str(), before["payTime"].is_null()),
        (Some("progress"), true)
    );
    // The refund side: the channel's success notified, its query still `progress`.
    let answer = call(
        &sb,
        sign_type,
        "/unipay/refund",
        json!({"orderNo": "P2", "bizRefundNo": "R1", "amount": 100, "notifyUrl": url}),
    )
    .await;
    let no = ok_data(sign_type, &answer)["refundNo"]
        .as_str()
        .expect("no")
        .to_owned();
    sb.succeed_refund(&no).expect("settled");
    assert_eq!(next(&mut rx).await.body["status"], "success");
    let refund_query = || {
        call(
            &sb,
            sign_type,
            "/unipay/query/refundOrder",
            json!({"refundNo": no}),
        )
    };
    assert_eq!(
        ok_data(sign_type, &refund_query().await)["status"],
        "progress"
    );
    let order = ok_data(sign_type, &query(json!({"orderNo": "P2"})).await);
    assert_eq!(order["refundStatus"], "refunding");
    // Committed: the new states.
    sb.commit_pending();
    assert_eq!(
        ok_data(sign_type, &query(json!({"orderNo": "P1"})).await)["status"],
        "success"
    );
    assert_eq!(
        ok_data(sign_type, &refund_query().await)["status"],
        "success"
    );
    assert_eq!(
        sb.order("P2").map(|o| o.refund_status),
        Some(RefundStatus::Refunded)
    );
}

#[tokio::test]
async fn muted_callbacks_are_never_sent() {
    let sign_type = SignType::Md5;
    let mut qr = paid("P1", "B1", 100);
    qr.status = OrderStatus::Progress;
    qr.notify_url = Some("http://127.0.0.1:9/never".to_owned());
    let sb = sandbox(sign_type, vec![qr]);
    sb.mute_callbacks(true);
    assert_eq!(
        sb.pay_order("P1").map(|o| o.status),
        Ok(OrderStatus::Success)
    );
    assert!(
        sb.inner.callbacks.nothing_registered(),
        "nothing sent, nothing to retry"
    );
    let refund = json!({"orderNo": "P1", "bizRefundNo": "R1", "amount": 100, "notifyUrl": "http://127.0.0.1:9/r"});
    ok_data(
        sign_type,
        &call(&sb, sign_type, "/unipay/refund", refund).await,
    );
    assert_eq!(sb.refunds()[0].status, RefundOrderStatus::Success);
    assert!(sb.inner.callbacks.nothing_registered());
}
