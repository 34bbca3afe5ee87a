//! The SQLite backend: one `rusqlite` connection owned by a thread of its own, which runs the
//! store's calls one after another, off the async threads. One writer is all SQLite allows
//! anyway; WAL lets other processes (a `sqlite3` shell, a backup) read meanwhile, and the busy
//! timeout makes a second writer wait instead of failing.
//!
//! A thread that owns the connection, rather than tokio's blocking pool and a mutex: under load
//! the pool ran one thread per waiting call, all contending for the one connection (futex
//! wake-ups and context switches were most of a pay request's system time), while the owning
//! thread takes queued calls back to back (docs/benchmarks.md, issue 14).

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use super::rows::{Inserted, PaidBy, PayRow, RefundRow, RowState, StoreError};
use super::sql::{self, for_sqlite};
use conn::{exec, query_one, Conn, Worker};

mod conn;
mod outbox;
mod replay;

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Sqlite {
    /// The connection's thread; it ends, closing the connection, when this store is dropped.
    worker: Worker,
}

impl Sqlite {
    /// Opens (creating it and its parent directories) the file at `path`, or a private
    /// in-memory database when `path` is `None`.
    pub(crate) fn open(path: Option<&Path>) -> Result<Sqlite, StoreError> {
        let conn = match path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                let conn = Connection::open(path).map_err(|e| {
                    StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
                })?;
                // WAL survives the connection (it is a property of the file).
                let mode: String = conn
                    .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                    .map_err(unavailable)?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(StoreError::Unavailable(format!(
                        "{} refused the WAL journal (journal_mode is {mode})",
                        path.display()
                    )));
                }
                conn
            }
            None => Connection::open_in_memory().map_err(unavailable)?,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        Ok(Sqlite {
            worker: Worker::start(conn)?,
        })
    }

    /// Runs `f` on the connection, off the async threads.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.worker.call(f).await
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            // IMMEDIATE: the write lock first, so two processes opening one file migrate in turn.
            let tx = conn.immediate().map_err(unavailable)?;
            tx.execute_batch(sql::CREATE_SCHEMA_MIGRATIONS)
                .map_err(unavailable)?;
            let applied = {
                let mut stmt = tx.prepare(sql::APPLIED_VERSIONS).map_err(unavailable)?;
                let versions = stmt
                    .query_map([], |r| r.get::<_, i64>(0))
                    .map_err(unavailable)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(unavailable)?;
                versions
            };
            for (version, text) in sql::MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                let text = sql::migration_text(text, sql::Dialect::Sqlite);
                tx.execute_batch(&text).map_err(|e| {
                    StoreError::Unavailable(format!("migration {version:04} failed: {e}"))
                })?;
                tx.execute(
                    &for_sqlite(sql::RECORD_VERSION),
                    params![version, sql::now_ms()],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn insert_pay(&self, row: PayRow) -> Result<Inserted<PayRow>, StoreError> {
        self.call(move |conn| {
            let inserted = exec(
                conn,
                sql::INSERT_PAY,
                params![
                    row.mch_no,
                    row.app_id,
                    row.mch_order_no,
                    row.pay_order_id,
                    row.way_code,
                    row.currency,
                    row.client_ip,
                    row.amount_fen,
                    row.subject,
                    row.body,
                    row.ext_param,
                    row.notify_url,
                    row.return_url,
                    row.upstream,
                    row.created_at_ms,
                    row.state.as_str(),
                    row.token,
                ],
            );
            match inserted {
                Ok(_) => Ok(Inserted::New),
                Err(e) if is_unique_violation(&e) => {
                    // Read under the same lock: no other call of this store slips in between.
                    match pay_row(
                        conn,
                        sql::PAY_BY_MCH_ORDER_NO,
                        params![row.mch_no, row.mch_order_no],
                    )? {
                        Some(existing) => Ok(Inserted::Exists(existing)),
                        None => Err(taken_token_or(
                            conn,
                            sql::PAY_BY_TOKEN,
                            row.token.as_deref(),
                            "pay order vanished while its number was taken; try again",
                        )),
                    }
                }
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
    }

    pub(crate) async fn complete_pay(
        &self,
        pay_order_id: &str,
        row: PayRow,
        key: (&str, &str),
    ) -> Result<(), StoreError> {
        let id = pay_order_id.to_owned();
        let (mch_no, mch_order_no) = (key.0.to_owned(), key.1.to_owned());
        self.call(move |conn| {
            exec(
                conn,
                sql::COMPLETE_PAY,
                params![
                    mch_no,
                    mch_order_no,
                    id,
                    row.way_code,
                    row.currency,
                    row.client_ip,
                    row.amount_fen,
                    row.subject,
                    row.body,
                    row.ext_param,
                    row.notify_url,
                    row.return_url,
                    row.upstream,
                ],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn pay_by(
        &self,
        query: &'static str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<PayRow>, StoreError> {
        let (mch_no, key) = (mch_no.to_owned(), key.to_owned());
        self.call(move |conn| pay_row(conn, query, params![mch_no, key]))
            .await
    }

    pub(crate) async fn pay_by_token(&self, token: &str) -> Result<Option<PayRow>, StoreError> {
        let token = token.to_owned();
        self.call(move |conn| pay_row(conn, sql::PAY_BY_TOKEN, params![token]))
            .await
    }

    pub(crate) async fn insert_refund(
        &self,
        row: &RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        let row = row.clone();
        self.call(move |conn| insert_refund_on(conn, row)).await
    }

    /// The pay order looked up and the refund inserted in one call on the connection's thread
    /// ([`super::OrderStore::insert_refund_of`]).
    pub(crate) async fn insert_refund_of(
        &self,
        paid_by: Option<PaidBy<'_>>,
        mut row: RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        let paid_by = paid_by.map(|by| match by {
            PaidBy::OrderId(id) => (sql::PAY_BY_ORDER_ID, id.to_owned()),
            PaidBy::MchOrderNo(no) => (sql::PAY_BY_MCH_ORDER_NO, no.to_owned()),
        });
        self.call(move |conn| {
            if let Some((query, key)) = paid_by {
                let paid = pay_row(conn, query, params![row.mch_no, key])?;
                row.of_paid(paid);
            }
            insert_refund_on(conn, row)
        })
        .await
    }

    pub(crate) async fn complete_refund(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
        refund_order_id: &str,
        pay_amount_fen: Option<i64>,
    ) -> Result<(), StoreError> {
        let (a, b, c) = (
            mch_no.to_owned(),
            mch_refund_no.to_owned(),
            refund_order_id.to_owned(),
        );
        self.call(move |conn| {
            exec(conn, sql::COMPLETE_REFUND, params![a, b, c, pay_amount_fen])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn refund_by(
        &self,
        query: &'static str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        let (mch_no, key) = (mch_no.to_owned(), key.to_owned());
        self.call(move |conn| refund_row(conn, query, params![mch_no, key]))
            .await
    }

    pub(crate) async fn refund_by_token(
        &self,
        token: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        let token = token.to_owned();
        self.call(move |conn| refund_row(conn, sql::REFUND_BY_TOKEN, params![token]))
            .await
    }

    /// Runs a two-key statement that returns nothing (the removals).
    /// `statement` with a third parameter.
    pub(crate) async fn execute3(
        &self,
        statement: &'static str,
        mch_no: &str,
        key: &str,
        third: &str,
    ) -> Result<(), StoreError> {
        let (mch_no, key, third) = (mch_no.to_owned(), key.to_owned(), third.to_owned());
        self.call(move |conn| {
            exec(conn, statement, params![mch_no, key, third])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn execute(
        &self,
        statement: &'static str,
        mch_no: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        let (mch_no, key) = (mch_no.to_owned(), key.to_owned());
        self.call(move |conn| {
            exec(conn, statement, params![mch_no, key])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }
}

/// Takes `(mch_no, mch_refund_no)` for `row`, or answers the row that holds it.
fn insert_refund_on(
    conn: &mut Conn<'_>,
    row: RefundRow,
) -> Result<Inserted<RefundRow>, StoreError> {
    let inserted = exec(
        conn,
        sql::INSERT_REFUND,
        params![
            row.mch_no,
            row.app_id,
            row.mch_refund_no,
            row.refund_order_id,
            row.pay_order_id,
            row.mch_order_no,
            row.refund_amount_fen,
            row.pay_amount_fen,
            row.currency,
            row.ext_param,
            row.notify_url,
            row.created_at_ms,
            row.state.as_str(),
            row.token,
        ],
    );
    match inserted {
        Ok(_) => Ok(Inserted::New),
        Err(e) if is_unique_violation(&e) => {
            match refund_row(
                conn,
                sql::REFUND_BY_MCH_REFUND_NO,
                params![row.mch_no, row.mch_refund_no],
            )? {
                Some(existing) => Ok(Inserted::Exists(existing)),
                None => Err(taken_token_or(
                    conn,
                    sql::REFUND_BY_TOKEN,
                    row.token.as_deref(),
                    "refund vanished while its number was taken; try again",
                )),
            }
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// A key that was not the row's own number: its token is another row's (a caller's bug: tokens
/// are random), or the row went away in between.
fn taken_token_or(
    conn: &mut Conn<'_>,
    by_token: &'static str,
    token: Option<&str>,
    vanished: &str,
) -> StoreError {
    let taken = token.is_some_and(|token| {
        query_one(conn, by_token, params![token], |_| Ok(()))
            .optional()
            .is_ok_and(|found| found.is_some())
    });
    StoreError::Unavailable(if taken {
        "notification token already in use".to_owned()
    } else {
        vanished.to_owned()
    })
}

fn pay_row(
    conn: &mut Conn<'_>,
    query: &'static str,
    params: impl rusqlite::Params,
) -> Result<Option<PayRow>, StoreError> {
    let row = query_one(conn, query, params, read_pay)
        .optional()
        .map_err(read_error)?;
    row.map(|(row, state)| {
        Ok(PayRow {
            state: RowState::parse(&state)?,
            ..row
        })
    })
    .transpose()
}

fn refund_row(
    conn: &mut Conn<'_>,
    query: &'static str,
    params: impl rusqlite::Params,
) -> Result<Option<RefundRow>, StoreError> {
    let row = query_one(conn, query, params, read_refund)
        .optional()
        .map_err(read_error)?;
    row.map(|(row, state)| {
        Ok(RefundRow {
            state: RowState::parse(&state)?,
            ..row
        })
    })
    .transpose()
}

/// A pay row with its state still as text (rusqlite's row closure cannot return our error).
fn read_pay(r: &Row<'_>) -> rusqlite::Result<(PayRow, String)> {
    Ok((
        PayRow {
            mch_no: r.get(0)?,
            app_id: r.get(1)?,
            mch_order_no: r.get(2)?,
            pay_order_id: r.get(3)?,
            way_code: r.get(4)?,
            currency: r.get(5)?,
            client_ip: r.get(6)?,
            amount_fen: r.get(7)?,
            subject: r.get(8)?,
            body: r.get(9)?,
            ext_param: r.get(10)?,
            notify_url: r.get(11)?,
            return_url: r.get(12)?,
            upstream: r.get(13)?,
            created_at_ms: r.get(14)?,
            state: RowState::Pending,
            token: r.get(16)?,
        },
        r.get(15)?,
    ))
}

fn read_refund(r: &Row<'_>) -> rusqlite::Result<(RefundRow, String)> {
    Ok((
        RefundRow {
            mch_no: r.get(0)?,
            app_id: r.get(1)?,
            mch_refund_no: r.get(2)?,
            refund_order_id: r.get(3)?,
            pay_order_id: r.get(4)?,
            mch_order_no: r.get(5)?,
            refund_amount_fen: r.get(6)?,
            pay_amount_fen: r.get(7)?,
            currency: r.get(8)?,
            ext_param: r.get(9)?,
            notify_url: r.get(10)?,
            created_at_ms: r.get(11)?,
            state: RowState::Pending,
            token: r.get(13)?,
        },
        r.get(12)?,
    ))
}

/// The primary key (or a unique index) already holds this key.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                        | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                )
    )
}

/// A column that does not convert is a corrupt row; anything else, an unavailable store.
fn read_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        e => unavailable(e),
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_panics_fails_alone_and_the_connection_goes_on() {
        let store = Sqlite::open(None).unwrap();
        store.migrate().await.unwrap();
        let failed = store
            .call(|_conn| -> Result<(), StoreError> { panic!("a bug in one call") })
            .await;
        assert!(
            matches!(&failed, Err(StoreError::Unavailable(m)) if m.contains("panicked")),
            "{failed:?}"
        );
        let one: i64 = store
            .call(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get(0))
                    .map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    async fn kept(store: &Sqlite) -> usize {
        store.call(|conn| Ok(conn.kept())).await.unwrap()
    }

    /// A statement is prepared once and kept, including after a failed execution (SQLite reset
    /// it); a call that panics drops the kept statements, and the next prepares them again.
    #[tokio::test]
    async fn statements_are_prepared_once_and_survive_failures() {
        const INSERT: &str = "INSERT INTO k VALUES ($1)";
        const COUNT: &str = "SELECT count(*) FROM k WHERE v >= $1";
        let store = Sqlite::open(None).unwrap();
        store
            .call(|conn| {
                conn.execute_batch("CREATE TABLE k (v INTEGER PRIMARY KEY)")
                    .map_err(unavailable)
            })
            .await
            .unwrap();
        // The third fails (the key is taken); the fourth runs the same statement again.
        for (v, want) in [(1, Ok(1)), (2, Ok(1)), (2, Err(true)), (3, Ok(1))] {
            let inserted = store
                .call(move |conn| Ok(exec(conn, INSERT, [v]).map_err(|e| is_unique_violation(&e))))
                .await
                .unwrap();
            assert_eq!(inserted, want);
        }
        let count = store
            .call(|conn| query_one(conn, COUNT, [0], |r| r.get::<_, i64>(0)).map_err(unavailable))
            .await
            .unwrap();
        assert_eq!((count, kept(&store).await), (3, 2));
        let failed = store
            .call(|conn| -> Result<(), StoreError> {
                exec(conn, INSERT, [9]).map_err(unavailable)?;
                panic!("a bug after a statement ran")
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(kept(&store).await, 0);
        let count = store
            .call(|conn| query_one(conn, COUNT, [0], |r| r.get::<_, i64>(0)).map_err(unavailable))
            .await
            .unwrap();
        assert_eq!((count, kept(&store).await), (4, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_are_run_one_after_another_and_all_answered() {
        let store = std::sync::Arc::new(Sqlite::open(None).unwrap());
        store
            .call(|conn| {
                conn.execute_batch("CREATE TABLE n (v INTEGER)")
                    .map_err(unavailable)
            })
            .await
            .unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|v| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .call(move |conn| {
                            exec(conn, "INSERT INTO n VALUES ($1)", [v]).map_err(unavailable)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 1);
        }
        let (count, sum): (i64, i64) = store
            .call(|conn| {
                query_one(conn, "SELECT count(*), sum(v) FROM n", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(unavailable)
            })
            .await
            .unwrap();
        assert_eq!((count, sum), (64, (0..64).sum()));
    }
}
