//! What DaxPay 2.0.8 never finishes by itself (its expiry and refund-sync jobs ship stopped; a
//! success callback after `expiredTime` is not applied), finished by the settlement worker's
//! syncs, end to end through real sockets for both sign types: an unpaid order past its expiry
//! closed and final, a late payment found and notified once, a refund the channel finished
//! unseen notified once, a failing sync retried; and nothing synced too early or on 3.x.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::merchant::{Merchant, Received};
use common::*;
use paybridge::store::{OrderStore, Settlement, SettlementKind, SettlementStatus};
use paybridge_sandbox::Sandbox;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// Checks begin 50 ms after a row is written and back off to 200 ms; a refund still in
/// progress is synced at once.
const FAST: &str = "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\nrefund_sync_after_secs = 0\n";
/// The same with the default refund threshold (5 minutes).
const FAST_DEFAULT_REFUNDS: &str =
    "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n";

/// Past the worker's margin (60 s after `expiredTime`).
const LONG_EXPIRED: Duration = Duration::from_secs(120);

const PAY_SYNC: &str = "/unipay/sync/pay";
const REFUND_SYNC: &str = "/unipay/sync/refund";

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

async fn world(version: &str, sign_type: &str, settlement: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
    let (proxy, orders) = start_relaying(sb.addr, version, sign_type, "", "", settlement).await;
    World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    }
}

/// A WeChat QR order `no` of 12.30 through paybridge (Jeepay's default expiry, 2 hours),
/// notified to `merchant`: DaxPay's number.
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

/// The notifications `merchant` received at `path`, each verified.
fn notices(merchant: &Merchant, path: &str) -> Vec<Received> {
    merchant
        .received()
        .into_iter()
        .filter(|n| n.path == path)
        .inspect(|n| assert!(n.verified, "{n:?}"))
        .collect()
}

/// The ledger entry of `number` once `done` holds for it (up to 10 s).
async fn entry_when(
    w: &World,
    kind: SettlementKind,
    number: &str,
    what: &str,
    done: impl Fn(&Settlement) -> bool,
) -> Settlement {
    for _ in 0..500 {
        let entry = w
            .orders
            .settlement(kind, JEEPAY_MCH, number)
            .await
            .unwrap()
            .expect("every row is enrolled");
        if done(&entry) {
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entry = w.orders.settlement(kind, JEEPAY_MCH, number).await;
    panic!("not within 10 s: {what}: {entry:?}");
}

async fn final_entry(w: &World, kind: SettlementKind, number: &str) -> Settlement {
    entry_when(w, kind, number, &format!("{number} final"), |e| {
        e.status == SettlementStatus::Final
    })
    .await
}

/// The entry once the worker has checked it `n` more times than `before`.
async fn checked_again(w: &World, kind: SettlementKind, number: &str, n: i64) -> Settlement {
    let before = w
        .orders
        .settlement(kind, JEEPAY_MCH, number)
        .await
        .unwrap()
        .map_or(0, |e| e.checks);
    entry_when(w, kind, number, "checked again", |e| e.checks >= before + n).await
}

/// Jeepay's pay query through paybridge: the order's `state`.
async fn queried_state(w: &World, no: &str) -> i64 {
    let answer = post_json(
        w.proxy,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", no)]),
    )
    .await
    .json();
    accepted(&answer)["state"].as_i64().unwrap()
}

#[tokio::test]
async fn an_unpaid_order_past_its_expiry_is_closed_by_the_sync_and_becomes_final() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        // Only the worker acts here: DaxPay's close notice is never sent.
        w.sandbox.mute_callbacks(true);
        w.sandbox.expire_new_orders(Some(LONG_EXPIRED));
        let order_no = created(&w, "X1", &merchant).await;

        let entry = final_entry(&w, SettlementKind::Pay, "X1").await;
        assert_eq!(entry.dax_state.as_deref(), Some("close"), "{sign_type}");
        assert!(w.sandbox.requests_to(PAY_SYNC) >= 1, "{sign_type}");
        let order = w.sandbox.order(&order_no).unwrap();
        assert_eq!(order.status.as_str(), "close");
        assert_eq!(queried_state(&w, "X1").await, 6, "Jeepay's closed state");

        // Final: no longer polled, and nothing was notified as paid.
        let queries = w.sandbox.requests_to("/unipay/query/payOrder");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            w.sandbox.requests_to("/unipay/query/payOrder"),
            queries,
            "{sign_type}: polled after it was final"
        );
        assert!(notices(&merchant, "/pay").is_empty(), "{sign_type}");
    }
}

