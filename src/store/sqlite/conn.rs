//! The connection's own thread, and the statements it keeps prepared.
//!
//! **Group commit.** On a file, every commit is a WAL append and its `fsync` (SQLite's default
//! `synchronous = FULL` in WAL mode, kept: an acknowledged order must survive a power cut, not
//! only a crash), and one `fsync` costs more than all of a pay request's statements. So when
//! several calls are waiting, the thread runs them in one transaction: each call's own
//! transaction becomes a savepoint of it (released, or rolled back alone when the call fails or
//! panics), and one commit makes them all durable. No call is answered before that commit; if
//! it fails, every call of the group is answered with the store's failure (none of their writes
//! happened), as a lone call's failed commit is.
//!
//! Statements are kept by their text's address (each is one of `sql.rs`'s constants), so finding
//! one is a pointer comparison. rusqlite's cache, used before, rewrote the text to `?N` and hashed
//! it twice on every call: about 7,000 instructions per statement, 4 % of a pay request (issue 14,
//! scripts/callgrind-requests --paths "pay refund").

use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use rusqlite::{Connection, PrepFlags, Row, Statement};

use super::super::rows::StoreError;
use super::super::sql::for_sqlite;

/// A call to run on the connection's thread.
type Job = Box<dyn FnOnce(&mut Conn<'_>) + Send>;

/// A grouped call's answer, sent once the group's commit is known (its error's text if it
/// failed).
type Reply = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// At most this many calls share one commit (a bound on how long the first one waits).
const MAX_GROUP: usize = 64;

/// The connection, as the calls on its thread see it: the statements prepared so far beside it.
pub(crate) struct Conn<'c> {
    db: &'c Connection,
    /// At most one per statement of `sql.rs` (a few dozen): a list is quicker than a map.
    kept: Vec<(&'static str, Statement<'c>)>,
    /// Inside a group's transaction: a call's transaction is a savepoint of it.
    grouped: bool,
    /// The answers of the group's calls, sent after its commit.
    deferred: Vec<Reply>,
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

    /// An IMMEDIATE transaction (the write lock first), or within a group a savepoint of the
    /// group's transaction. It borrows the connection, not this, so kept statements can run in
    /// it.
    pub(crate) fn immediate(&self) -> rusqlite::Result<Tx<'c>> {
        let savepoint = self.grouped;
        self.db.execute_batch(if savepoint {
            "SAVEPOINT paybridge_call"
        } else {
            "BEGIN IMMEDIATE"
        })?;
        Ok(Tx {
            db: self.db,
            savepoint,
            open: true,
        })
    }
}

/// A call's transaction ([`Conn::immediate`]): committed by [`Tx::commit`], rolled back when
/// dropped without it (an error or a panic on the way).
pub(crate) struct Tx<'c> {
    db: &'c Connection,
    savepoint: bool,
    open: bool,
}

impl Tx<'_> {
    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        self.open = false;
        let done = self.db.execute_batch(if self.savepoint {
            "RELEASE paybridge_call"
        } else {
            "COMMIT"
        });
        if done.is_err() {
            self.roll_back();
        }
        done
    }

    fn roll_back(&self) {
        let _ = self.db.execute_batch(if self.savepoint {
            "ROLLBACK TO paybridge_call; RELEASE paybridge_call"
        } else {
            "ROLLBACK"
        });
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            self.roll_back();
        }
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.db
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

