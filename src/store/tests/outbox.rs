//! Notification tokens and the outbox on SQLite. tests/store.rs runs the core against PostgreSQL.

use super::{memory, pay, refund};
use crate::config::StoreUrl;
use crate::store::*;

fn job(order_id: &str, state: i64, due_at_ms: i64) -> NewNotification {
    NewNotification {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        kind: NotificationKind::Pay,
        order_id: order_id.to_owned(),
        state,
        url: "https://m.example/notify".to_owned(),
        body: format!("payOrderId={order_id}&state={state}&sign=ABC"),
        due_at_ms,
        wire: NotificationWire::JeepayPost,
    }
}

/// Enqueues `n`, answering its id.
async fn enqueue(store: &OrderStore, n: &NewNotification) -> i64 {
    assert_eq!(
        store.enqueue_notification(n, 100).await.unwrap(),
        Inserted::New
    );
    match store.enqueue_notification(n, 100).await.unwrap() {
        Inserted::Exists(existing) => existing.id,
        Inserted::New => panic!("enqueued twice"),
    }
}

fn ids(jobs: &[Notification]) -> Vec<i64> {
    jobs.iter().map(|n| n.id).collect()
}

#[tokio::test]
async fn one_job_per_order_kind_and_state() {
    let store = memory();
    let first = job("D1", 2, 1_000);
    assert_eq!(
        store.enqueue_notification(&first, 500).await.unwrap(),
        Inserted::New
    );
    let mut again = first.clone();
    again.body = "other".to_owned();
    again.due_at_ms = 9;
    let Inserted::Exists(existing) = store.enqueue_notification(&again, 600).await.unwrap() else {
        panic!("a second job for one order and state");
    };
    assert_eq!(
        existing,
        Notification {
            id: existing.id,
            mch_no: "M1".to_owned(),
            app_id: "app1".to_owned(),
            kind: NotificationKind::Pay,
            order_id: "D1".to_owned(),
            state: 2,
            url: first.url.clone(),
            body: first.body.clone(),
            status: NotificationStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: 1_000,
            last_error: None,
            lease_owner: None,
            lease_until_ms: None,
            created_at_ms: 500,
            delivered_at_ms: None,
            wire: NotificationWire::JeepayPost,
        }
    );
    assert_eq!(
        store.notification(existing.id).await.unwrap(),
        Some(existing.clone())
    );
    assert_eq!(store.notification(existing.id + 100).await.unwrap(), None);
    // Another state, kind or merchant is another job.
    let mut refund = first.clone();
    refund.kind = NotificationKind::Refund;
    let mut other_mch = first.clone();
    other_mch.mch_no = "M2".to_owned();
    for n in [job("D1", 3, 1_000), refund, other_mch] {
        assert_eq!(
            store.enqueue_notification(&n, 500).await.unwrap(),
            Inserted::New
        );
    }
    assert_eq!(store.outbox_stats().await.unwrap().pending, 4);
}

