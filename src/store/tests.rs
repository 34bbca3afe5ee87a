//! The store's behaviour on SQLite, in memory and in a file. tests/store.rs runs the same against
//! a real PostgreSQL server.

use super::*;
use crate::config::StoreUrl;

mod outbox;

fn memory() -> OrderStore {
    OrderStore::open(&StoreUrl::parse("sqlite::memory:").unwrap()).unwrap()
}

fn pay(mch_no: &str, mch_order_no: &str) -> PayRow {
    PayRow {
        mch_no: mch_no.to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: mch_order_no.to_owned(),
        pay_order_id: None,
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: Some("10.0.0.1".to_owned()),
        amount_fen: 1234,
        subject: "标题".to_owned(),
        body: "描述".to_owned(),
        ext_param: None,
        notify_url: Some("https://m.example/notify".to_owned()),
        return_url: None,
        upstream: "daxpay".to_owned(),
        created_at_ms: 1_700_000_000_000,
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
        pay_order_id: Some("P1".to_owned()),
        mch_order_no: None,
        refund_amount_fen: 100,
        pay_amount_fen: None,
        currency: "cny".to_owned(),
        ext_param: Some("x".to_owned()),
        notify_url: None,
        created_at_ms: 1_700_000_000_000,
        state: RowState::Pending,
        token: None,
        attempt: None,
        status: None,
    }
}

#[tokio::test]
async fn a_taken_order_number_answers_the_row_already_there() {
    let store = memory();
    assert_eq!(store.kind(), "sqlite");
    let first = pay("M1", "O1");
    assert_eq!(store.insert_pay(&first).await.unwrap(), Inserted::New);
    let mut second = pay("M1", "O1");
    second.amount_fen = 1;
    assert_eq!(
        store.insert_pay(&second).await.unwrap(),
        Inserted::Exists(first.clone())
    );
    // Unique per merchant: another merchant may use the same number.
    assert_eq!(
        store.insert_pay(&pay("M2", "O1")).await.unwrap(),
        Inserted::New
    );
    assert_eq!(
        store.pay_by_mch_order_no("M1", "O1").await.unwrap(),
        Some(first)
    );
    assert_eq!(store.pay_by_mch_order_no("M1", "O2").await.unwrap(), None);
}

#[tokio::test]
async fn completing_records_daxpays_number_and_the_final_fields() {
    let store = memory();
    store.insert_pay(&pay("M1", "O1")).await.unwrap();
    let mut done = pay("M1", "O1");
    done.way_code = "WX_BAR".to_owned();
    done.amount_fen = 99;
    done.ext_param = Some("e".to_owned());
    done.client_ip = None;
    done.upstream = "daxpay-b".to_owned();
    store
        .complete_pay("M1", "O1", "DAXP2024", &done)
        .await
        .unwrap();
    let want = PayRow {
        pay_order_id: Some("DAXP2024".to_owned()),
        state: RowState::Created,
        ..done
    };
    assert_eq!(
        store.pay_by_mch_order_no("M1", "O1").await.unwrap(),
        Some(want.clone())
    );
    assert_eq!(
        store.pay_by_order_id("M1", "DAXP2024").await.unwrap(),
        Some(want)
    );
    // DaxPay's number is looked up within the merchant's orders only.
    assert_eq!(store.pay_by_order_id("M2", "DAXP2024").await.unwrap(), None);
}

#[tokio::test]
async fn only_a_pending_row_is_removed() {
    let store = memory();
    store.insert_pay(&pay("M1", "P")).await.unwrap();
    store.insert_pay(&pay("M1", "C")).await.unwrap();
    store
        .complete_pay("M1", "C", "D1", &pay("M1", "C"))
        .await
        .unwrap();
    store.abandon_pay("M1", "P", "a").await.unwrap();
    store.abandon_pay("M1", "C", "a").await.unwrap();
    store.abandon_pay("M1", "absent", "a").await.unwrap();
    assert_eq!(store.pay_by_mch_order_no("M1", "P").await.unwrap(), None);
    assert!(store
        .pay_by_mch_order_no("M1", "C")
        .await
        .unwrap()
        .is_some());
    // The freed number can be taken again.
    assert_eq!(
        store.insert_pay(&pay("M1", "P")).await.unwrap(),
        Inserted::New
    );
}

