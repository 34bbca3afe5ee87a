//! The settlement ledger's rules on both backends (SQLite on a file; PostgreSQL when
//! `PAYBRIDGE_TEST_POSTGRES_URL` is set, required in CI): every row written is enrolled, entries
//! are claimed only once due, leased to one owner at a time, recorded only by their owner, and
//! never claimed again once final; rows without an entry are found by the sweep.

mod common;

use paybridge::config::StoreUrl;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::{
    CheckResult, OrderStore, PayRow, RefundRow, RefundSettlement, RowState, SettlementKind,
    SettlementStatus,
};

const T0: i64 = 1_700_000_000_000;
const LEASE: i64 = 60_000;

fn pay(no: &str, created_at_ms: i64) -> PayRow {
    PayRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: no.to_owned(),
        pay_order_id: None,
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
        state: RowState::Pending,
        token: None,
        attempt: None,
    }
}

fn refund(no: &str, created_at_ms: i64) -> RefundRow {
    RefundRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_refund_no: no.to_owned(),
        refund_order_id: None,
        pay_order_id: None,
        mch_order_no: None,
        refund_amount_fen: 1,
        pay_amount_fen: None,
        currency: "cny".to_owned(),
        ext_param: None,
        notify_url: None,
        created_at_ms,
        state: RowState::Pending,
        token: None,
        attempt: None,
        status: None,
    }
}

fn still_open(next_check_at_ms: i64) -> CheckResult {
    CheckResult {
        status: SettlementStatus::Open,
        dax_state: Some("progress".to_owned()),
        next_check_at_ms,
        error: None,
        settled_at_ms: None,
    }
}

async fn ledger_rules(store: OrderStore) {
    store.insert_pay(pay("P1", T0)).await.unwrap();
    store.insert_refund(&refund("R1", T0 + 1)).await.unwrap();
    // Enrolled when written, due at once, claimed only once old enough.
    let entry = store
        .settlement(SettlementKind::Pay, "M1", "P1")
        .await
        .unwrap()
        .expect("a written row is enrolled");
    assert_eq!((entry.status, entry.checks), (SettlementStatus::Open, 0));
    let young = store
        .claim_due_settlements("a", T0 + 10, T0 - 1, LEASE, 10)
        .await
        .unwrap();
    assert!(young.is_empty(), "{young:?}");
    let claimed = store
        .claim_due_settlements("a", T0 + 10, T0 + 10, LEASE, 10)
        .await
        .unwrap();
    let numbers: Vec<&str> = claimed.iter().map(|s| s.number.as_str()).collect();
    assert_eq!(numbers, ["P1", "R1"]);
    assert_eq!(claimed[1].kind, SettlementKind::Refund);

    // Leased: nobody else takes them until the lease is over; only the owner records.
    let other = store
        .claim_due_settlements("b", T0 + 20, T0 + 20, LEASE, 10)
        .await
        .unwrap();
    assert!(other.is_empty(), "{other:?}");
    let p1 = claimed[0].id;
    assert!(!store.record_check(p1, "b", &still_open(T0)).await.unwrap());
    assert!(store
        .record_check(p1, "a", &still_open(T0 + 1_000))
        .await
        .unwrap());
    let entry = store
        .settlement(SettlementKind::Pay, "M1", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.checks, 1);
    assert_eq!(entry.dax_state.as_deref(), Some("progress"));
    assert_eq!(entry.lease_owner, None);
    // Not due before its next check; R1's lease runs out and b takes it.
    let later = store
        .claim_due_settlements("b", T0 + 10 + LEASE, T0 + 10 + LEASE, LEASE, 10)
        .await
        .unwrap();
    let numbers: Vec<&str> = later.iter().map(|s| s.number.as_str()).collect();
    assert_eq!(
        numbers,
        ["R1", "P1"],
        "R1's lease over (due longest), P1 due again"
    );
    // a's late record of R1 no longer applies: b holds it.
    assert!(!store
        .record_check(later[0].id, "a", &still_open(T0))
        .await
        .unwrap());

    // Final once, never claimed again (a stale query cannot reopen it).
    let done = CheckResult {
        status: SettlementStatus::Final,
        dax_state: Some("success".to_owned()),
        next_check_at_ms: T0,
        error: None,
        settled_at_ms: Some(T0 + LEASE),
    };
    assert!(store.record_check(later[1].id, "b", &done).await.unwrap());
    assert!(!store
        .record_check(later[1].id, "b", &still_open(T0))
        .await
        .unwrap());
    let far = T0 + 100 * LEASE;
    let again = store
        .claim_due_settlements("c", far, far, LEASE, 10)
        .await
        .unwrap();
    let numbers: Vec<&str> = again.iter().map(|s| s.number.as_str()).collect();
    assert_eq!(numbers, ["R1"]);
    let stats = store.settlement_stats().await.unwrap();
    assert_eq!((stats.open, stats.abandoned), (1, 0));
    assert_eq!(stats.oldest_open_created_at_ms, Some(T0 + 1));

    // check_soon brings an open entry forward, never a final one.
    assert!(store
        .record_check(again[0].id, "c", &still_open(far * 2))
        .await
        .unwrap());
    store
        .check_soon(SettlementKind::Refund, "M1", "R1", far + 1)
        .await
        .unwrap();
    let soon = store
        .settlement(SettlementKind::Refund, "M1", "R1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(soon.next_check_at_ms, far + 1);
    let listed = store
        .settlements(SettlementStatus::Final, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].number, "P1");
}

