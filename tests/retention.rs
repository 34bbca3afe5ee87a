//! Retention on both backends (SQLite on a file; PostgreSQL when `PAYBRIDGE_TEST_POSTGRES_URL` is
//! set, required in CI): what is final and delivered and older than the cut-off is pruned, a
//! batch at a time; nothing open or undelivered is, nor a pay order with refunds left.

mod common;

use paybridge::config::StoreUrl;
use paybridge::settle::retention::prune;
use paybridge::store::{
    Cutoff, NewNotification, NotificationKind, OrderStore, PayRow, RefundRow, RowState,
    SettlementKind,
};

const OLD: i64 = 1_600_000_000_000;
const CUTOFF: i64 = 1_650_000_000_000;
const NEW: i64 = 1_700_000_000_000;
/// Everything finished before `CUTOFF` is old enough, paid orders too.
const ALL_OLD: Cutoff = Cutoff {
    finished_ms: CUTOFF,
    paid_ms: CUTOFF,
};

fn pay(no: &str, order_id: &str, created_at_ms: i64) -> PayRow {
    PayRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: no.to_owned(),
        pay_order_id: Some(order_id.to_owned()),
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: 1,
        subject: "s".to_owned(),
        body: "b".to_owned(),
        ext_param: None,
        notify_url: None,
        return_url: None,
        upstream: "dax".to_owned(),
        created_at_ms,
        state: RowState::Created,
        token: None,
        attempt: None,
    }
}

fn refund(no: &str, of: &str, created_at_ms: i64) -> RefundRow {
    RefundRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_refund_no: no.to_owned(),
        refund_order_id: Some(format!("R-{no}")),
        pay_order_id: Some(format!("P-{of}")),
        mch_order_no: Some(of.to_owned()),
        refund_amount_fen: 1,
        pay_amount_fen: Some(1),
        currency: "cny".to_owned(),
        ext_param: None,
        notify_url: None,
        created_at_ms,
        state: RowState::Created,
        token: None,
        attempt: None,
        status: None,
    }
}

fn notification(kind: NotificationKind, order_id: &str) -> NewNotification {
    NewNotification {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        kind,
        order_id: order_id.to_owned(),
        state: 2,
        url: "https://m.example/notify".to_owned(),
        body: "a=1".to_owned(),
        due_at_ms: OLD,
        wire: paybridge::store::NotificationWire::JeepayPost,
    }
}

/// A final pay order written at `at` (DaxPay's state recorded in the ledger).
async fn final_pay(store: &OrderStore, row: PayRow, at: i64) {
    final_pay_in(store, row, at, "success").await
}

/// A final pay order whose final state at DaxPay is `state`.
async fn final_pay_in(store: &OrderStore, row: PayRow, at: i64, state: &str) {
    let no = row.mch_order_no.clone();
    store.insert_pay(row).await.unwrap();
    store
        .record_final(SettlementKind::Pay, "M1", &no, state, at)
        .await
        .unwrap();
}

/// The pay notification of `order_id`, attempted once: delivered, or failed for good.
async fn notified(store: &OrderStore, order_id: &str, delivered: bool) {
    store
        .enqueue_notification(&notification(NotificationKind::Pay, order_id), OLD)
        .await
        .unwrap();
    let jobs = store
        .claim_due_notifications("w", OLD, 1_000, 10)
        .await
        .unwrap();
    let marked = if delivered {
        store.mark_delivered(jobs[0].id, "w", OLD).await
    } else {
        store.mark_failed(jobs[0].id, "w", "refused").await
    };
    assert!(marked.unwrap());
}

async fn pay_kept(store: &OrderStore, no: &str) -> bool {
    store.pay_by_mch_order_no("M1", no).await.unwrap().is_some()
}

