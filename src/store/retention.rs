//! Pruning what is finished: delivered notifications, final refunds and pay orders, and their
//! ledger entries, older than a cut-off, a batch at a time (`crate::settle::retention` runs it).
//!
//! Nothing open or undelivered is ever pruned:
//! - a notification only once `delivered` (a `failed` one stays for the operator), and only once
//!   its row is gone (while the row lives, the job's unique key keeps a late callback or check
//!   from queueing it again);
//! - a refund only once its settlement entry is `final` or `gone`, and no notification of it is
//!   still undelivered;
//! - a pay order on the same terms, and only once none of its refunds is left in the store
//!   (refunds go first, so a pay order outlives them); a paid one (`success` at DaxPay) only once
//!   older than the paid cut-off too (`[retention] keep_paid_days`): its channel still takes
//!   refunds, and a refund needs the row to reach the upstream the order was made on;
//! - attempts and a ledger entry only once their row is gone (else the sweep would enrol the row
//!   again, or an old attempt's token would name a new order of the same number).
//!
//! On SQLite the file is then shrunk by incremental vacuum (`retention` turns it on once,
//! rewriting the file, the first time it runs on a database created without it).

use super::retention_rows::{Cutoff, Pruned};
use super::rows::StoreError;
use super::OrderStore;

pub(crate) mod sql {
    // Each: created before $1, at most $2 of them.
    /// Delivered, and its order or refund row already pruned (while the row lives, the job's
    /// unique key is what keeps a later callback or check from queueing it again).
    pub(crate) const PRUNE_NOTIFICATIONS: &str = "DELETE FROM notifications WHERE id IN \
         (SELECT n.id FROM notifications n WHERE n.status = 'delivered' AND n.created_at_ms < $1 \
         AND NOT (n.kind = 'pay' AND EXISTS (SELECT 1 FROM pay_orders p \
         WHERE p.mch_no = n.mch_no AND p.pay_order_id = n.order_id)) \
         AND NOT (n.kind = 'refund' AND EXISTS (SELECT 1 FROM refund_orders r \
         WHERE r.mch_no = n.mch_no AND r.refund_order_id = n.order_id)) \
         ORDER BY n.id LIMIT $2)";
    pub(crate) const PRUNE_REFUNDS: &str = "DELETE FROM refund_orders \
         WHERE (mch_no, mch_refund_no) IN (SELECT r.mch_no, r.mch_refund_no FROM refund_orders r \
         JOIN settlements s ON s.kind = 'refund' AND s.mch_no = r.mch_no \
         AND s.number = r.mch_refund_no \
         WHERE s.status IN ('final', 'gone') AND r.created_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.kind = 'refund' \
         AND n.mch_no = r.mch_no AND n.order_id = r.refund_order_id AND n.status <> 'delivered') \
         ORDER BY r.created_at_ms LIMIT $2)";
    /// A paid order (`success` at DaxPay) only once older than $3 too: refundable until then.
    pub(crate) const PRUNE_PAYS: &str = "DELETE FROM pay_orders \
         WHERE (mch_no, mch_order_no) IN (SELECT p.mch_no, p.mch_order_no FROM pay_orders p \
         JOIN settlements s ON s.kind = 'pay' AND s.mch_no = p.mch_no \
         AND s.number = p.mch_order_no \
         WHERE s.status IN ('final', 'gone') AND p.created_at_ms < $1 \
         AND (s.dax_state IS NULL OR s.dax_state <> 'success' OR p.created_at_ms < $3) \
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.kind = 'pay' \
         AND n.mch_no = p.mch_no AND n.order_id = p.pay_order_id AND n.status <> 'delivered') \
         AND NOT EXISTS (SELECT 1 FROM refund_orders r WHERE r.mch_no = p.mch_no \
         AND (r.mch_order_no = p.mch_order_no OR r.pay_order_id = p.pay_order_id)) \
         ORDER BY p.created_at_ms LIMIT $2)";
    /// Attempts whose order row is gone (pruned, or removed with nothing created).
    pub(crate) const PRUNE_PAY_ATTEMPTS: &str = "DELETE FROM pay_attempts \
         WHERE (mch_no, mch_order_no, attempt) IN (SELECT a.mch_no, a.mch_order_no, a.attempt \
         FROM pay_attempts a WHERE a.created_at_ms < $1 AND NOT EXISTS (SELECT 1 FROM pay_orders p \
         WHERE p.mch_no = a.mch_no AND p.mch_order_no = a.mch_order_no) LIMIT $2)";
    pub(crate) const PRUNE_REFUND_ATTEMPTS: &str = "DELETE FROM refund_attempts \
         WHERE (mch_no, mch_refund_no, attempt) IN (SELECT a.mch_no, a.mch_refund_no, a.attempt \
         FROM refund_attempts a WHERE a.created_at_ms < $1 AND NOT EXISTS \
         (SELECT 1 FROM refund_orders r WHERE r.mch_no = a.mch_no \
         AND r.mch_refund_no = a.mch_refund_no) LIMIT $2)";
    pub(crate) const PRUNE_SETTLEMENTS: &str = "DELETE FROM settlements WHERE id IN \
         (SELECT s.id FROM settlements s WHERE s.status IN ('final', 'gone') \
         AND s.created_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM pay_orders p WHERE s.kind = 'pay' \
         AND p.mch_no = s.mch_no AND p.mch_order_no = s.number) \
         AND NOT EXISTS (SELECT 1 FROM refund_orders r WHERE s.kind = 'refund' \
         AND r.mch_no = s.mch_no AND r.mch_refund_no = s.number) \
         ORDER BY s.id LIMIT $2)";
}

/// The statements in the order they run: a refund before its pay order; what hangs on a row
/// (its delivered notifications, its attempts, its ledger entry) after the row.
pub(crate) const PRUNE_ORDER: [&str; 6] = [
    sql::PRUNE_REFUNDS,
    sql::PRUNE_PAYS,
    sql::PRUNE_NOTIFICATIONS,
    sql::PRUNE_PAY_ATTEMPTS,
    sql::PRUNE_REFUND_ATTEMPTS,
    sql::PRUNE_SETTLEMENTS,
];

impl OrderStore {
    /// Prunes at most `batch` rows of each kind that are finished and were created before
    /// `cutoff_ms` (the module doc says what "finished" means). Call again while it prunes.
    pub async fn prune(&self, cutoff: Cutoff, batch: usize) -> Result<Pruned, StoreError> {
        self.ready().await?;
        let batch = i64::try_from(batch).unwrap_or(i64::MAX);
        let (cutoff_ms, paid_ms) = (cutoff.finished_ms, cutoff.paid_ms.min(cutoff.finished_ms));
        let mut counts = [0u64; 6];
        for (count, statement) in counts.iter_mut().zip(PRUNE_ORDER) {
            *count = if statement == sql::PRUNE_PAYS {
                on_backend!(self, b => b.prune_paid(statement, cutoff_ms, batch, paid_ms))?
            } else {
                on_backend!(self, b => b.prune(statement, cutoff_ms, batch))?
            };
        }
        let [refunds, pays, notifications, pay_attempts, refund_attempts, settlements] = counts;
        Ok(Pruned {
            notifications,
            refunds,
            pays,
            attempts: pay_attempts + refund_attempts,
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