#[tokio::test]
async fn the_ledger_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    ledger_rules(OrderStore::open(&url).unwrap()).await;
}

#[tokio::test]
async fn the_ledger_on_postgres() {
    let Some(url) = common::postgres_database("ledger").await else {
        return;
    };
    ledger_rules(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}

#[tokio::test]
async fn rows_without_an_entry_are_enrolled_by_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.insert_pay(pay("P1", T0)).await.unwrap();
    store.insert_refund(&refund("R1", T0)).await.unwrap();
    // As if the process died between the row and its entry (or the rows predate the ledger).
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM settlements", [])
        .unwrap();
    assert_eq!(store.enroll_missing(T0 + 5).await.unwrap(), 2);
    assert_eq!(store.enroll_missing(T0 + 6).await.unwrap(), 0, "once");
    let entry = store
        .settlement(SettlementKind::Refund, "M1", "R1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status, entry.next_check_at_ms),
        (SettlementStatus::Open, T0 + 5)
    );
}

#[tokio::test]
async fn two_postgres_instances_never_claim_one_entry_at_once() {
    let Some(url) = common::postgres_database("ledger_two").await else {
        return;
    };
    let url = StoreUrl::parse(&url).unwrap();
    let (a, b) = (
        OrderStore::open(&url).unwrap(),
        OrderStore::open(&url).unwrap(),
    );
    for i in 0..40 {
        a.insert_pay(pay(&format!("P{i}"), T0)).await.unwrap();
    }
    let (ca, cb) = tokio::join!(
        a.claim_due_settlements("a", T0, T0, LEASE, 25),
        b.claim_due_settlements("b", T0, T0, LEASE, 25)
    );
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(ca.len() + cb.len(), 40, "{} + {}", ca.len(), cb.len());
    let mut ids: Vec<i64> = ca.iter().chain(&cb).map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "disjoint");
}

#[tokio::test]
async fn a_number_written_again_after_its_row_was_removed_is_followed_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.insert_pay(pay("P1", T0)).await.unwrap();
    let claimed = store
        .claim_due_settlements("a", T0, T0, LEASE, 10)
        .await
        .unwrap();
    let gone = CheckResult {
        status: SettlementStatus::Gone,
        dax_state: None,
        next_check_at_ms: T0,
        error: None,
        settled_at_ms: Some(T0),
    };
    assert!(store.record_check(claimed[0].id, "a", &gone).await.unwrap());
    // The request's call certainly failed and its row went; the merchant uses the number again.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM pay_orders", [])
        .unwrap();
    store.insert_pay(pay("P1", T0 + 1_000)).await.unwrap();
    let entry = store
        .settlement(SettlementKind::Pay, "M1", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status, entry.checks, entry.created_at_ms),
        (SettlementStatus::Open, 0, T0 + 1_000)
    );
    // The same when the row came back without passing through an insert (a repair): the sweep.
    let claimed = store
        .claim_due_settlements("a", T0 + 1_000, T0 + 1_000, LEASE, 10)
        .await
        .unwrap();
    assert!(store.record_check(claimed[0].id, "a", &gone).await.unwrap());
    assert_eq!(store.enroll_missing(T0 + 2_000).await.unwrap(), 1);
    let entry = store
        .settlement(SettlementKind::Pay, "M1", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status, entry.next_check_at_ms),
        (SettlementStatus::Open, T0 + 2_000)
    );
}

