//! The order store against a real PostgreSQL server: the behaviours the SQLite unit tests
//! (src/store/tests.rs) check, plus two stores on one database racing for the same number and
//! claiming from one outbox.
//!
//! The server comes from `PAYBRIDGE_TEST_POSTGRES_URL` (`export
//! PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres)`); each test creates its own database
//! through it and drops it afterwards. Unset: the tests print a note and pass, unless
//! `PAYBRIDGE_REQUIRE_POSTGRES` is set (CI), when they fail.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use paybridge::config::StoreUrl;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::{
    Abandoned, Completion, Inserted, Joined, NewNotification, Notification, NotificationKind,
    NotificationStatus, OrderStore, OutboxStats, PayRow, RefundRow, RefundSettlement, RowState,
    StoreError,
};

/// A fresh database on the test server, dropped (connections and all) when this goes.
struct TestDb {
    admin_url: String,
    name: String,
    url: StoreUrl,
}

impl TestDb {
    async fn create() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("PAYBRIDGE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("PAYBRIDGE_REQUIRE_POSTGRES").is_none(),
                "PAYBRIDGE_TEST_POSTGRES_URL is not set but PAYBRIDGE_REQUIRE_POSTGRES is: \
                 run `export PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres)` first"
            );
            eprintln!(
                "PAYBRIDGE_TEST_POSTGRES_URL not set: skipping a PostgreSQL store test \
                 (export PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres) to run it)"
            );
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "pb_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let url = StoreUrl::parse(&with_database(&admin_url, &name)).unwrap();
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    fn store(&self) -> OrderStore {
        OrderStore::open(&self.url).unwrap()
    }

