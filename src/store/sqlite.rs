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

use super::rows::{parse_refund_status, PayRow, RefundRow, RowState, StoreError};
use super::sql::{self, for_sqlite};
use conn::{query_one, Conn, Worker};

mod attempts;
mod conn;
mod dialect_orders;
mod landing;
mod outbox;
mod replay;
mod retention;
mod settlement;

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
        // An attempt's token first; a row written before attempts existed keeps its own.
        self.call(
            move |conn| match pay_row(conn, sql::PAY_ATTEMPT_BY_TOKEN, params![token])? {
                Some(row) => Ok(Some(row)),
                None => pay_row(conn, sql::PAY_BY_TOKEN, params![token]),
            },
        )
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
        self.call(move |conn| {
            match refund_row(conn, sql::REFUND_ATTEMPT_BY_TOKEN, params![token])? {
                Some(row) => Ok(Some(row)),
                None => refund_row(conn, sql::REFUND_BY_TOKEN, params![token]),
            }
        })
        .await
    }
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
    row.map(|(row, state, status)| {
        Ok(RefundRow {
            state: RowState::parse(&state)?,
            status: parse_refund_status(status.as_deref())?,
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
            attempt: r.get(17)?,
        },
        r.get(15)?,
    ))
}

/// A refund row with its state and status still as text.
fn read_refund(r: &Row<'_>) -> rusqlite::Result<(RefundRow, String, Option<String>)> {
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
            attempt: r.get(14)?,
            status: None,
        },
        r.get(12)?,
        r.get(15)?,
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
    use super::conn::exec;
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