/// `follow_soon` (a DaxPay 2.0 notice that only the worker can confirm): an entry missing is
/// enrolled, an open one brought forward (never put back), and a final one is reported as not
/// followed; on both backends.
async fn follow_soon_rules(store: OrderStore) {
    let next = |n: &'static str| {
        let store = store.clone();
        async move {
            store
                .settlement(SettlementKind::Pay, "M1", n)
                .await
                .unwrap()
                .unwrap()
        }
    };
    // No entry at all (the row's enrolment failed, or the row is gone): enrolled, due then.
    assert!(store
        .follow_soon(SettlementKind::Pay, "M1", "F1", T0)
        .await
        .unwrap());
    let entry = next("F1").await;
    assert_eq!(
        (entry.status, entry.next_check_at_ms),
        (SettlementStatus::Open, T0)
    );
    // Open and due later: brought forward; due earlier: kept.
    assert!(store
        .follow_soon(SettlementKind::Pay, "M1", "F1", T0 - 5)
        .await
        .unwrap());
    assert_eq!(next("F1").await.next_check_at_ms, T0 - 5);
    assert!(store
        .follow_soon(SettlementKind::Pay, "M1", "F1", T0 + 5)
        .await
        .unwrap());
    assert_eq!(next("F1").await.next_check_at_ms, T0 - 5);
    // Final: nothing follows it any more.
    let id = next("F1").await.id;
    let claimed = store
        .claim_due_settlements("a", T0, T0, LEASE, 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|c| c.id == id));
    let done = CheckResult {
        status: SettlementStatus::Final,
        dax_state: Some("success".to_owned()),
        next_check_at_ms: T0,
        error: None,
        settled_at_ms: Some(T0),
    };
    assert!(store.record_check(id, "a", &done).await.unwrap());
    assert!(!store
        .follow_soon(SettlementKind::Pay, "M1", "F1", T0)
        .await
        .unwrap());
}

#[tokio::test]
async fn follow_soon_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    follow_soon_rules(OrderStore::open(&url).unwrap()).await;
}

#[tokio::test]
async fn follow_soon_on_postgres() {
    let Some(url) = common::postgres_database("follow_soon").await else {
        return;
    };
    follow_soon_rules(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}

/// A row and its ledger entry are written in one transaction (issue 23): an entry that cannot
/// be written takes the row with it, and the request is refused as the store's failure, before
/// anything reaches DaxPay, rather than leaving a row no one follows until the next sweep.
#[tokio::test]
async fn a_row_whose_entry_cannot_be_written_is_not_written_either() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.ready().await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER no_entries BEFORE INSERT ON settlements \
             BEGIN SELECT RAISE(ABORT, 'ledger refused'); END;",
        )
        .unwrap();
    assert!(store.insert_pay(pay("P1", T0)).await.is_err());
    assert!(store.insert_refund(&refund("R1", T0)).await.is_err());
    assert!(store
        .pay_by_mch_order_no("M1", "P1")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .refund_by_mch_refund_no("M1", "R1")
        .await
        .unwrap()
        .is_none());
    // With the ledger writable again, the same numbers are taken, each with its entry.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TRIGGER no_entries;")
        .unwrap();
    store.insert_pay(pay("P1", T0)).await.unwrap();
    store.insert_refund(&refund("R1", T0)).await.unwrap();
    for (kind, number) in [(SettlementKind::Pay, "P1"), (SettlementKind::Refund, "R1")] {
        let entry = store.settlement(kind, "M1", number).await.unwrap();
        assert!(entry.is_some(), "{number} enrolled");
    }
}