/// Runs the waiting calls `first` and after in one transaction and one commit (the module's
/// doc); when the transaction cannot begin (another process holds the write lock past the busy
/// timeout), each runs on its own, as it would have.
fn run_group(conn: &mut Conn<'_>, queue: &mpsc::Receiver<Job>, first: [Job; 2]) {
    if conn.db.execute_batch("BEGIN IMMEDIATE").is_err() {
        first.into_iter().for_each(|job| job(conn));
        return;
    }
    conn.grouped = true;
    let mut ran = 0;
    for job in first
        .into_iter()
        .chain(std::iter::from_fn(|| queue.try_recv().ok()))
    {
        job(conn);
        ran += 1;
        if ran == MAX_GROUP {
            break;
        }
    }
    conn.grouped = false;
    let committed = conn.db.execute_batch("COMMIT").map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = conn.db.execute_batch("ROLLBACK");
    }
    for reply in conn.deferred.drain(..) {
        reply(committed.as_ref().map(|_| ()).map_err(String::as_str));
    }
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
                    grouped: false,
                    deferred: Vec::new(),
                };
                while let Ok(first) = queue.recv() {
                    match queue.try_recv() {
                        // The usual case below saturation: one call, its own commit.
                        Err(_) => first(&mut conn),
                        Ok(second) => run_group(&mut conn, &queue, [first, second]),
                    }
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
            if !conn.grouped {
                let _ = answer.send(result);
                return;
            }
            conn.deferred
                .push(Box::new(move |committed: Result<(), &str>| {
                    let result = match committed {
                        Ok(()) => result,
                        // Its own failure stands; its success did not happen.
                        Err(why) => result.and_then(|_| {
                            Err(StoreError::Unavailable(format!(
                                "the store's commit failed: {why}"
                            )))
                        }),
                    };
                    let _ = answer.send(result);
                }));
        });
        let gone = || StoreError::Unavailable("the store thread has stopped".to_owned());
        self.jobs.send(job).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker on a file (where a commit is an `fsync`), with a table `t` whose `parent`
    /// column is a foreign key checked only at commit.
    fn worker_on_file() -> (tempfile::TempDir, std::path::PathBuf, Worker) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.sqlite");
        let db = Connection::open(&path).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
             CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE t (n INTEGER PRIMARY KEY,
                 parent INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        (dir, path, Worker::start(db).unwrap())
    }

    /// Releases the holder once every other branch of the `join!` it is last in was polled once
    /// (each call is queued on its first poll).
    async fn release_after_queued(release: mpsc::Sender<()>) {
        tokio::task::yield_now().await;
        release.send(()).unwrap();
    }

    /// A call that holds the thread until `release` is sent: the calls made meanwhile queue
    /// (whether it runs alone or heads their group depends on when the thread looks).
    fn holder(
        worker: &Worker,
    ) -> (
        mpsc::Sender<()>,
        impl Future<Output = Result<bool, StoreError>> + '_,
    ) {
        let (release, held) = mpsc::channel::<()>();
        let call = worker.call(move |conn| {
            let _ = held.recv();
            Ok(conn.grouped)
        });
        (release, call)
    }

    /// Inserts `n` (with `parent`) in a call's own transaction; whether it ran in a group.
    fn insert(
        worker: &Worker,
        n: i64,
        parent: Option<i64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + '_ {
        worker.call(move |conn| {
            let tx = conn
                .immediate()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            tx.execute(
                "INSERT INTO t (n, parent) VALUES (?1, ?2)",
                rusqlite::params![n, parent],
            )
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            tx.commit()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(conn.grouped)
        })
    }

    fn rows(path: &std::path::Path) -> Vec<i64> {
        // Another connection: what is committed, not what the worker's transaction sees.
        let db = Connection::open(path).unwrap();
        let mut stmt = db.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    use std::future::Future;

    #[tokio::test]
    async fn calls_that_wait_together_share_one_commit_and_each_is_answered_after_it() {
        let (_dir, path, worker) = worker_on_file();
        let (release, held) = holder(&worker);
        let released = release_after_queued(release);
        // join! polls each call once in order before the release: all four are queued behind it.
        let (_, a, b, c, d, ()) = tokio::join!(
            held,
            insert(&worker, 1, None),
            insert(&worker, 2, None),
            insert(&worker, 3, None),
            insert(&worker, 4, None),
            released
        );
        for grouped in [a, b, c, d] {
            assert!(grouped.unwrap(), "the waiting calls ran in one group");
        }
        assert_eq!(rows(&path), vec![1, 2, 3, 4]);
        // Alone again afterwards.
        assert!(!insert(&worker, 5, None).await.unwrap());
        assert_eq!(rows(&path), vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_call_that_fails_or_panics_in_a_group_is_rolled_back_alone() {
        let (_dir, path, worker) = worker_on_file();
        let (release, held) = holder(&worker);
        let released = release_after_queued(release);
        let fails = worker.call(|conn| -> Result<(), StoreError> {
            let tx = conn.immediate().unwrap();
            tx.execute("INSERT INTO t (n) VALUES (20)", []).unwrap();
            Err(StoreError::Unavailable(
                "refused after its insert".to_owned(),
            ))
        });
        let panics = worker.call(|conn| -> Result<(), StoreError> {
            let tx = conn.immediate().unwrap();
            tx.execute("INSERT INTO t (n) VALUES (30)", []).unwrap();
            panic!("a bug in a store call");
        });
        let (_, a, failed, panicked, d, ()) = tokio::join!(
            held,
            insert(&worker, 10, None),
            fails,
            panics,
            insert(&worker, 40, None),
            released
        );
        assert!(a.unwrap() && d.unwrap(), "both ran in the group");
        assert!(failed.is_err() && panicked.is_err());
        assert_eq!(rows(&path), vec![10, 40]);
    }

    #[tokio::test]
    async fn a_group_whose_commit_fails_answers_every_call_with_the_failure() {
        let (_dir, path, worker) = worker_on_file();
        let (release, held) = holder(&worker);
        let released = release_after_queued(release);
        // Parent 99 does not exist: the deferred foreign key fails the group's COMMIT, after
        // every savepoint was released.
        let (_, innocent, culprit, ()) = tokio::join!(
            held,
            insert(&worker, 1, None),
            insert(&worker, 2, Some(99)),
            released
        );
        for answer in [innocent, culprit] {
            let e = answer.unwrap_err().to_string();
            assert!(e.contains("commit failed"), "{e}");
        }
        assert!(rows(&path).is_empty(), "nothing of the group was written");
        // The connection goes on.
        assert!(!insert(&worker, 3, None).await.unwrap());
        assert_eq!(rows(&path), vec![3]);
    }
}