#[tokio::test]
async fn refund_numbers_are_unique_per_merchant() {
    let store = memory();
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
            refund_order_id: Some("DAXR1".to_owned()),
            pay_amount_fen: Some(1234),
            status: None,
        })
        .await
        .unwrap();
    let done = store
        .refund_by_order_id("M1", "DAXR1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, RowState::Created);
    assert_eq!(done.refund_order_id.as_deref(), Some("DAXR1"));
    assert_eq!(done.pay_amount_fen, Some(1234));
    assert_eq!(store.refund_by_order_id("M2", "DAXR1").await.unwrap(), None);
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

/// The pay order's lookup and the refund's insert in one call: the row takes what the store
/// keeps of the order it names (by DaxPay's number or the merchant's, within the merchant), and
/// only what it was given when the store has no such order.
#[tokio::test]
async fn a_refund_takes_what_the_store_keeps_of_its_pay_order() {
    let store = memory();
    store.insert_pay(pay("M1", "O1")).await.unwrap();
    store
        .complete_pay("M1", "O1", "D1", pay("M1", "O1"))
        .await
        .unwrap();
    let given = |no: &str| RefundRow {
        pay_order_id: None,
        ..refund("M1", no)
    };
    for (no, by) in [
        ("R1", PaidBy::MchOrderNo("O1")),
        ("R2", PaidBy::OrderId("D1")),
    ] {
        assert_eq!(
            store.insert_refund_of(Some(by), given(no)).await.unwrap(),
            Inserted::New
        );
        assert_eq!(
            store.refund_by_mch_refund_no("M1", no).await.unwrap(),
            Some(RefundRow {
                pay_order_id: Some("D1".to_owned()),
                mch_order_no: Some("O1".to_owned()),
                pay_amount_fen: Some(1234),
                ..given(no)
            })
        );
    }
    // Unknown here (or another merchant's): the row as given.
    for (no, by) in [
        ("R3", Some(PaidBy::OrderId("D9"))),
        ("R4", None),
        ("R5", Some(PaidBy::MchOrderNo("O9"))),
    ] {
        store.insert_refund_of(by, refund("M1", no)).await.unwrap();
        assert_eq!(
            store.refund_by_mch_refund_no("M1", no).await.unwrap(),
            Some(refund("M1", no))
        );
    }
    store
        .insert_refund_of(Some(PaidBy::MchOrderNo("O1")), refund("M2", "R1"))
        .await
        .unwrap();
    assert_eq!(
        store.refund_by_mch_refund_no("M2", "R1").await.unwrap(),
        Some(refund("M2", "R1"))
    );
    // A taken number answers the row already there, as insert_refund does.
    assert!(matches!(
        store.insert_refund_of(Some(PaidBy::OrderId("D1")), given("R1")).await,
        Ok(Inserted::Exists(row)) if row.pay_amount_fen == Some(1234)
    ));
}

#[tokio::test]
async fn a_file_store_survives_a_restart_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/paybridge.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.ready().await.unwrap();
    store.ready().await.unwrap();
    store.insert_pay(&pay("M1", "O1")).await.unwrap();
    store
        .complete_pay("M1", "O1", "D1", &pay("M1", "O1"))
        .await
        .unwrap();
    assert!(path.exists());
    drop(store);

    let reopened = OrderStore::open(&url).unwrap();
    let row = reopened.pay_by_order_id("M1", "D1").await.unwrap().unwrap();
    assert_eq!(row.state, RowState::Created);
    assert_eq!(row.mch_order_no, "O1");
    // Two handles on one file (two processes, say) each migrate: the second finds nothing to do.
    let other = OrderStore::open(&url).unwrap();
    other.ready().await.unwrap();
    drop((reopened, other));

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<i64> = sql::MIGRATIONS.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, want);
}

#[tokio::test]
async fn an_unreadable_row_is_corrupt_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = OrderStore::open(&url).unwrap();
    store.insert_pay(&pay("M1", "O1")).await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE pay_orders SET state = 'weird'", [])
        .unwrap();
    assert!(matches!(
        store.pay_by_mch_order_no("M1", "O1").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[test]
fn an_unopenable_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let url = StoreUrl::parse(&format!("sqlite://{}/s.sqlite", blocker.display())).unwrap();
    assert!(matches!(
        OrderStore::open(&url),
        Err(StoreError::Unavailable(_))
    ));
}

#[test]
fn every_statement_reads_the_same_on_both_backends() {
    // The SQLite spelling only turns `$N` into `?N`: no statement may hold another `$`.
    for statement in [
        sql::INSERT_PAY,
        sql::COMPLETE_PAY,
        sql::PAY_BY_ORDER_ID,
        sql::INSERT_REFUND,
        sql::COMPLETE_REFUND,
        sql::REFUND_BY_ORDER_ID,
        sql::SWITCH_PAY,
        sql::SWITCH_REFUND,
        sql::REFUND_STATUS,
        sql::REFUND_ATTEMPT_BY_TOKEN,
    ] {
        let sqlite = sql::for_sqlite(statement);
        assert_eq!(sqlite.matches('?').count(), statement.matches('$').count());
    }
}
