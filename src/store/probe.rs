//! Is the order store usable? Asked two ways:
//!
//! * [`diagnose`], for `paybridge check`: connects as `serve` would, then dry-runs what `serve`
//!   will need (the migrations in a transaction that is rolled back, the rights on every table),
//!   and says what is wrong in one line each, in the server's own words (`28P01 password
//!   authentication failed for user "pb"`, `3D000 database "x" does not exist`, `42501
//!   permission denied for schema public`) with what to do about it. Nothing is left behind.
//! * [`OrderStore::probe`], for `/readyz`: the migrations applied and a read answered through the
//!   store's own connections, cached by [`Readiness`] so that readiness checks cannot load the
//!   database.
//!
//! Why: a PostgreSQL store connects lazily, so a wrong password or a missing database used to
//! show up only as every pay and refund refused while the instance looked healthy.

mod diagnosis;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use diagnosis::Diagnosis;

use super::rows::StoreError;
use super::OrderStore;
use crate::config::{StoreTarget, StoreUrl};

/// How long a readiness answer is reused: readiness checks every second from several load
/// balancers cost the database one query per this period.
pub const READINESS_REUSE: Duration = Duration::from_secs(2);
/// A readiness probe that takes longer than this is a failure (the store is too slow to serve).
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);
/// A bound on the whole of `paybridge check`'s diagnosis of one store.
const DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(20);
/// Looked up by the readiness probe: no order has it (tokens are random hex).
const PROBE_TOKEN: &str = "readiness-probe";

/// Connects to the store `url` names and checks that `serve` could use it. Never writes
/// anything that stays: migrations are run in a transaction that is rolled back, a SQLite file
/// that does not exist is not created.
pub async fn diagnose(url: &StoreUrl) -> Diagnosis {
    let mut found = Diagnosis::default();
    match url.target() {
        StoreTarget::SqliteMemory => {
            found.ok("in memory: nothing is kept across a restart, nor shared (tests only)");
        }
        StoreTarget::SqliteFile(path) => {
            let path = path.clone();
            match tokio::task::spawn_blocking(move || sqlite::diagnose(&path)).await {
                Ok(diagnosis) => found = diagnosis,
                Err(e) => found.problem(format!("the SQLite check stopped: {e}")),
            }
        }
        StoreTarget::Postgres => {
            let within = tokio::time::timeout(DIAGNOSIS_TIMEOUT, postgres::diagnose(url)).await;
            match within {
                Ok(diagnosis) => found = diagnosis,
                Err(_) => found.problem(format!(
                    "PostgreSQL did not finish answering within {} s (a lock held by another \
                     session, or a server too slow to serve)",
                    DIAGNOSIS_TIMEOUT.as_secs()
                )),
            }
        }
    }
    found
}

impl OrderStore {
    /// The readiness probe: the migrations applied (memoised after the first success) and one
    /// indexed read answered, through the same connections requests use. Bounded in time.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let read = async {
            self.ready().await?;
            self.pay_by_token(PROBE_TOKEN).await.map(drop)
        };
        tokio::time::timeout(READINESS_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "no answer within {} s",
                    READINESS_TIMEOUT.as_secs()
                )))
            })
    }
}

/// The order store's readiness, probed at most once per [`READINESS_REUSE`] however many ask,
/// one probe at a time (callers during a probe wait for its answer). A change between usable
/// and unusable is logged once, with the reason.
#[derive(Clone, Default)]
pub struct Readiness {
    last: Arc<tokio::sync::Mutex<Option<Probed>>>,
}

struct Probed {
    at: Instant,
    answer: Result<(), String>,
}

impl Readiness {
    /// `Ok` when `store` is usable, else why not (no password in it).
    pub async fn check(&self, store: Option<&OrderStore>) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some(probed) = last.as_ref().filter(|p| p.at.elapsed() < READINESS_REUSE) {
            return probed.answer.clone();
        }
        let answer = match store {
            None => Err("the order store could not be opened (see the log at start-up)".to_owned()),
            Some(store) => store
                .probe()
                .await
                .map_err(|e| crate::secret::redact_userinfo(&e.to_string())),
        };
        let was = last.as_ref().map(|p| p.answer.is_ok());
        match (&answer, was) {
            (Err(reason), Some(true) | None) => tracing::error!(
                reason = %reason,
                "the order store cannot be used: not ready; pay and refund requests are refused"
            ),
            (Ok(()), Some(false)) => tracing::info!("the order store is usable again: ready"),
            _ => {}
        }
        *last = Some(Probed {
            at: Instant::now(),
            answer: answer.clone(),
        });
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::diagnosis::store_tables;
    use super::*;

    #[test]
    fn the_tables_are_read_from_the_migrations() {
        let tables = store_tables();
        for table in [
            "schema_migrations",
            "pay_orders",
            "refund_orders",
            "notifications",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table}: {tables:?}");
        }
        assert!(tables.iter().all(|t| !t.contains('(')), "{tables:?}");
    }

    #[tokio::test]
    async fn a_memory_store_is_ready_and_its_answer_is_reused() {
        let store = OrderStore::open(&StoreUrl::parse("sqlite::memory:").unwrap()).unwrap();
        let readiness = Readiness::default();
        assert_eq!(readiness.check(Some(&store)).await, Ok(()));
        assert_eq!(readiness.check(Some(&store)).await, Ok(()));
        let missing = Readiness::default().check(None).await.unwrap_err();
        assert!(missing.contains("could not be opened"), "{missing}");
    }

    #[tokio::test]
    async fn a_sqlite_file_that_cannot_be_created_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-directory");
        std::fs::write(&blocker, b"x").unwrap();
        let url = format!("sqlite://{}/orders.sqlite", blocker.display());
        let found = diagnose(&StoreUrl::parse(&url).unwrap()).await;
        assert_eq!(found.problems.len(), 1, "{found:?}");
        assert!(found.problems[0].contains("not a directory"), "{found:?}");
        assert!(!blocker.with_file_name("orders.sqlite").exists());
    }

    #[tokio::test]
    async fn a_sqlite_file_is_checked_without_being_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").join("orders.sqlite");
        let url = StoreUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        // Not there yet: created at first use, not by the check.
        let found = diagnose(&url).await;
        assert!(found.problems.is_empty(), "{found:?}");
        assert!(!path.exists() && !path.parent().unwrap().exists());
        // There, migrated by a store: up to date.
        OrderStore::open(&url).unwrap().ready().await.unwrap();
        let found = diagnose(&url).await;
        assert!(found.problems.is_empty(), "{found:?}");
        assert!(
            found.verified.iter().any(|l| l.contains("up to date")),
            "{found:?}"
        );
        // Not a database: said so.
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let found =
            diagnose(&StoreUrl::parse(&format!("sqlite://{}", junk.display())).unwrap()).await;
        assert_eq!(found.problems.len(), 1, "{found:?}");
        assert!(found.problems[0].contains("not a database"), "{found:?}");
    }
}