async fn retention_rules(store: OrderStore) {
    // Final, delivered, old: pruned, with its attempt.
    let mut done = pay("DONE", "P-DONE", OLD);
    done.attempt = Some("attempt-of-done".to_owned());
    final_pay(&store, done, OLD).await;
    notified(&store, "P-DONE", true).await;
    // Old but still open at DaxPay: kept.
    store.insert_pay(pay("OPEN", "P-OPEN", OLD)).await.unwrap();
    // Final but its notification failed (undelivered): kept, notification too.
    final_pay(&store, pay("UNTOLD", "P-UNTOLD", OLD), OLD).await;
    notified(&store, "P-UNTOLD", false).await;
    // A final pay order with a refund still open: both kept; with a final refund: both pruned.
    final_pay(&store, pay("REFUNDING", "P-REFUNDING", OLD), OLD).await;
    store
        .insert_refund(&refund("RF-OPEN", "REFUNDING", OLD))
        .await
        .unwrap();
    // Its payment's notification was delivered, but the row lives on: the job stays (its key is
    // what keeps a late callback from queueing it again).
    notified(&store, "P-REFUNDING", true).await;
    final_pay(&store, pay("REFUNDED", "P-REFUNDED", OLD), OLD).await;
    store
        .insert_refund(&refund("RF-DONE", "REFUNDED", OLD))
        .await
        .unwrap();
    store
        .record_final(SettlementKind::Refund, "M1", "RF-DONE", "success", OLD)
        .await
        .unwrap();
    // Final but new: kept.
    final_pay(&store, pay("RECENT", "P-RECENT", NEW), NEW).await;

    // One row a batch: several batches.
    let pruned = prune(&store, ALL_OLD, 1).await.unwrap();
    assert_eq!(
        (
            pruned.notifications,
            pruned.refunds,
            pruned.pays,
            pruned.attempts,
            pruned.settlements
        ),
        (1, 1, 2, 1, 3),
        "{pruned:?}"
    );
    for (no, kept) in [
        ("DONE", false),
        ("OPEN", true),
        ("UNTOLD", true),
        ("REFUNDING", true),
        ("REFUNDED", false),
        ("RECENT", true),
    ] {
        assert_eq!(pay_kept(&store, no).await, kept, "{no}");
    }
    assert!(store
        .refund_by_mch_refund_no("M1", "RF-OPEN")
        .await
        .unwrap()
        .is_some());
    assert!(store
        .refund_by_mch_refund_no("M1", "RF-DONE")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .settlement(SettlementKind::Pay, "M1", "DONE")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .settlement(SettlementKind::Pay, "M1", "OPEN")
        .await
        .unwrap()
        .is_some());
    let failed = store
        .notifications(paybridge::store::NotificationStatus::Failed, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "an undelivered notification stays");
    let delivered = store
        .notifications(paybridge::store::NotificationStatus::Delivered, 10)
        .await
        .unwrap();
    assert_eq!(
        delivered.len(),
        1,
        "a delivered notification of a living row stays"
    );
    assert_eq!(delivered[0].order_id, "P-REFUNDING");
    // The sweep does not bring pruned rows back, and a second run finds nothing.
    assert_eq!(store.enroll_missing(NEW).await.unwrap(), 0);
    assert_eq!(prune(&store, ALL_OLD, 100).await.unwrap().total(), 0);
}

#[tokio::test]
async fn retention_on_sqlite_and_the_file_gives_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    retention_rules(OrderStore::open(&url).unwrap()).await;
    let mode: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "incremental vacuum turned on");
}

#[tokio::test]
async fn retention_on_postgres() {
    let Some(url) = common::postgres_database("retention").await else {
        return;
    };
    retention_rules(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}

/// Gap 6: a paid order older than `keep_days` is kept while its channel takes refunds (until
/// the paid cut-off); a closed one of the same age goes. Past the paid cut-off, both go.
async fn paid_orders_are_kept_while_refundable(store: OrderStore) {
    final_pay_in(&store, pay("PAID", "P-PAID", OLD), OLD, "success").await;
    final_pay_in(&store, pay("CLOSED", "P-CLOSED", OLD), OLD, "close").await;
    let refundable = Cutoff {
        finished_ms: CUTOFF,
        paid_ms: OLD - 1,
    };
    let pruned = prune(&store, refundable, 10).await.unwrap();
    assert_eq!(pruned.pays, 1, "{pruned:?}");
    assert!(pay_kept(&store, "PAID").await, "refundable: kept");
    assert!(!pay_kept(&store, "CLOSED").await);
    // A refund of it still finds its pay order (and the upstream it was made on).
    let paid = store
        .pay_by("M1", paybridge::store::PaidBy::MchOrderNo("PAID"))
        .await
        .unwrap()
        .expect("the paid order");
    assert_eq!(paid.upstream, "dax");
    assert_eq!(prune(&store, ALL_OLD, 10).await.unwrap().pays, 1);
    assert!(!pay_kept(&store, "PAID").await);
}

#[tokio::test]
async fn paid_orders_are_kept_while_refundable_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    paid_orders_are_kept_while_refundable(OrderStore::open(&url).unwrap()).await;
}

#[tokio::test]
async fn paid_orders_are_kept_while_refundable_on_postgres() {
    let Some(url) = common::postgres_database("retention_paid").await else {
        return;
    };
    paid_orders_are_kept_while_refundable(
        OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap(),
    )
    .await;
}