/// A row's completion and its attempt's "answered" mark (`replay::landing`) are one
/// transaction (issue 23: they were two calls to the store and two commits): after a request
/// DaxPay answered, the row is completed and the attempt marked, both.
async fn completed_and_answered_together(store: OrderStore) {
    let attempt = |no: &str| Some(format!("att-{no}"));
    let paid = PayRow {
        attempt: attempt("P1"),
        ..pay("P1", T0)
    };
    store.insert_pay(paid.clone()).await.unwrap();
    let done = store
        .complete_pay_answered("DP1", paid, T0 + 5)
        .await
        .unwrap();
    assert_eq!(done.row().unwrap().pay_order_id.as_deref(), Some("DP1"));
    let windows = store
        .attempt_windows(SettlementKind::Pay, "M1", "P1")
        .await
        .unwrap()
        .unwrap();
    assert!(!windows.pending, "the row is completed");
    assert_eq!(windows.windows.len(), 1);
    assert!(windows.windows[0].answered, "its call is marked answered");

    let asked = RefundRow {
        attempt: attempt("R1"),
        ..refund("R1", T0)
    };
    store.insert_refund(&asked).await.unwrap();
    let settled = store
        .settle_refund_answered(refund_settled(asked), T0 + 5)
        .await
        .unwrap();
    assert_eq!(
        settled.row().unwrap().refund_order_id.as_deref(),
        Some("DR1")
    );
    let windows = store
        .attempt_windows(SettlementKind::Refund, "M1", "R1")
        .await
        .unwrap()
        .unwrap();
    assert!(!windows.pending, "the refund row is completed");
    assert!(windows.windows[0].answered, "its call is marked answered");
}

fn refund_settled(attempt: RefundRow) -> RefundSettlement {
    RefundSettlement {
        mch_no: attempt.mch_no.clone(),
        mch_refund_no: attempt.mch_refund_no.clone(),
        attempt: Some(attempt),
        refund_order_id: Some("DR1".to_owned()),
        pay_amount_fen: Some(100),
        status: Some(RefundOrderStatus::Success),
    }
}

#[tokio::test]
async fn a_completion_and_its_answered_mark_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    completed_and_answered_together(OrderStore::open(&url).unwrap()).await;
}

#[tokio::test]
async fn a_completion_and_its_answered_mark_on_postgres() {
    let Some(url) = common::postgres_database("answered").await else {
        return;
    };
    completed_and_answered_together(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap())
        .await;
}

/// ... or neither: a mark that cannot be written takes the completion with it (the row stays
/// pending, for the settlement worker to complete), rather than a completed row whose attempt
/// still counts as sending, or a mark without its completion.
#[tokio::test]
async fn a_completion_whose_answered_mark_cannot_be_written_is_not_written_either() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.ready().await.unwrap();
    let paid = PayRow {
        attempt: Some("att-P1".to_owned()),
        ..pay("P1", T0)
    };
    store.insert_pay(paid.clone()).await.unwrap();
    let asked = RefundRow {
        attempt: Some("att-R1".to_owned()),
        ..refund("R1", T0)
    };
    store.insert_refund(&asked).await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER no_pay_mark BEFORE UPDATE OF answered_at_ms ON pay_attempts \
             BEGIN SELECT RAISE(ABORT, 'mark refused'); END; \
             CREATE TRIGGER no_refund_mark BEFORE UPDATE OF answered_at_ms ON refund_attempts \
             BEGIN SELECT RAISE(ABORT, 'mark refused'); END;",
        )
        .unwrap();
    assert!(store
        .complete_pay_answered("DP1", paid.clone(), T0 + 5)
        .await
        .is_err());
    assert!(store
        .settle_refund_answered(refund_settled(asked.clone()), T0 + 5)
        .await
        .is_err());
    let row = store
        .pay_by_mch_order_no("M1", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state,
        RowState::Pending,
        "the completion is not written"
    );
    assert_eq!(row.pay_order_id, None);
    let row = store
        .refund_by_mch_refund_no("M1", "R1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state,
        RowState::Pending,
        "the refund's settlement is not written"
    );
    assert_eq!(row.refund_order_id, None);
    // With the mark writable again, both are written by the next completion.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TRIGGER no_pay_mark; DROP TRIGGER no_refund_mark;")
        .unwrap();
    store
        .complete_pay_answered("DP1", paid, T0 + 6)
        .await
        .unwrap();
    store
        .settle_refund_answered(refund_settled(asked), T0 + 6)
        .await
        .unwrap();
    for (kind, number) in [(SettlementKind::Pay, "P1"), (SettlementKind::Refund, "R1")] {
        let windows = store
            .attempt_windows(kind, "M1", number)
            .await
            .unwrap()
            .unwrap();
        assert!(!windows.pending && windows.windows[0].answered, "{number}");
    }
}