    /// Runs `sql` in this database, answering the first column of the first row.
    async fn scalar(&self, sql: &str) -> i64 {
        let client = connect(self.url.expose()).await;
        client.query_one(sql, &[]).await.unwrap().get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside async (and during a panic): a thread of its own with its own runtime.
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin(
                &url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ));
        })
        .join();
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn admin(url: &str, sql: &str) {
    connect(url).await.batch_execute(sql).await.unwrap();
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[host_start..].find('/') {
        Some(slash) => &base[..host_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

fn pay(mch_no: &str, mch_order_no: &str) -> PayRow {
    PayRow {
        mch_no: mch_no.to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: mch_order_no.to_owned(),
        pay_order_id: None,
        way_code: "ALI_QR".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: 1,
        subject: "标题".to_owned(),
        body: "描述".to_owned(),
        ext_param: Some("ext".to_owned()),
        notify_url: None,
        return_url: Some("https://m.example/return".to_owned()),
        upstream: "daxpay".to_owned(),
        created_at_ms: 1_700_000_000_123,
        state: RowState::Pending,
        token: None,
        attempt: None,
    }
}

fn refund(mch_no: &str, mch_refund_no: &str) -> RefundRow {
    RefundRow {
        mch_no: mch_no.to_owned(),
        app_id: "app1".to_owned(),
        mch_refund_no: mch_refund_no.to_owned(),
        refund_order_id: None,
        pay_order_id: None,
        mch_order_no: Some("O1".to_owned()),
        refund_amount_fen: 50,
        pay_amount_fen: None,
        currency: "cny".to_owned(),
        ext_param: None,
        notify_url: Some("https://m.example/refund".to_owned()),
        created_at_ms: 1_700_000_000_456,
        state: RowState::Pending,
        token: None,
        attempt: None,
        status: None,
    }
}

#[tokio::test]
async fn pay_orders_are_taken_completed_and_found() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    assert_eq!(store.kind(), "postgres");
    let first = pay("M1", "O1");
    assert_eq!(store.insert_pay(&first).await.unwrap(), Inserted::New);
    let mut again = pay("M1", "O1");
    again.amount_fen = 999;
    assert_eq!(
        store.insert_pay(&again).await.unwrap(),
        Inserted::Exists(first)
    );
    assert_eq!(
        store.insert_pay(&pay("M2", "O1")).await.unwrap(),
        Inserted::New
    );

    let mut done = pay("M1", "O1");
    done.way_code = "WX_BAR".to_owned();
    done.client_ip = Some("10.1.2.3".to_owned());
    done.amount_fen = 2;
    store.complete_pay("M1", "O1", "DX1", &done).await.unwrap();
    let want = PayRow {
        pay_order_id: Some("DX1".to_owned()),
        state: RowState::Created,
        ..done
    };
    assert_eq!(
        store.pay_by_mch_order_no("M1", "O1").await.unwrap(),
        Some(want.clone())
    );
    assert_eq!(
        store.pay_by_order_id("M1", "DX1").await.unwrap(),
        Some(want)
    );
    assert_eq!(store.pay_by_order_id("M2", "DX1").await.unwrap(), None);

    store.abandon_pay("M1", "O1", "a").await.unwrap();
    store.abandon_pay("M2", "O1", "a").await.unwrap();
    assert!(store
        .pay_by_mch_order_no("M1", "O1")
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.pay_by_mch_order_no("M2", "O1").await.unwrap(), None);
}

#[tokio::test]
async fn refunds_are_unique_per_merchant() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    let first = refund("M1", "R1");
    assert_eq!(store.insert_refund(&first).await.unwrap(), Inserted::New);
    assert_eq!(
        store.insert_refund(&refund("M1", "R1")).await.unwrap(),
        Inserted::Exists(first)
    );
    assert_eq!(
        store.insert_refund(&refund("M2", "R1")).await.unwrap(),
        Inserted::New
    );
    store
        .settle_refund(RefundSettlement {
            mch_no: "M1".to_owned(),
            mch_refund_no: "R1".to_owned(),
            attempt: None,
            refund_order_id: Some("DXR1".to_owned()),
            pay_amount_fen: Some(100),
            status: None,
        })
        .await
        .unwrap();
    let done = store
        .refund_by_order_id("M1", "DXR1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, RowState::Created);
    assert_eq!(done.pay_amount_fen, Some(100));
    assert_eq!(done.refund_order_id.as_deref(), Some("DXR1"));
    assert_eq!(store.refund_by_order_id("M2", "DXR1").await.unwrap(), None);
    store.abandon_refund("M1", "R1", "a").await.unwrap();
    store.abandon_refund("M2", "R1", "a").await.unwrap();
    assert!(store
        .refund_by_mch_refund_no("M1", "R1")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.refund_by_mch_refund_no("M2", "R1").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = (db.store(), db.store());
    let started = Instant::now();
    let (ra, rb) = tokio::join!(a.ready(), b.ready());
    eprintln!("two stores opened and migrated in {:?}", started.elapsed());
    ra.unwrap();
    rb.unwrap();
    a.ready().await.unwrap();
    db.store().ready().await.unwrap();
    // Each migration recorded once: one per file of src/store/migrations.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))
        .unwrap()
        .count() as i64;
    assert_eq!(
        files, 9,
        "0001 orders … 0006 attempt windows, 0007 dialect orders, 0008 notification wire, \
         0009 refund dialect numbers"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM schema_migrations").await,
        files
    );
    assert_eq!(
        db.scalar("SELECT count(DISTINCT version) FROM schema_migrations")
            .await,
        files
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_fifty_racing_inserts_exactly_one_is_new() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let stores = [db.store(), db.store()];
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut row = pay("M1", "RACE");
            row.amount_fen = i as i64 + 1;
            store.insert_pay(&row).await.unwrap()
        }));
    }
    let mut new = 0;
    let mut amounts = std::collections::BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Inserted::New => new += 1,
            Inserted::Exists(row) => {
                amounts.insert(row.amount_fen);
            }
        }
    }
    assert_eq!(new, 1);
    // Every loser saw the one winner's row.
    assert_eq!(amounts.len(), 1, "{amounts:?}");
    assert_eq!(db.scalar("SELECT count(*) FROM pay_orders").await, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let url = StoreUrl::parse("postgres://paybridge:hunter2@127.0.0.1:1/x").unwrap();
    let started = Instant::now();
    let store = OrderStore::open(&url).expect("opening never touches the network");
    let result = store.pay_by_mch_order_no("M1", "O1").await;
    let elapsed = started.elapsed();
    match result {
        Err(e @ StoreError::Unavailable(_)) => {
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Not memoised as ready: the next call tries again (and fails the same way).
    assert!(matches!(
        store.ready().await,
        Err(StoreError::Unavailable(_))
    ));
}

fn job(order_id: &str, state: i64, due_at_ms: i64) -> NewNotification {
    NewNotification {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        kind: NotificationKind::Refund,
        order_id: order_id.to_owned(),
        state,
        url: "https://m.example/refund".to_owned(),
        body: format!("refundOrderId={order_id}&state={state}&sign=ABC"),
        due_at_ms,
        wire: paybridge::store::NotificationWire::JeepayPost,
    }
}

/// Enqueues `n` (created at 100), answering its id.
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
async fn tokens_are_unique_and_find_their_row() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    let mut a = pay("M1", "O1");
    a.token = Some("tok-a".to_owned());
    store.insert_pay(&a).await.unwrap();
    store.insert_pay(&pay("M1", "O2")).await.unwrap();
    store.insert_pay(&pay("M1", "O3")).await.unwrap();
    assert_eq!(store.pay_by_token("tok-a").await.unwrap(), Some(a));
    assert_eq!(store.pay_by_token("tok-x").await.unwrap(), None);
    let mut thief = pay("M2", "O9");
    thief.token = Some("tok-a".to_owned());
    assert!(matches!(
        store.insert_pay(&thief).await,
        Err(StoreError::Unavailable(_))
    ));
    let mut r = refund("M1", "R1");
    r.token = Some("tok-a".to_owned());
    store.insert_refund(&r).await.unwrap();
    assert_eq!(store.refund_by_token("tok-a").await.unwrap(), Some(r));
    assert_eq!(store.refund_by_token("tok-x").await.unwrap(), None);
}

#[tokio::test]
async fn the_outbox_dedupes_leases_retries_and_resends() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = db.store();
    let a = enqueue(&store, &job("A", 2, 1_000)).await;
    let b = enqueue(&store, &job("B", 3, 2_000)).await;
    assert_eq!(
        store
            .enqueue_notification(&job("A", 3, 0), 1)
            .await
            .unwrap(),
        Inserted::New
    );
    let a3 = store.outbox_stats().await.unwrap();
    assert_eq!((a3.pending, a3.oldest_pending_created_at_ms), (3, Some(1)));
    let late = store
        .notifications(NotificationStatus::Pending, 1)
        .await
        .unwrap()[0]
        .id;
    store.claim_due_notifications("x", 0, 1, 1).await.unwrap();
    store.mark_delivered(late, "x", 0).await.unwrap();

    // Due time and leases.
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
    assert_eq!(claimed[0].lease_until_ms, Some(1_600));
    assert!(store
        .claim_due_notifications("w2", 1_599, 100, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&store
            .claim_due_notifications("w2", 1_600, 100, 10)
            .await
            .unwrap()),
        [a]
    );

    // Only the owner marks; a retry waits for its time.
    assert!(!store.mark_retry(a, "w1", 5_000, "stale").await.unwrap());
    assert!(store.mark_retry(a, "w2", 5_000, "HTTP 502").await.unwrap());
    let waiting = store.notification(a).await.unwrap().unwrap();
    assert_eq!((waiting.attempts, waiting.next_attempt_at_ms), (1, 5_000));
    assert_eq!(waiting.last_error.as_deref(), Some("HTTP 502"));
    assert_eq!(waiting.lease_owner, None);
    assert_eq!(
        ids(&store
            .claim_due_notifications("w1", 4_999, 100, 10)
            .await
            .unwrap()),
        [b]
    );
    assert_eq!(
        ids(&store
            .claim_due_notifications("w1", 5_000, 100, 10)
            .await
            .unwrap()),
        [a]
    );
    assert!(!store.mark_failed(a, "w2", "x").await.unwrap());
    assert!(store.mark_failed(a, "w1", "gave up").await.unwrap());
    assert!(store.mark_delivered(b, "w1", 4_999).await.unwrap());
    let done = store.notification(b).await.unwrap().unwrap();
    assert_eq!(done.status, NotificationStatus::Delivered);
    assert_eq!((done.attempts, done.delivered_at_ms), (1, Some(4_999)));

    // Resend: failed yes, delivered no.
    assert!(!store.resend_notification(b, 9_000).await.unwrap());
    assert!(!store.resend_notification(a + 1_000, 9_000).await.unwrap());
    assert!(store.resend_notification(a, 9_000).await.unwrap());
    let revived = store.notification(a).await.unwrap().unwrap();
    assert_eq!(revived.status, NotificationStatus::Pending);
    assert_eq!((revived.attempts, revived.next_attempt_at_ms), (0, 9_000));
    assert_eq!(
        store.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 1,
            delivered: 2,
            failed: 0,
            oldest_pending_created_at_ms: Some(100),
        }
    );
    assert_eq!(
        ids(&store
            .claim_due_notifications("w3", 9_000, 100, 10)
            .await
            .unwrap()),
        [a]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_claiming_together_take_every_job_exactly_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let stores = [db.store(), db.store()];
    let mut all = Vec::new();
    for i in 0..40 {
        all.push(enqueue(&stores[0], &job(&format!("J{i}"), 2, i)).await);
    }
    stores[1].ready().await.unwrap();
    // Four workers, two per store, each claiming up to 3 at a time until nothing is left.
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = stores[w % 2].clone();
        workers.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let (mut got, mut latencies) = (Vec::new(), Vec::new());
            loop {
                let started = Instant::now();
                let claimed = store
                    .claim_due_notifications(&owner, 1_000, 60_000, 3)
                    .await
                    .unwrap();
                latencies.push(started.elapsed());
                if claimed.is_empty() {
                    return (got, latencies);
                }
                for n in claimed {
                    assert!(store.mark_delivered(n.id, &owner, 1_001).await.unwrap());
                    got.push(n.id);
                }
            }
        }));
    }
    let (mut claimed, mut latencies) = (Vec::new(), Vec::new());
    for worker in workers {
        let (got, times) = worker.await.unwrap();
        claimed.extend(got);
        latencies.extend(times);
    }
    latencies.sort_unstable();
    eprintln!(
        "{} claims: median {:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert_eq!(
        claimed.len(),
        40,
        "a job claimed twice or never: {claimed:?}"
    );
    claimed.sort_unstable();
    all.sort_unstable();
    assert_eq!(claimed, all);
    let stats = stores[1].outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (0, 40));
}

