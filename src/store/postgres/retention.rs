//! Pruning on PostgreSQL (`crate::store::retention` says what is pruned). Each statement is its
//! own short transaction; autovacuum reuses the space.

use super::Postgres;
use crate::store::rows::StoreError;

impl Postgres {
    pub(crate) async fn prune(
        &self,
        statement: &'static str,
        cutoff_ms: i64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        self.execute_with(statement, &[&cutoff_ms, &batch]).await
    }

    /// [`Self::prune`] with the paid orders' cut-off (`$3`).
    pub(crate) async fn prune_paid(
        &self,
        statement: &'static str,
        cutoff_ms: i64,
        batch: i64,
        paid_ms: i64,
    ) -> Result<u64, StoreError> {
        self.execute_with(statement, &[&cutoff_ms, &batch, &paid_ms])
            .await
    }
}
