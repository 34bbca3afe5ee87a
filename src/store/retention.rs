//! Pruning what is finished: delivered notifications, final refunds and pay orders, and their
//! ledger entries, older than a cut-off, a batch at a time (`crate::settle::retention` runs it).
//!
//! Nothing open or undelivered is ever pruned:
//! - a notification only once `delivered` (a `failed` one stays for the operator);
//! - a refund only once its settlement entry is `final` or `gone`, and no notification of it is
//!   still undelivered;
//! - a pay order on the same terms, and only once none of its refunds is left in the store
//!   (refunds go first, so a pay order outlives them);
//! - a ledger entry only once its row is gone (else the sweep would enrol the row again).
//!
//! On SQLite the file is then shrunk by incremental vacuum (`retention` turns it on once,
//! rewriting the file, the first time it runs on a database created without it).

use super::retention_rows::Pruned;
use super::rows::StoreError;
use super::OrderStore;

pub(crate) mod sql {
    // Each: created before $1, at most $2 of them.
    pub(crate) const PRUNE_NOTIFICATIONS: &str = "DELETE FROM notifications WHERE id IN \
         (SELECT id FROM notifications WHERE status = 'delivered' AND created_at_ms < $1 \
         ORDER BY id LIMIT $2)";
    pub(crate) const PRUNE_REFUNDS: &str = "DELETE FROM refund_orders \
         WHERE (mch_no, mch_refund_no) IN (SELECT r.mch_no, r.mch_refund_no FROM refund_orders r \
         JOIN settlements s ON s.kind = 'refund' AND s.mch_no = r.mch_no \
         AND s.number = r.mch_refund_no \
         WHERE s.status IN ('final', 'gone') AND r.created_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.kind = 'refund' \
         AND n.mch_no = r.mch_no AND n.order_id = r.refund_order_id AND n.status <> 'delivered') \
         ORDER BY r.created_at_ms LIMIT $2)";
    pub(crate) const PRUNE_PAYS: &str = "DELETE FROM pay_orders \
         WHERE (mch_no, mch_order_no) IN (SELECT p.mch_no, p.mch_order_no FROM pay_orders p \
         JOIN settlements s ON s.kind = 'pay' AND s.mch_no = p.mch_no \
         AND s.number = p.mch_order_no \
         WHERE s.status IN ('final', 'gone') AND p.created_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.kind = 'pay' \
         AND n.mch_no = p.mch_no AND n.order_id = p.pay_order_id AND n.status <> 'delivered') \
         AND NOT EXISTS (SELECT 1 FROM refund_orders r WHERE r.mch_no = p.mch_no \
         AND (r.mch_order_no = p.mch_order_no OR r.pay_order_id = p.pay_order_id)) \
         ORDER BY p.created_at_ms LIMIT $2)";
    pub(crate) const PRUNE_SETTLEMENTS: &str = "DELETE FROM settlements WHERE id IN \
         (SELECT s.id FROM settlements s WHERE s.status IN ('final', 'gone') \
         AND s.created_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM pay_orders p WHERE s.kind = 'pay' \
         AND p.mch_no = s.mch_no AND p.mch_order_no = s.number) \
         AND NOT EXISTS (SELECT 1 FROM refund_orders r WHERE s.kind = 'refund' \
         AND r.mch_no = s.mch_no AND r.mch_refund_no = s.number) \
         ORDER BY s.id LIMIT $2)";
}

/// The statements in the order they run: what depends on a row goes before it.
pub(crate) const PRUNE_ORDER: [&str; 4] = [
    sql::PRUNE_NOTIFICATIONS,
    sql::PRUNE_REFUNDS,
    sql::PRUNE_PAYS,
    sql::PRUNE_SETTLEMENTS,
];

impl OrderStore {
    /// Prunes at most `batch` rows of each kind that are finished and were created before
    /// `cutoff_ms` (the module doc says what "finished" means). Call again while it prunes.
    pub async fn prune(&self, cutoff_ms: i64, batch: usize) -> Result<Pruned, StoreError> {
        self.ready().await?;
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let mut counts = [0u64; 4];
        for (count, statement) in counts.iter_mut().zip(PRUNE_ORDER) {
            *count = on_backend!(self, b => b.prune(statement, cutoff_ms, batch))?;
        }
        let [notifications, refunds, pays, settlements] = counts;
        Ok(Pruned {
            notifications,
            refunds,
            pays,
            settlements,
        })
    }

    /// Gives freed space back to the file system (SQLite's incremental vacuum, turned on the
    /// first time); nothing on PostgreSQL, whose autovacuum reuses the space.
    pub async fn reclaim_space(&self) -> Result<(), StoreError> {
        self.ready().await?;
        match &self.inner.backend {
            super::Backend::Sqlite(b) => b.reclaim_space().await,
            super::Backend::Postgres(_) => Ok(()),
        }
    }
}