#[tokio::test]
async fn a_file_store_keeps_a_pending_job_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("s.sqlite").display()
    ))
    .unwrap();
    let store = OrderStore::open(&url).unwrap();
    let id = enqueue(&store, &job("A", 2, 50)).await;
    // Leased by a worker that then dies with the process.
    assert_eq!(
        ids(&store
            .claim_due_notifications("dead", 60, 1_000, 10)
            .await
            .unwrap()),
        [id]
    );
    drop(store);

    let reopened = OrderStore::open(&url).unwrap();
    let kept = reopened.notification(id).await.unwrap().unwrap();
    assert_eq!(kept.status, NotificationStatus::Pending);
    assert_eq!(kept.lease_owner.as_deref(), Some("dead"));
    assert!(reopened
        .claim_due_notifications("new", 1_059, 1_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = reopened
        .claim_due_notifications("new", 1_060, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), [id]);
    assert_eq!(again[0].body, job("A", 2, 50).body);
    assert!(reopened.mark_delivered(id, "new", 1_100).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Attempts (issue 19): run on SQLite (in memory) and, when configured, on PostgreSQL.
// ---------------------------------------------------------------------------------------------

/// The stores to run an attempt test on: SQLite always, PostgreSQL when there is a server.
async fn both_backends() -> Vec<(OrderStore, Option<TestDb>)> {
    let mut stores = vec![(
        OrderStore::open(&StoreUrl::parse("sqlite::memory:").unwrap()).unwrap(),
        None,
    )];
    if let Some(db) = TestDb::create().await {
        stores.push((db.store(), Some(db)));
    }
    stores
}

/// Attempt `id` on pay order M1/O1: `fen`, notified at `…/<id>`, token `tok-<id>`.
fn pay_attempt(id: &str, fen: i64) -> PayRow {
    PayRow {
        amount_fen: fen,
        way_code: format!("WAY_{id}"),
        notify_url: Some(format!("https://m.example/{id}")),
        token: Some(format!("tok-{id}")),
        attempt: Some(id.to_owned()),
        created_at_ms: 1_700_000_000_000 + fen,
        ..pay("M1", "O1")
    }
}

fn refund_attempt(id: &str, fen: i64) -> RefundRow {
    RefundRow {
        refund_amount_fen: fen,
        notify_url: Some(format!("https://m.example/{id}")),
        token: Some(format!("rtok-{id}")),
        attempt: Some(id.to_owned()),
        created_at_ms: 1_700_000_000_000 + fen,
        ..refund("M1", "R1")
    }
}

#[tokio::test]
async fn a_clean_up_never_removes_a_row_another_attempt_joined() {
    for (store, _db) in both_backends().await {
        let kind = store.kind();
        let (a, b) = (pay_attempt("A", 100), pay_attempt("B", 300));
        assert_eq!(store.insert_pay(&a).await.unwrap(), Inserted::New, "{kind}");
        assert!(matches!(
            store.join_pay(&b).await.unwrap(),
            Joined::Joined(_)
        ));
        // A created nothing: the row stays for B, and carries B's fields now.
        assert_eq!(
            store.abandon_pay("M1", "O1", "A").await.unwrap(),
            Abandoned::Kept
        );
        let row = store
            .pay_by_mch_order_no("M1", "O1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row, PayRow { ..b.clone() }, "{kind}");
        assert_eq!(store.pay_by_token("tok-A").await.unwrap(), None, "{kind}");
        assert_eq!(store.pay_by_token("tok-B").await.unwrap(), Some(b.clone()));
        // B (the last) created nothing either: the number is free again.
        assert_eq!(
            store.abandon_pay("M1", "O1", "B").await.unwrap(),
            Abandoned::Removed
        );
        assert_eq!(store.pay_by_mch_order_no("M1", "O1").await.unwrap(), None);
        assert_eq!(store.pay_by_token("tok-B").await.unwrap(), None, "{kind}");
        assert_eq!(store.join_pay(&b).await.unwrap(), Joined::Gone, "{kind}");

        // The same for refunds.
        let (ra, rb) = (refund_attempt("A", 100), refund_attempt("B", 300));
        assert_eq!(store.insert_refund(&ra).await.unwrap(), Inserted::New);
        assert!(matches!(
            store.join_refund(&rb).await.unwrap(),
            Joined::Joined(_)
        ));
        assert_eq!(store.refund_attempts("M1", "R1").await.unwrap().len(), 2);
        assert_eq!(
            store.abandon_refund("M1", "R1", "A").await.unwrap(),
            Abandoned::Kept
        );
        let row = store
            .refund_by_mch_refund_no("M1", "R1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.refund_amount_fen, row.attempt.as_deref()),
            (300, Some("B"))
        );
        assert_eq!(
            row.notify_url.as_deref(),
            Some("https://m.example/B"),
            "{kind}"
        );
        assert_eq!(
            store.abandon_refund("M1", "R1", "B").await.unwrap(),
            Abandoned::Removed
        );
        assert_eq!(
            store.refund_by_mch_refund_no("M1", "R1").await.unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn the_row_takes_the_fields_of_the_attempt_daxpay_accepted() {
    for (store, _db) in both_backends().await {
        let kind = store.kind();
        let (a, b) = (pay_attempt("A", 100), pay_attempt("B", 300));
        store.insert_pay(&a).await.unwrap();
        store.join_pay(&b).await.unwrap();
        // Each token names its own attempt, before any completion (a callback may come first).
        assert_eq!(store.pay_by_token("tok-A").await.unwrap(), Some(a.clone()));
        assert_eq!(store.pay_by_token("tok-B").await.unwrap(), Some(b.clone()));
        let done = store.complete_pay("M1", "O1", "D1", &b).await.unwrap();
        let want = PayRow {
            pay_order_id: Some("D1".to_owned()),
            state: RowState::Created,
            ..b.clone()
        };
        assert_eq!(done, Completion::Completed(want.clone()), "{kind}");
        // Again by the same attempt: the same; by another: refused, the row kept.
        assert_eq!(
            store.complete_pay("M1", "O1", "D1", &b).await.unwrap(),
            Completion::Completed(want.clone())
        );
        assert_eq!(
            store.complete_pay("M1", "O1", "D1", &a).await.unwrap(),
            Completion::Conflict(want.clone()),
            "{kind}"
        );
        // A completed row cannot be joined, and no clean-up removes it.
        assert!(matches!(
            store.join_pay(&pay_attempt("C", 1)).await.unwrap(),
            Joined::Taken(_)
        ));
        assert_eq!(
            store.abandon_pay("M1", "O1", "B").await.unwrap(),
            Abandoned::Kept
        );
        assert_eq!(store.pay_by_order_id("M1", "D1").await.unwrap(), Some(want));

        // A completion that finds no row writes it again from the attempt's fields.
        let lost = PayRow {
            mch_order_no: "O2".to_owned(),
            token: Some("tok-L".to_owned()),
            ..pay_attempt("L", 700)
        };
        let repaired = store.complete_pay("M1", "O2", "D2", &lost).await.unwrap();
        let want = PayRow {
            pay_order_id: Some("D2".to_owned()),
            state: RowState::Created,
            ..lost
        };
        assert_eq!(repaired, Completion::Repaired(want.clone()), "{kind}");
        assert_eq!(store.pay_by_token("tok-L").await.unwrap(), Some(want));
    }
}

#[tokio::test]
async fn a_refunds_status_is_never_lowered_and_its_attempt_is_kept() {
    for (store, _db) in both_backends().await {
        let kind = store.kind();
        let (a, b) = (refund_attempt("A", 100), refund_attempt("B", 300));
        store.insert_refund(&a).await.unwrap();
        store.join_refund(&b).await.unwrap();
        let settle = |attempt: Option<RefundRow>, status| RefundSettlement {
            mch_no: "M1".to_owned(),
            mch_refund_no: "R1".to_owned(),
            attempt,
            refund_order_id: Some("DR1".to_owned()),
            pay_amount_fen: Some(1000),
            status: Some(status),
        };
        let done = store
            .settle_refund(settle(Some(b.clone()), RefundOrderStatus::Fail))
            .await
            .unwrap()
            .row()
            .unwrap();
        assert_eq!(
            (
                done.state,
                done.status,
                done.refund_amount_fen,
                done.pay_amount_fen
            ),
            (
                RowState::Created,
                Some(RefundOrderStatus::Fail),
                300,
                Some(1000)
            ),
            "{kind}"
        );
        assert_eq!(done.notify_url.as_deref(), Some("https://m.example/B"));
        // A stale "in progress" changes nothing; success is higher; fail after it is stale.
        for (status, want) in [
            (RefundOrderStatus::Progress, RefundOrderStatus::Fail),
            (RefundOrderStatus::Close, RefundOrderStatus::Fail),
            (RefundOrderStatus::Success, RefundOrderStatus::Success),
            (RefundOrderStatus::Fail, RefundOrderStatus::Success),
        ] {
            let now = store.settle_refund(settle(None, status)).await.unwrap();
            assert!(
                matches!(&now, Completion::Completed(r) if r.status == Some(want)),
                "{kind} {now:?}"
            );
        }
        // The token of each attempt still finds its own fields, with the refund's state.
        let by_a = store.refund_by_token("rtok-A").await.unwrap().unwrap();
        assert_eq!(
            (by_a.refund_amount_fen, by_a.state),
            (100, RowState::Created)
        );
        // No row: written again from the attempt, or missing without one.
        let lost = RefundRow {
            mch_refund_no: "R9".to_owned(),
            token: Some("rtok-L".to_owned()),
            ..refund_attempt("L", 50)
        };
        let mut again = settle(Some(lost), RefundOrderStatus::Success);
        again.mch_refund_no = "R9".to_owned();
        assert!(matches!(
            store.settle_refund(again).await.unwrap(),
            Completion::Repaired(r) if r.refund_amount_fen == 50 && r.status == Some(RefundOrderStatus::Success)
        ));
        let mut missing = settle(None, RefundOrderStatus::Success);
        missing.mch_refund_no = "R8".to_owned();
        assert_eq!(
            store.settle_refund(missing).await.unwrap(),
            Completion::Missing,
            "{kind}"
        );
    }
}

/// On PostgreSQL, a clean-up racing joins from another store never removes a joined row.
#[tokio::test]
async fn racing_joins_and_clean_ups_never_lose_a_joined_row() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (one, two) = (db.store(), db.store());
    for round in 0..20 {
        let no = format!("RACE{round}");
        let a = PayRow {
            mch_order_no: no.clone(),
            token: None,
            ..pay_attempt("A", 100)
        };
        let b = PayRow {
            mch_order_no: no.clone(),
            token: None,
            ..pay_attempt("B", 300)
        };
        one.insert_pay(&a).await.unwrap();
        let (joined, abandoned) = tokio::join!(two.join_pay(&b), one.abandon_pay("M1", &no, "A"));
        let row = one.pay_by_mch_order_no("M1", &no).await.unwrap();
        match (joined.unwrap(), abandoned.unwrap()) {
            // B joined first: the row stays, with B's fields.
            (Joined::Joined(_), Abandoned::Kept) => {
                assert_eq!(row.unwrap().attempt.as_deref(), Some("B"))
            }
            // A gave up first: B found nothing to join (and would insert).
            (Joined::Gone, Abandoned::Removed) => assert_eq!(row, None),
            other => panic!("round {round}: {other:?}"),
        }
    }
}
