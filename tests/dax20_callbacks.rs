//! DaxPay 2.0.8's callbacks end to end through real sockets, for both of its sign types: a flat
//! notice verified and relayed once, a notice that arrives before DaxPay's commit (confirmed by
//! asking again, or by the settlement worker), a callback never sent (settled by polling), and a
//! refund success notified twice by DaxPay but once to the merchant.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::merchant::Merchant;
use common::*;
use paybridge::store::{OrderStore, SettlementKind, SettlementStatus};
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// Checks begin 50 ms after a row is written and back off to 200 ms.
const FAST: &str =
    "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n";
/// No background settlement: only the request and DaxPay's callbacks settle anything.
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

async fn world(sign_type: &str, settlement: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
    let (proxy, orders) = start_relaying(sb.addr, "2.0", sign_type, "", "", settlement).await;
    World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    }
}

/// A WeChat QR order `no` of 12.30 through paybridge, notified to `merchant`: DaxPay's number.
async fn created(w: &World, no: &str, merchant: &Merchant) -> String {
    let notify = format!("http://{}/pay", merchant.addr);
    let body = jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", &notify),
    ]);
    let answer = post_json(w.proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["payOrderId"].as_str().unwrap().to_owned()
}

/// A refund of 230 of order `no`, notified to `merchant`: the answer's `data`.
async fn refunded(w: &World, no: &str, refund_no: &str, merchant: &Merchant) -> Value {
    let notify = format!("http://{}/refund", merchant.addr);
    let body = jeepay_body(&[
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", "退"),
        ("notifyUrl", &notify),
    ]);
    let answer = post_json(w.proxy, "/api/refund/refundOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"].clone()
}

/// The pay notifications `merchant` received: their `state` and `payOrderId`.
fn pay_notices(merchant: &Merchant) -> Vec<(String, String)> {
    merchant
        .received()
        .into_iter()
        .filter(|n| n.path == "/pay")
        .map(|n| {
            assert!(n.verified, "{n:?}");
            (n.params["state"].clone(), n.params["payOrderId"].clone())
        })
        .collect()
}

#[tokio::test]
async fn a_pay_notice_is_verified_and_relayed_once() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "C1", &merchant).await;
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the notification", || pay_notices(&merchant).len() == 1).await;
        assert_eq!(pay_notices(&merchant), [("2".to_owned(), order_no.clone())]);
        let n = &merchant.received()[0];
        assert_eq!(n.params["mchOrderNo"], "C1");
        assert_eq!(n.params["amount"], "1230");
        assert_eq!(n.params["successTime"].parse::<i64>().unwrap() % 1000, 0);
        let sent = w.sandbox.callbacks();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].acknowledged,
            "{sign_type}: answered {:?}",
            sent[0].answer
        );
        assert_eq!(sent[0].answer.as_deref(), Some("SUCCESS"));
        // DaxPay sending it again (an operator's re-send) notifies nothing more.
        assert!(w.sandbox.send_callback_again(&order_no));
        eventually("the second attempt", || w.sandbox.callbacks().len() == 2).await;
        eventually("acknowledged", || w.sandbox.callbacks()[1].acknowledged).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pay_notices(&merchant).len(), 1, "notified once");
    }
}

/// The notice arrives while DaxPay's query still shows `progress` (2.0.8 registers it inside the
/// transaction, §7.1); 0.5 s later the change is committed. With no settlement worker, only the
/// callback's own confirmation (asking again, backing off) can notify the merchant.
#[tokio::test]
async fn a_notice_before_the_commit_is_confirmed_by_asking_again() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "B1", &merchant).await;
        w.sandbox
            .set_callback_before_commit(Duration::from_millis(500));
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the notification", || pay_notices(&merchant).len() == 1).await;
        assert_eq!(pay_notices(&merchant), [("2".to_owned(), order_no.clone())]);
        let sent = w.sandbox.callbacks();
        assert!(sent[0].acknowledged, "{sign_type}: {sent:?}");
    }
}

/// A commit much later than the notice: acknowledged, then confirmed by the settlement worker;
/// the merchant is notified once, and never before DaxPay's query says so.
#[tokio::test]
async fn a_notice_long_before_the_commit_is_settled_by_the_worker() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "B2", &merchant).await;
        w.sandbox.set_callback_before_commit(Duration::from_secs(3));
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("acknowledged", || {
            w.sandbox
                .callbacks()
                .first()
                .is_some_and(|c| c.acknowledged)
        })
        .await;
        assert!(
            pay_notices(&merchant).is_empty(),
            "not on the notice's word alone"
        );
        eventually("the notification", || pay_notices(&merchant).len() == 1).await;
        assert_eq!(pay_notices(&merchant), [("2".to_owned(), order_no.clone())]);
        let mut status = SettlementStatus::Open;
        for _ in 0..500 {
            let entry = w
                .orders
                .settlement(SettlementKind::Pay, JEEPAY_MCH, "B2")
                .await
                .unwrap()
                .expect("every row is enrolled");
            status = entry.status;
            if status != SettlementStatus::Open {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, SettlementStatus::Final);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pay_notices(&merchant).len(), 1, "notified once");
    }
}

