//! The order store against a real PostgreSQL server: the behaviours the SQLite unit tests
//! (src/store/tests.rs) check, plus two stores on one database racing for the same number.
//!
//! The server comes from `PAYBRIDGE_TEST_POSTGRES_URL` (`export
//! PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres)`); each test creates its own database
//! through it and drops it afterwards. Unset: the tests print a note and pass, unless
//! `PAYBRIDGE_REQUIRE_POSTGRES` is set (CI), when they fail.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use paybridge::config::StoreUrl;
use paybridge::store::{Inserted, OrderStore, PayRow, RefundRow, RowState, StoreError};

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

    store.remove_pending_pay("M1", "O1").await.unwrap();
    store.remove_pending_pay("M2", "O1").await.unwrap();
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
        .complete_refund("M1", "R1", "DXR1", Some(100))
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
    store.remove_pending_refund("M1", "R1").await.unwrap();
    store.remove_pending_refund("M2", "R1").await.unwrap();
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
    // Each migration recorded once (0001 orders, 0002 tokens and the outbox).
    assert_eq!(db.scalar("SELECT count(*) FROM schema_migrations").await, 2);
    assert_eq!(
        db.scalar("SELECT count(DISTINCT version) FROM schema_migrations")
            .await,
        2
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