#[tokio::test]
async fn a_claim_takes_due_jobs_and_a_lease_holds_them_until_it_expires() {
    let store = memory();
    let a = enqueue(&store, &job("A", 2, 1_000)).await;
    let b = enqueue(&store, &job("B", 2, 2_000)).await;

    assert!(store
        .claim_due_notifications("w1", 999, 100, 10)
        .await
        .unwrap()
        .is_empty());
    let claimed = store
        .claim_due_notifications("w1", 1_500, 100, 10)
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [a]);
    assert_eq!(claimed[0].lease_owner.as_deref(), Some("w1"));
    assert_eq!(claimed[0].lease_until_ms, Some(1_600));
    // Leased: nobody else takes it, nor does the owner take it twice.
    for owner in ["w2", "w1"] {
        assert!(store
            .claim_due_notifications(owner, 1_599, 100, 10)
            .await
            .unwrap()
            .is_empty());
    }
    // The lease is over (the worker died, say): the next claim takes it.
    let reclaimed = store
        .claim_due_notifications("w2", 1_600, 100, 10)
        .await
        .unwrap();
    assert_eq!(ids(&reclaimed), [a]);
    assert_eq!(reclaimed[0].lease_owner.as_deref(), Some("w2"));
    // The first owner's lease is gone: its mark is refused.
    assert!(!store.mark_delivered(a, "w1", 1_650).await.unwrap());
    assert!(store.mark_delivered(a, "w2", 1_650).await.unwrap());

    // Oldest due first, at most `limit`.
    let c = enqueue(&store, &job("C", 2, 1_900)).await;
    let d = enqueue(&store, &job("D", 2, 1_950)).await;
    let first = store
        .claim_due_notifications("w1", 3_000, 100, 2)
        .await
        .unwrap();
    assert_eq!(ids(&first), [c, d]);
    let rest = store
        .claim_due_notifications("w1", 3_000, 100, 2)
        .await
        .unwrap();
    assert_eq!(ids(&rest), [b]);
    assert!(store
        .claim_due_notifications("w1", 3_000, 100, 0)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn only_the_lease_owner_marks_a_job() {
    let store = memory();
    let id = enqueue(&store, &job("A", 2, 0)).await;
    // Not leased at all: nothing to mark.
    assert!(!store.mark_delivered(id, "w1", 10).await.unwrap());
    store
        .claim_due_notifications("w1", 10, 1_000, 10)
        .await
        .unwrap();
    assert!(!store.mark_delivered(id, "w2", 20).await.unwrap());
    assert!(!store.mark_retry(id, "w2", 30, "e").await.unwrap());
    assert!(!store.mark_failed(id, "w2", "e").await.unwrap());
    assert!(!store.mark_delivered(id + 1, "w1", 20).await.unwrap());
    let untouched = store.notification(id).await.unwrap().unwrap();
    assert_eq!(untouched.attempts, 0);
    assert_eq!(untouched.status, NotificationStatus::Pending);

    assert!(store.mark_delivered(id, "w1", 20).await.unwrap());
    let done = store.notification(id).await.unwrap().unwrap();
    assert_eq!(done.status, NotificationStatus::Delivered);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.delivered_at_ms, Some(20));
    assert_eq!((done.lease_owner, done.lease_until_ms), (None, None));
    // Once delivered, no mark applies, and no claim takes it.
    assert!(!store.mark_delivered(id, "w1", 30).await.unwrap());
    assert!(!store.mark_failed(id, "w1", "late").await.unwrap());
    assert!(store
        .claim_due_notifications("w1", 1_000_000, 10, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_retry_waits_for_its_time_and_a_failure_is_final() {
    let store = memory();
    let id = enqueue(&store, &job("A", 2, 0)).await;
    store
        .claim_due_notifications("w1", 0, 1_000, 10)
        .await
        .unwrap();
    assert!(store
        .mark_retry(id, "w1", 30_000, "HTTP 502")
        .await
        .unwrap());
    let waiting = store.notification(id).await.unwrap().unwrap();
    assert_eq!(waiting.status, NotificationStatus::Pending);
    assert_eq!(waiting.attempts, 1);
    assert_eq!(waiting.next_attempt_at_ms, 30_000);
    assert_eq!(waiting.last_error.as_deref(), Some("HTTP 502"));
    assert_eq!(waiting.lease_owner, None);

    // The lease was cleared, but the job is not due before its time.
    assert!(store
        .claim_due_notifications("w2", 29_999, 1_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_due_notifications("w2", 30_000, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), [id]);
    assert!(!store.mark_retry(id, "w1", 60_000, "stale").await.unwrap());
    assert!(store
        .mark_failed(id, "w2", "answer was not SUCCESS")
        .await
        .unwrap());
    let failed = store.notification(id).await.unwrap().unwrap();
    assert_eq!(failed.status, NotificationStatus::Failed);
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.last_error.as_deref(), Some("answer was not SUCCESS"));
    assert!(store
        .claim_due_notifications("w2", i64::MAX, 1_000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store
            .notifications(NotificationStatus::Failed, 10)
            .await
            .unwrap()),
        [id]
    );
}

#[tokio::test]
async fn resend_revives_failed_and_pending_jobs_but_not_delivered_ones() {
    let store = memory();
    let failed = enqueue(&store, &job("F", 2, 0)).await;
    let delivered = enqueue(&store, &job("D", 2, 0)).await;
    let leased = enqueue(&store, &job("L", 2, 5)).await;
    store
        .claim_due_notifications("w1", 0, 1_000, 2)
        .await
        .unwrap();
    store.mark_failed(failed, "w1", "gone").await.unwrap();
    store.mark_delivered(delivered, "w1", 1).await.unwrap();
    store
        .claim_due_notifications("w1", 10, 1_000, 10)
        .await
        .unwrap();

    assert!(store.resend_notification(failed, 500).await.unwrap());
    let revived = store.notification(failed).await.unwrap().unwrap();
    assert_eq!(revived.status, NotificationStatus::Pending);
    assert_eq!(revived.attempts, 0);
    assert_eq!(revived.next_attempt_at_ms, 500);
    assert_eq!(revived.last_error.as_deref(), Some("gone"));

    assert!(!store.resend_notification(delivered, 500).await.unwrap());
    assert!(!store.resend_notification(9_999, 500).await.unwrap());
    assert_eq!(
        store.notification(delivered).await.unwrap().unwrap().status,
        NotificationStatus::Delivered
    );

    // A pending job in flight: its lease is cleared, the old owner can no longer mark it.
    assert!(store.resend_notification(leased, 500).await.unwrap());
    assert!(!store.mark_delivered(leased, "w1", 600).await.unwrap());
    let due = store
        .claim_due_notifications("w2", 500, 1_000, 10)
        .await
        .unwrap();
    let mut due = ids(&due);
    due.sort_unstable();
    assert_eq!(due, [failed, leased]);
}

#[tokio::test]
async fn stats_count_each_status_and_the_oldest_pending_job() {
    let store = memory();
    assert_eq!(store.outbox_stats().await.unwrap(), OutboxStats::default());
    for (i, order) in ["A", "B", "C", "D"].into_iter().enumerate() {
        let created = 1_000 + i as i64;
        store
            .enqueue_notification(&job(order, 2, 0), created)
            .await
            .unwrap();
    }
    let claimed = store.claim_due_notifications("w", 0, 10, 2).await.unwrap();
    store.mark_delivered(claimed[0].id, "w", 5).await.unwrap();
    store.mark_failed(claimed[1].id, "w", "x").await.unwrap();
    assert_eq!(
        store.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 2,
            delivered: 1,
            failed: 1,
            oldest_pending_created_at_ms: Some(1_002),
        }
    );
    let pending = store
        .notifications(NotificationStatus::Pending, 10)
        .await
        .unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|n| n.order_id.as_str())
            .collect::<Vec<_>>(),
        ["D", "C"],
        "newest first"
    );
    assert_eq!(
        store
            .notifications(NotificationStatus::Pending, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn tokens_are_unique_and_find_their_row() {
    let store = memory();
    let mut a = pay("M1", "O1");
    a.token = Some("tok-a".to_owned());
    assert_eq!(store.insert_pay(&a).await.unwrap(), Inserted::New);
    // No token: any number of rows.
    store.insert_pay(&pay("M1", "O2")).await.unwrap();
    store.insert_pay(&pay("M1", "O3")).await.unwrap();
    assert_eq!(store.pay_by_token("tok-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.pay_by_token("tok-x").await.unwrap(), None);
    // Completing keeps the token.
    store.complete_pay("M1", "O1", "D1", &a).await.unwrap();
    let done = store.pay_by_token("tok-a").await.unwrap().unwrap();
    assert_eq!(done.pay_order_id.as_deref(), Some("D1"));
    assert_eq!(done.token.as_deref(), Some("tok-a"));
    // The same number answers the row there (with its token); another number cannot reuse it.
    let mut same_number = pay("M1", "O1");
    same_number.token = Some("tok-b".to_owned());
    assert!(matches!(
        store.insert_pay(&same_number).await.unwrap(),
        Inserted::Exists(PayRow { token: Some(t), .. }) if t == "tok-a"
    ));
    let mut thief = pay("M2", "O9");
    thief.token = Some("tok-a".to_owned());
    assert!(matches!(
        store.insert_pay(&thief).await,
        Err(StoreError::Unavailable(e)) if e.contains("token")
    ));

    let mut r = refund("M1", "R1");
    r.token = Some("tok-a".to_owned()); // Refunds have their own tokens.
    assert_eq!(store.insert_refund(&r).await.unwrap(), Inserted::New);
    assert_eq!(store.refund_by_token("tok-a").await.unwrap(), Some(r));
    assert_eq!(store.refund_by_token("tok-b").await.unwrap(), None);
    let mut r2 = refund("M1", "R2");
    r2.token = Some("tok-a".to_owned());
    assert!(store.insert_refund(&r2).await.is_err());
}

#[tokio::test]
async fn a_store_made_before_the_outbox_migrates_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql::CREATE_SCHEMA_MIGRATIONS).unwrap();
        conn.execute_batch(sql::MIGRATIONS[0].1).unwrap();
        conn.execute(&sql::for_sqlite(sql::RECORD_VERSION), (1, 0))
            .unwrap();
        conn.execute(
            "INSERT INTO pay_orders (mch_no, mch_order_no, app_id, way_code, currency, \
             amount_fen, subject, body, upstream, created_at_ms, state) \
             VALUES ('M1', 'OLD', 'app1', 'ALI_QR', 'cny', 1, 's', 'b', 'daxpay', 1, 'created')",
            [],
        )
        .unwrap();
    }
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    let old = store
        .pay_by_mch_order_no("M1", "OLD")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.token, None);
    assert_eq!(
        store
            .enqueue_notification(&job("A", 2, 0), 1)
            .await
            .unwrap(),
        Inserted::New
    );
}

#[tokio::test]
async fn an_unknown_status_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    let id = enqueue(&store, &job("A", 2, 0)).await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE notifications SET status = 'weird'", [])
        .unwrap();
    assert!(matches!(
        store.notification(id).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn the_outbox_statements_read_the_same_on_both_backends() {
    for statement in [
        sql::PAY_BY_TOKEN,
        sql::REFUND_BY_TOKEN,
        sql::ENQUEUE_NOTIFICATION,
        sql::NOTIFICATION_BY_KEY,
        sql::CLAIM_NOTIFICATIONS_POSTGRES,
        sql::CLAIM_NOTIFICATIONS_SQLITE,
        sql::MARK_DELIVERED,
        sql::MARK_RETRY,
        sql::MARK_FAILED,
        sql::RESEND_NOTIFICATION,
        sql::NOTIFICATIONS_BY_STATUS,
    ] {
        let sqlite = sql::for_sqlite(statement);
        assert_eq!(sqlite.matches('?').count(), statement.matches('$').count());
    }
    assert!(sql::CLAIM_NOTIFICATIONS_POSTGRES.contains("FOR UPDATE SKIP LOCKED"));
    assert!(!sql::CLAIM_NOTIFICATIONS_SQLITE.contains("FOR UPDATE"));
}

/// An epay job keeps how it is delivered (migration 0008); a Jeepay job stays Jeepay's.
#[tokio::test]
async fn a_job_keeps_its_wire() {
    let store = memory();
    let jeepay = enqueue(&store, &job("D1", 2, 0)).await;
    let mut epay = job("D2", 2, 0);
    epay.wire = NotificationWire::EpayGetResigned;
    epay.body = "pid=1000&trade_no=1&money=1".to_owned();
    let epay = enqueue(&store, &epay).await;
    let wire = |id| {
        let store = store.clone();
        async move { store.notification(id).await.unwrap().unwrap().wire }
    };
    assert_eq!(wire(jeepay).await, NotificationWire::JeepayPost);
    assert_eq!(wire(epay).await, NotificationWire::EpayGetResigned);
    let leased = store
        .lease_notifications("w", &[epay], 0, 1_000)
        .await
        .unwrap();
    assert_eq!(leased[0].wire, NotificationWire::EpayGetResigned);
    for wire in [
        NotificationWire::JeepayPost,
        NotificationWire::EpayGet,
        NotificationWire::EpayGetResigned,
    ] {
        assert_eq!(NotificationWire::parse(wire.as_str()).unwrap(), wire);
    }
    assert!(NotificationWire::parse("smtp").is_err());
}