/// The payer paid at the last moment; the channel's callback came after `expiredTime`, which
/// 2.0.8 does not apply. The sync finds the payment; DaxPay's own notice and the worker's check
/// both see the success, and the merchant is told once.
#[tokio::test]
async fn a_payment_whose_callback_daxpay_did_not_apply_is_found_and_notified_once() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        w.sandbox.expire_new_orders(Some(LONG_EXPIRED));
        let order_no = created(&w, "Y1", &merchant).await;
        w.sandbox.pay_at_channel_only(&order_no).unwrap();

        eventually("the payment's notification", || {
            notices(&merchant, "/pay").len() == 1
        })
        .await;
        let n = &notices(&merchant, "/pay")[0];
        assert_eq!(
            (n.params["state"].as_str(), n.params["payOrderId"].as_str()),
            ("2", order_no.as_str()),
            "{sign_type}"
        );
        let entry = final_entry(&w, SettlementKind::Pay, "Y1").await;
        assert_eq!(entry.dax_state.as_deref(), Some("success"));
        assert_eq!(queried_state(&w, "Y1").await, 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(notices(&merchant, "/pay").len(), 1, "{sign_type}: once");
    }
}

/// A WeChat refund the channel finished whose callback never reached DaxPay (and 2.0.8's refund
/// sync job ships stopped): the refund sync finishes it, the merchant hears once, although
/// DaxPay sends two success notices for it.
#[tokio::test]
async fn a_refund_the_channel_finished_unseen_is_finished_by_the_sync_and_notified_once() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(&w, "Z1", &merchant).await;
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the payment's notification", || {
            notices(&merchant, "/pay").len() == 1
        })
        .await;
        let notify = format!("http://{}/refund", merchant.addr);
        let body = jeepay_body(&[
            ("mchOrderNo", "Z1"),
            ("mchRefundNo", "Z1-R1"),
            ("refundAmount", "230"),
            ("currency", "cny"),
            ("refundReason", "退"),
            ("notifyUrl", &notify),
        ]);
        let answer = post_json(w.proxy, "/api/refund/refundOrder", &body)
            .await
            .json();
        let data = accepted(&answer);
        assert_eq!(data["state"], 1, "{answer}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        w.sandbox
            .succeed_refund_at_channel_only(&refund_no)
            .unwrap();

        eventually("the refund's notification", || {
            notices(&merchant, "/refund").len() == 1
        })
        .await;
        let n = &notices(&merchant, "/refund")[0];
        assert_eq!(
            (
                n.params["state"].as_str(),
                n.params["refundOrderId"].as_str()
            ),
            ("2", refund_no.as_str()),
            "{sign_type}"
        );
        assert!(w.sandbox.requests_to(REFUND_SYNC) >= 1);
        let entry = final_entry(&w, SettlementKind::Refund, "Z1-R1").await;
        assert_eq!(entry.dax_state.as_deref(), Some("success"));
        assert_eq!(
            w.sandbox.refund(&refund_no).unwrap().status.as_str(),
            "success"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(notices(&merchant, "/refund").len(), 1, "{sign_type}: once");
    }
}

