//! Pruning on SQLite (`crate::store::retention` says what is pruned).

use rusqlite::params;

use super::conn::exec;
use super::{read_error, unavailable, Sqlite};
use crate::store::rows::StoreError;

/// Pages given back per reclaim: a few MiB at a time, so a reclaim never holds the file long.
const RECLAIM_PAGES: i64 = 2_000;

impl Sqlite {
    pub(crate) async fn prune(
        &self,
        statement: &'static str,
        cutoff_ms: i64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        self.call(move |conn| {
            exec(conn, statement, params![cutoff_ms, batch])
                .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
                .map_err(unavailable)
        })
        .await
    }

    /// [`Self::prune`] with the paid orders' cut-off (`$3`).
    pub(crate) async fn prune_paid(
        &self,
        statement: &'static str,
        cutoff_ms: i64,
        batch: i64,
        paid_ms: i64,
    ) -> Result<u64, StoreError> {
        self.call(move |conn| {
            exec(conn, statement, params![cutoff_ms, batch, paid_ms])
                .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn reclaim_space(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            // 2 = INCREMENTAL. A database created without it needs one VACUUM to switch
            // (SQLite's rule): the file is rewritten once, the first time anything was pruned.
            let mode: i64 = conn
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(read_error)?;
            if mode != 2 {
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                    .map_err(unavailable)?;
            }
            conn.query_row(
                &format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"),
                [],
                |_| Ok(()),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(()),
                e => Err(e),
            })
            .map_err(unavailable)
        })
        .await
    }
}