/// A notice long before the commit while no settlement worker runs: nothing would confirm it
/// later, so it is not acknowledged (2.0.8 counts it failed) rather than taken and lost; the
/// merchant is not notified on the notice's word.
#[tokio::test]
async fn a_notice_nothing_would_confirm_later_is_not_acknowledged() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "B3", &merchant).await;
        w.sandbox.set_callback_before_commit(Duration::from_secs(6));
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the notice answered", || !w.sandbox.callbacks().is_empty()).await;
        let sent = w.sandbox.callbacks();
        assert!(!sent[0].acknowledged, "{sign_type}: {sent:?}");
        assert!(pay_notices(&merchant).is_empty(), "{sign_type}");
    }
}

/// 2.0.8's notice retries ship stopped: one attempt, and here not even that. The order and the
/// refund are found by polling and the merchant notified once each.
#[tokio::test]
async fn callbacks_never_sent_are_settled_by_polling_and_notified_once() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        w.sandbox.mute_callbacks(true);
        let order_no = created(&w, "N1", &merchant).await;
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the payment's notification", || {
            pay_notices(&merchant).len() == 1
        })
        .await;
        // A WeChat refund stays `progress` until the channel says; then no callback either.
        let data = refunded(&w, "N1", "N1-R1", &merchant).await;
        assert_eq!(data["state"], 1, "{data}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        w.sandbox.succeed_refund(&refund_no).unwrap();
        let refund_notices = || {
            merchant
                .received()
                .into_iter()
                .filter(|n| n.path == "/refund")
                .collect::<Vec<_>>()
        };
        eventually("the refund's notification", || refund_notices().len() == 1).await;
        let n = &refund_notices()[0];
        assert!(n.verified, "{n:?}");
        assert_eq!(
            (
                n.params["state"].as_str(),
                n.params["refundOrderId"].as_str()
            ),
            ("2", refund_no.as_str())
        );
        assert!(
            w.sandbox.callbacks().is_empty(),
            "{sign_type}: no callback was sent"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pay_notices(&merchant).len(), 1);
        assert_eq!(refund_notices().len(), 1);
    }
}

/// 2.0.8 notifies a refund's success twice (`RefundRepairService`); the merchant hears once.
#[tokio::test]
async fn a_refund_success_notified_twice_reaches_the_merchant_once() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "D1", &merchant).await;
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the payment's notification", || {
            pay_notices(&merchant).len() == 1
        })
        .await;
        let data = refunded(&w, "D1", "D1-R1", &merchant).await;
        assert_eq!(data["state"], 1, "{data}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        w.sandbox.succeed_refund(&refund_no).unwrap();
        let refund_callbacks = || {
            w.sandbox
                .callbacks()
                .into_iter()
                .filter(|c| c.no == refund_no)
                .collect::<Vec<_>>()
        };
        eventually("both success notices acknowledged", || {
            let sent = refund_callbacks();
            sent.len() == 2 && sent.iter().all(|c| c.acknowledged)
        })
        .await;
        let refund_notices = || {
            merchant
                .received()
                .into_iter()
                .filter(|n| n.path == "/refund")
                .collect::<Vec<_>>()
        };
        eventually("the refund's notification", || refund_notices().len() == 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let notices = refund_notices();
        assert_eq!(notices.len(), 1, "{sign_type}: {notices:?}");
        assert_eq!(notices[0].params["state"], "2");
        assert_eq!(notices[0].params["refundAmount"], "230");
    }
}

/// A notice that does not verify, or a verified pay notice posted to a refund's relay URL (2.0.8's
/// notices carry no type: paybridge tells them apart by the URL it gave), is not acknowledged and
/// tells the merchant nothing.
#[tokio::test]
async fn forged_or_misdirected_notices_are_not_acknowledged() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "X1", &merchant).await;
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the notification", || pay_notices(&merchant).len() == 1).await;
        let genuine = w.sandbox.callbacks()[0].clone();
        let data = refunded(&w, "X1", "X1-R1", &merchant).await;
        assert_eq!(data["state"], 1, "{data}");
        let refund = w
            .sandbox
            .refund(data["refundOrderId"].as_str().unwrap())
            .unwrap();
        let refund_url = refund.notify_url.expect("a relay URL");
        let path = |url: &str| {
            url.split_once("127.0.0.1")
                .unwrap()
                .1
                .split_once('/')
                .unwrap()
                .1
                .to_owned()
        };
        let post = |url: String, body: String| async move {
            send(
                w.proxy,
                "POST",
                &format!("/{}", path(&url)),
                Some("application/json"),
                body,
                &[],
            )
            .await
        };
        // The pay notice at the refund's URL: verified, but not a refund's.
        let misdirected = post(refund_url.clone(), genuine.body.clone()).await;
        assert_ne!(misdirected.body, "SUCCESS", "{sign_type}");
        // A tampered notice at its own URL.
        let mut forged: Value = serde_json::from_str(&genuine.body).unwrap();
        forged["amount"] = Value::from(1);
        let tampered = post(genuine.url.clone(), forged.to_string()).await;
        assert_ne!(tampered.body, "SUCCESS", "{sign_type}");
        // The genuine one, again: acknowledged, nothing more sent.
        let again = post(genuine.url.clone(), genuine.body.clone()).await;
        assert_eq!(again.body, "SUCCESS", "{sign_type}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(pay_notices(&merchant).len(), 1);
        assert!(
            merchant.received().iter().all(|n| n.path != "/refund"),
            "{sign_type}: no refund notification"
        );
    }
}
