//! The connection's own thread, and the statements it keeps prepared.
//!
//! Statements are kept by their text's address (each is one of `sql.rs`'s constants), so finding
//! one is a pointer comparison. rusqlite's cache, used before, rewrote the text to `?N` and hashed
//! it twice on every call: about 7,000 instructions per statement, 4 % of a pay request (issue 14,
//! scripts/callgrind-requests --paths "pay refund").

use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use rusqlite::{Connection, PrepFlags, Row, Statement, Transaction, TransactionBehavior};

use super::super::rows::StoreError;
use super::super::sql::for_sqlite;

/// A call to run on the connection's thread.
type Job = Box<dyn FnOnce(&mut Conn<'_>) + Send>;

/// The connection, as the calls on its thread see it: the statements prepared so far beside it.
pub(crate) struct Conn<'c> {
    db: &'c Connection,
    /// At most one per statement of `sql.rs` (a few dozen): a list is quicker than a map.
    kept: Vec<(&'static str, Statement<'c>)>,
}

impl<'c> Conn<'c> {
    /// `sql` (written with PostgreSQL's `$N`), prepared on its first use and kept.
    pub(crate) fn statement(&mut self, sql: &'static str) -> rusqlite::Result<&mut Statement<'c>> {
        // Address and length: two constants with one text may both be kept, which is harmless.
        let at = match self
            .kept
            .iter()
            .position(|(text, _)| std::ptr::eq(*text, sql))
        {
            Some(at) => at,
            None => {
                let prepared = self
                    .db
                    .prepare_with_flags(&for_sqlite(sql), PrepFlags::SQLITE_PREPARE_PERSISTENT)?;
                self.kept.push((sql, prepared));
                self.kept.len() - 1
            }
        };
        Ok(&mut self.kept[at].1)
    }

    /// How many statements are kept (tests).
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept.len()
    }

    /// An IMMEDIATE transaction (the write lock first). It borrows the connection, not this, so
    /// kept statements can run in it.
    pub(crate) fn immediate(&self) -> rusqlite::Result<Transaction<'c>> {
        Transaction::new_unchecked(self.db, TransactionBehavior::Immediate)
    }
}

impl Deref for Conn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.db
    }
}

/// Runs `statement` through its kept prepared statement.
pub(crate) fn exec(
    conn: &mut Conn<'_>,
    statement: &'static str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.statement(statement)?.execute(params)
}

/// The one row `query` finds, read by `read`, through its kept prepared statement.
pub(crate) fn query_one<T>(
    conn: &mut Conn<'_>,
    query: &'static str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.statement(query)?.query_row(params, read)
}

/// The thread that owns the connection: it ends, closing the connection, when this is dropped.
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    pub(crate) fn start(db: Connection) -> Result<Worker, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("paybridge-sqlite".to_owned())
            .spawn(move || {
                let db = db;
                // Declared after `db`, so dropped first: the statements before their connection.
                let mut conn = Conn {
                    db: &db,
                    kept: Vec::new(),
                };
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store thread: {e}")))?;
        Ok(Worker { jobs })
    }

    /// Runs `f` on the connection's thread.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A panic mid-call rolled its transaction back when it unwound: the connection is
            // still sound, and the thread goes on with the next call. Its statements are
            // prepared again, in case one was left mid-step.
            let result = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|_| {
                conn.kept.clear();
                Err(StoreError::Unavailable(
                    "store task failed: it panicked".to_owned(),
                ))
            });
            // The caller may have gone (its request was dropped): the work is done regardless.
            let _ = answer.send(result);
        });
        let gone = || StoreError::Unavailable("the store thread has stopped".to_owned());
        self.jobs.send(job).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}