/// The channel's query fails: the sync is refused and changes nothing, the merchant is told
/// nothing, and the row is synced again at its next checks until the sync goes through.
#[tokio::test]
async fn a_sync_that_fails_is_tried_again_at_the_next_checks() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        w.sandbox.fail_channel_queries(true);
        w.sandbox.expire_new_orders(Some(LONG_EXPIRED));
        let order_no = created(&w, "F1", &merchant).await;
        w.sandbox.pay_at_channel_only(&order_no).unwrap();

        let entry = checked_again(&w, SettlementKind::Pay, "F1", 3).await;
        assert_eq!(entry.status, SettlementStatus::Open, "{sign_type}");
        assert!(
            w.sandbox.requests_to(PAY_SYNC) >= 2,
            "{sign_type}: tried again"
        );
        assert_eq!(
            w.sandbox.order(&order_no).unwrap().status.as_str(),
            "progress"
        );
        assert!(notices(&merchant, "/pay").is_empty(), "{sign_type}");

        w.sandbox.fail_channel_queries(false);
        eventually("the payment's notification", || {
            notices(&merchant, "/pay").len() == 1
        })
        .await;
        assert_eq!(notices(&merchant, "/pay")[0].params["state"], "2");
    }
}

/// An order that has not expired, one expired within the margin, and a refund younger than
/// the threshold are not synced, however often they are checked; an order past the margin is.
/// On 3.x (whose jobs run) nothing is ever synced.
#[tokio::test]
async fn nothing_is_synced_before_its_time_nor_on_3_x() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, FAST_DEFAULT_REFUNDS).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        w.sandbox.mute_callbacks(true);
        created(&w, "W1", &merchant).await;
        // Expired 5 s before it was made: within the margin for a while yet.
        w.sandbox.expire_new_orders(Some(Duration::from_secs(5)));
        created(&w, "W2", &merchant).await;
        w.sandbox.expire_new_orders(None);
        for no in ["W1", "W2"] {
            let entry = checked_again(&w, SettlementKind::Pay, no, 4).await;
            assert_eq!(entry.dax_state.as_deref(), Some("progress"), "{no}");
        }
        assert_eq!(w.sandbox.requests_to(PAY_SYNC), 0, "{sign_type}: not due");

        // A refund in progress younger than 5 minutes.
        let paid_no = created(&w, "W3", &merchant).await;
        w.sandbox.pay_order(&paid_no).unwrap();
        final_entry(&w, SettlementKind::Pay, "W3").await;
        let body = jeepay_body(&[
            ("mchOrderNo", "W3"),
            ("mchRefundNo", "W3-R1"),
            ("refundAmount", "230"),
            ("currency", "cny"),
            ("refundReason", "退"),
        ]);
        let answer = post_json(w.proxy, "/api/refund/refundOrder", &body)
            .await
            .json();
        assert_eq!(accepted(&answer)["state"], 1, "{answer}");
        let entry = checked_again(&w, SettlementKind::Refund, "W3-R1", 4).await;
        assert_eq!(entry.dax_state.as_deref(), Some("progress"));
        assert_eq!(
            w.sandbox.requests_to(REFUND_SYNC),
            0,
            "{sign_type}: too young"
        );

        // Past the margin: synced and closed; the others still not synced.
        w.sandbox.expire_new_orders(Some(LONG_EXPIRED));
        created(&w, "W4", &merchant).await;
        let entry = final_entry(&w, SettlementKind::Pay, "W4").await;
        assert_eq!(entry.dax_state.as_deref(), Some("close"));
        checked_again(&w, SettlementKind::Pay, "W1", 2).await;
        assert_eq!(w.sandbox.requests_to(PAY_SYNC), 1, "{sign_type}: W4 only");
    }

    let w = world("3.0", "hmac_sha256", FAST).await;
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let order_no = created(&w, "V1", &merchant).await;
    assert!(w.sandbox.expire_order(&order_no, LONG_EXPIRED));
    let entry = checked_again(&w, SettlementKind::Pay, "V1", 4).await;
    assert_eq!(entry.status, SettlementStatus::Open);
    assert_eq!(w.sandbox.requests_to(PAY_SYNC), 0, "3.x is never synced");
}
