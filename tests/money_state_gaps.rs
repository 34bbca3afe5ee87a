//! Issue 19's gaps that need a real PostgreSQL server (gap 5): a completion's repair insert
//! that meets a row of the same number inserted by another transaction meanwhile converges on
//! it, instead of failing on the unique key and leaving DaxPay's outcome unrecorded.
//!
//! The server comes from `PAYBRIDGE_TEST_POSTGRES_URL` (`export
//! PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres)`); each test creates its own database
//! and drops it afterwards. Unset: the tests print a note and pass, unless
//! `PAYBRIDGE_REQUIRE_POSTGRES` is set, when they fail.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use paybridge::config::StoreUrl;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::{Completion, OrderStore, PayRow, RefundRow, RefundSettlement, RowState};

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
                "PAYBRIDGE_TEST_POSTGRES_URL is not set but PAYBRIDGE_REQUIRE_POSTGRES is"
            );
            eprintln!("PAYBRIDGE_TEST_POSTGRES_URL not set: skipping a PostgreSQL test");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "pb_gaps_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        connect(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = StoreUrl::parse(&with_database(&admin_url, &name)).unwrap();
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                connect(&url).await.batch_execute(&sql).await.unwrap();
            });
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

fn accepted(number: &str) -> PayRow {
    PayRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: number.to_owned(),
        pay_order_id: None,
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: 300,
        subject: "s".to_owned(),
        body: "b".to_owned(),
        ext_param: None,
        notify_url: Some("https://m.example/B".to_owned()),
        return_url: None,
        upstream: "dax".to_owned(),
        created_at_ms: 1_700_000_000_000,
        state: RowState::Pending,
        token: Some("tok-b".to_owned()),
        attempt: Some("attempt-b".to_owned()),
    }
}

/// DaxPay made the order from attempt B, but B's row went away (a clean-up); while B's
/// completion writes it again, another transaction (a new request of the number, here the
/// test's own) has inserted a pending row of the same number and not committed yet. The repair
/// waits for it, then completes that row with B's fields: no unique violation, nothing lost.
#[tokio::test]
async fn a_repair_meeting_a_concurrent_insert_of_the_number_converges() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = OrderStore::open(&db.url).unwrap();
    store.ready().await.unwrap();
    let mut other = connect(db.url.expose()).await;
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO pay_orders (mch_no, app_id, mch_order_no, way_code, currency, amount_fen, \
         subject, body, upstream, created_at_ms, state, attempt) VALUES ('M1', 'app1', 'N1', \
         'ALI_QR', 'cny', 100, 's', 'b', 'dax', 1700000000500, 'pending', 'attempt-c')",
        &[],
    )
    .await
    .unwrap();
    let completing = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .complete_pay("M1", "N1", "DAX-1", accepted("N1"))
                .await
        })
    };
    lock_wait(&db).await;
    tx.commit().await.unwrap();
    let completion = completing.await.unwrap().expect("no unique violation");
    assert!(
        matches!(completion, Completion::Completed(_)),
        "{completion:?}"
    );
    let row = store
        .pay_by_mch_order_no("M1", "N1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.state,
            row.pay_order_id.as_deref(),
            row.amount_fen,
            row.attempt.as_deref()
        ),
        (RowState::Created, Some("DAX-1"), 300, Some("attempt-b"))
    );
    // B's token names its attempt: DaxPay's callback finds the order.
    let by_token = store.pay_by_token("tok-b").await.unwrap().unwrap();
    assert_eq!(by_token.pay_order_id.as_deref(), Some("DAX-1"));
}

/// Waits until a session of the database waits on a lock: the repair's insert, waiting for the
/// test's uncommitted insert of the same number.
async fn lock_wait(db: &TestDb) {
    let watcher = connect(db.url.expose()).await;
    for _ in 0..500 {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the repair never waited on the concurrent insert");
}

/// The same for a refund: its settlement's repair meets a pending row of the number inserted
/// meanwhile, waits, and settles that row with the accepted attempt's fields and status.
#[tokio::test]
async fn a_refund_repair_meeting_a_concurrent_insert_of_the_number_converges() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = OrderStore::open(&db.url).unwrap();
    store.ready().await.unwrap();
    let mut other = connect(db.url.expose()).await;
    let tx = other.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO refund_orders (mch_no, app_id, mch_refund_no, refund_amount_fen, currency, \
         created_at_ms, state, attempt) VALUES ('M1', 'app1', 'R1', 100, 'cny', 1700000000500, \
         'pending', 'attempt-c')",
        &[],
    )
    .await
    .unwrap();
    let attempt = RefundRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_refund_no: "R1".to_owned(),
        refund_order_id: None,
        pay_order_id: Some("DAX-P".to_owned()),
        mch_order_no: Some("N1".to_owned()),
        refund_amount_fen: 300,
        pay_amount_fen: Some(1000),
        currency: "cny".to_owned(),
        ext_param: Some("ext-300".to_owned()),
        notify_url: Some("https://m.example/B".to_owned()),
        created_at_ms: 1_700_000_000_000,
        state: RowState::Pending,
        token: Some("tok-rb".to_owned()),
        attempt: Some("attempt-b".to_owned()),
        status: None,
    };
    let settling = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .settle_refund(RefundSettlement {
                    mch_no: "M1".to_owned(),
                    mch_refund_no: "R1".to_owned(),
                    attempt: Some(attempt),
                    refund_order_id: Some("DAX-R1".to_owned()),
                    pay_amount_fen: None,
                    status: Some(RefundOrderStatus::Success),
                })
                .await
        })
    };
    lock_wait(&db).await;
    tx.commit().await.unwrap();
    let completion = settling.await.unwrap().expect("no unique violation");
    assert!(
        matches!(completion, Completion::Completed(_)),
        "{completion:?}"
    );
    let row = store
        .refund_by_mch_refund_no("M1", "R1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            row.state,
            row.refund_order_id.as_deref(),
            row.refund_amount_fen,
            row.status
        ),
        (
            RowState::Created,
            Some("DAX-R1"),
            300,
            Some(RefundOrderStatus::Success)
        )
    );
    let by_token = store.refund_by_token("tok-rb").await.unwrap().unwrap();
    assert_eq!(by_token.refund_order_id.as_deref(), Some("DAX-R1"));
}
