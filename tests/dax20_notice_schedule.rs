//! The settlement ledger's short checks after a DaxPay 2.0 notice that came ahead of DaxPay's
//! commit (`OrderStore::follow_after_notice`), on both backends (SQLite on a file; PostgreSQL
//! when `PAYBRIDGE_TEST_POSTGRES_URL` is set): the entry is due 1 s after the notice and claimed
//! then even though its row is younger than the worker's first check, then 2 s and 5 s after
//! each due time while DaxPay's query still shows it open, those checks not counted in its
//! backoff; after the third, the worker's own schedule and the first-check rule apply again.

mod common;

use paybridge::config::StoreUrl;
use paybridge::store::{CheckResult, OrderStore, SettlementKind, SettlementStatus};

const T0: i64 = 1_700_000_000_000;
const LEASE: i64 = 60_000;
/// The worker's "written by" bound for a row written at `T0`: too young for a first check.
const TOO_YOUNG: i64 = T0 - 1;

fn still_open(next_check_at_ms: i64) -> CheckResult {
    CheckResult {
        status: SettlementStatus::Open,
        dax_state: Some("progress".to_owned()),
        next_check_at_ms,
        error: None,
        settled_at_ms: None,
    }
}

async fn schedule_rules(store: OrderStore) {
    let entry = || async {
        store
            .settlement(SettlementKind::Pay, "M1", "N1")
            .await
            .unwrap()
            .expect("enrolled")
    };
    let claim = |at: i64| {
        let store = store.clone();
        async move {
            store
                .claim_due_settlements("w", at, TOO_YOUNG, LEASE, 10)
                .await
                .unwrap()
        }
    };
    store
        .enroll(SettlementKind::Pay, "M1", "N1", T0, T0)
        .await
        .unwrap();
    // A row this young is not checked by the worker yet.
    assert!(claim(T0 + 500).await.is_empty());
    let notice = T0 + 500;
    assert!(store
        .follow_after_notice(SettlementKind::Pay, "M1", "N1", notice)
        .await
        .unwrap());
    let e = entry().await;
    assert_eq!(e.next_check_at_ms, notice + 1000, "{e:?}");
    assert_eq!(
        e.last_error.as_deref(),
        Some("notice ahead of commit: check 1 of 3")
    );
    assert!(claim(notice + 999).await.is_empty(), "not before it is due");
    // Each short check: claimed when due although the row is young, and, still open, due again
    // 2 s then 5 s later whatever the worker proposed (60 s here), uncounted.
    for (due, next, mark) in [
        (
            notice + 1000,
            notice + 3000,
            "notice ahead of commit: check 2 of 3",
        ),
        (
            notice + 3000,
            notice + 8000,
            "notice ahead of commit: check 3 of 3",
        ),
    ] {
        let claimed = claim(due).await;
        assert_eq!(claimed.len(), 1, "due at {due}");
        assert!(store
            .record_check(claimed[0].id, "w", &still_open(due + 60_000))
            .await
            .unwrap());
        let e = entry().await;
        assert_eq!(
            (e.next_check_at_ms, e.last_error.as_deref(), e.checks),
            (next, Some(mark), 0)
        );
    }
    // The third: the worker's schedule again, counted from here on.
    let claimed = claim(notice + 8000).await;
    assert_eq!(claimed.len(), 1);
    let worker_next = notice + 8000 + 60_000;
    assert!(store
        .record_check(claimed[0].id, "w", &still_open(worker_next))
        .await
        .unwrap());
    let e = entry().await;
    assert_eq!(
        (e.next_check_at_ms, e.last_error.as_deref(), e.checks),
        (worker_next, None, 0)
    );
    // No mark any more: the first-check rule holds for a young row.
    assert!(claim(worker_next).await.is_empty());
    // A final check ends it, mark or not.
    store
        .follow_after_notice(SettlementKind::Pay, "M1", "N1", worker_next)
        .await
        .unwrap();
    let claimed = claim(worker_next + 1000).await;
    assert_eq!(claimed.len(), 1);
    let done = CheckResult {
        status: SettlementStatus::Final,
        dax_state: Some("success".to_owned()),
        next_check_at_ms: worker_next + 1000,
        error: None,
        settled_at_ms: Some(worker_next + 1000),
    };
    assert!(store.record_check(claimed[0].id, "w", &done).await.unwrap());
    let e = entry().await;
    assert_eq!((e.status, e.last_error), (SettlementStatus::Final, None));
    assert!(!store
        .follow_after_notice(SettlementKind::Pay, "M1", "N1", worker_next + 2000)
        .await
        .unwrap());
}

#[tokio::test]
async fn short_checks_after_a_notice_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    schedule_rules(OrderStore::open(&url).unwrap()).await;
}

#[tokio::test]
async fn short_checks_after_a_notice_on_postgres() {
    let Some(url) = common::postgres_database("notice_schedule").await else {
        return;
    };
    schedule_rules(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}
