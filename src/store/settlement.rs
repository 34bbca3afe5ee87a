//! The settlement ledger: one entry per pay order and refund paybridge wrote, saying whether its
//! final state at DaxPay is known yet, and when it is next checked (the worker is `crate::settle`).
//!
//! - **Every row is followed:** an entry is written in the transaction that writes a row
//!   ([`OrderStore::insert_pay`] and friends; a repair calls [`OrderStore::enroll`]), and
//!   [`OrderStore::enroll_missing`] adds one for any row without (a repair's entry that failed,
//!   rows from before this table), so nothing paybridge asked DaxPay to create can be forgotten.
//! - **Leases**, as in the outbox: [`OrderStore::claim_due_settlements`] leases open entries that
//!   are due to one owner; several instances on one PostgreSQL database never check one entry at
//!   once (`FOR UPDATE SKIP LOCKED`), and one left by a dead instance is taken again when its
//!   lease is over. Only the owner can record a check ([`OrderStore::record_check`]).
//! - **Never downgraded:** a check records `final` once, and a final, gone or abandoned entry is
//!   never claimed again, so a stale query cannot take an order back.

use super::rows::StoreError;
use super::settlement_rows::{
    CheckResult, Settlement, SettlementKind, SettlementStats, SettlementStatus,
};
use super::OrderStore;

// The columns, in the order entries are read.
macro_rules! settlement_columns {
    () => {
        "id, kind, mch_no, number, status, dax_state, checks, next_check_at_ms, last_error, \
         lease_owner, lease_until_ms, created_at_ms, settled_at_ms"
    };
}
// The marks of an entry whose DaxPay 2.0 notice came ahead of DaxPay's commit, one per short
// check still to come (`OrderStore::follow_after_notice`), as an SQL list.
macro_rules! ahead_of_commit {
    () => {
        "('notice ahead of commit: check 1 of 3', 'notice ahead of commit: check 2 of 3', \
         'notice ahead of commit: check 3 of 3')"
    };
}
// Open entries due at $2, written at $5 or before (or marked ahead of commit), whose lease is free or over, the longest due
// first, at most $4 of them, leased to $1 until $3.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE settlements SET lease_owner = $1, lease_until_ms = $3 \
             WHERE id IN (SELECT id FROM settlements \
             WHERE status = 'open' AND next_check_at_ms <= $2 \
             AND (created_at_ms <= $5 OR last_error IN ",
            ahead_of_commit!(),
            ") \
             AND (lease_until_ms IS NULL OR lease_until_ms <= $2) \
             ORDER BY next_check_at_ms, id LIMIT $4",
            $lock,
            ") RETURNING ",
            settlement_columns!()
        )
    };
}

/// The first short check after a notice ahead of DaxPay's commit, after the notice.
pub(crate) const FIRST_CHECK_AFTER_NOTICE_MS: i64 = 1000;

/// What an entry's `last_error` says while its short checks after a notice ahead of DaxPay's
/// commit are under way (the first; `sql::RECORD_CHECK` moves it on).
#[cfg(test)]
const AHEAD_OF_COMMIT_MARK: &str = "notice ahead of commit: check 1 of 3";

pub(crate) mod sql {
    /// A taken `(kind, mch_no, number)` changes nothing, unless its entry is `gone` (the row was
    /// removed, and the number written again since): then it is followed afresh.
    pub(crate) const ENROLL: &str = "INSERT INTO settlements (kind, mch_no, number, status, \
         checks, next_check_at_ms, created_at_ms) VALUES ($1, $2, $3, 'open', 0, $4, $5) \
         ON CONFLICT (kind, mch_no, number) DO UPDATE SET status = 'open', checks = 0, \
         dax_state = NULL, last_error = NULL, settled_at_ms = NULL, \
         next_check_at_ms = excluded.next_check_at_ms, created_at_ms = excluded.created_at_ms \
         WHERE settlements.status = 'gone'";
    /// Entries `gone` whose row is there again (written since) are followed afresh, due at $1,
    /// aged from the new row.
    pub(crate) const REOPEN_GONE: &str = "UPDATE settlements SET status = 'open', checks = 0, \
         dax_state = NULL, last_error = NULL, settled_at_ms = NULL, next_check_at_ms = $1, \
         created_at_ms = COALESCE((SELECT p.created_at_ms FROM pay_orders p \
         WHERE settlements.kind = 'pay' AND p.mch_no = settlements.mch_no \
         AND p.mch_order_no = settlements.number), (SELECT r.created_at_ms FROM refund_orders r \
         WHERE settlements.kind = 'refund' AND r.mch_no = settlements.mch_no \
         AND r.mch_refund_no = settlements.number), created_at_ms) \
         WHERE status = 'gone' AND ((kind = 'pay' AND EXISTS (SELECT 1 FROM pay_orders p \
         WHERE p.mch_no = settlements.mch_no AND p.mch_order_no = settlements.number)) \
         OR (kind = 'refund' AND EXISTS (SELECT 1 FROM refund_orders r \
         WHERE r.mch_no = settlements.mch_no AND r.mch_refund_no = settlements.number)))";
    /// Every pay row without an entry gets one, due at $1 (its creation time when later).
    pub(crate) const ENROLL_MISSING_PAY: &str = "INSERT INTO settlements (kind, mch_no, number, \
         status, checks, next_check_at_ms, created_at_ms) \
         SELECT 'pay', p.mch_no, p.mch_order_no, 'open', 0, $1, p.created_at_ms FROM pay_orders p \
         WHERE NOT EXISTS (SELECT 1 FROM settlements s WHERE s.kind = 'pay' \
         AND s.mch_no = p.mch_no AND s.number = p.mch_order_no) \
         ON CONFLICT (kind, mch_no, number) DO NOTHING";
    pub(crate) const ENROLL_MISSING_REFUND: &str =
        "INSERT INTO settlements (kind, mch_no, number, \
         status, checks, next_check_at_ms, created_at_ms) \
         SELECT 'refund', r.mch_no, r.mch_refund_no, 'open', 0, $1, r.created_at_ms \
         FROM refund_orders r WHERE NOT EXISTS (SELECT 1 FROM settlements s \
         WHERE s.kind = 'refund' AND s.mch_no = r.mch_no AND s.number = r.mch_refund_no) \
         ON CONFLICT (kind, mch_no, number) DO NOTHING";
    /// SQLite: the same, one batch of rows at a time (rowid in ($2, $3]), so that no statement
    /// holds the database's one write lock for a scan of every row.
    pub(crate) const ENROLL_MISSING_PAY_BATCH: &str = "INSERT INTO settlements (kind, mch_no, \
         number, status, checks, next_check_at_ms, created_at_ms) \
         SELECT 'pay', p.mch_no, p.mch_order_no, 'open', 0, $1, p.created_at_ms FROM pay_orders p \
         WHERE p.rowid > $2 AND p.rowid <= $3 AND NOT EXISTS (SELECT 1 FROM settlements s \
         WHERE s.kind = 'pay' AND s.mch_no = p.mch_no AND s.number = p.mch_order_no) \
         ON CONFLICT (kind, mch_no, number) DO NOTHING";
    pub(crate) const ENROLL_MISSING_REFUND_BATCH: &str = "INSERT INTO settlements (kind, mch_no, \
         number, status, checks, next_check_at_ms, created_at_ms) \
         SELECT 'refund', r.mch_no, r.mch_refund_no, 'open', 0, $1, r.created_at_ms \
         FROM refund_orders r WHERE r.rowid > $2 AND r.rowid <= $3 AND NOT EXISTS \
         (SELECT 1 FROM settlements s WHERE s.kind = 'refund' AND s.mch_no = r.mch_no \
         AND s.number = r.mch_refund_no) ON CONFLICT (kind, mch_no, number) DO NOTHING";
    pub(crate) const LAST_PAY_ROWID: &str = "SELECT max(rowid) FROM pay_orders";
    pub(crate) const LAST_REFUND_ROWID: &str = "SELECT max(rowid) FROM refund_orders";
    pub(crate) const CLAIM_POSTGRES: &str = claim!(" FOR UPDATE SKIP LOCKED");
    pub(crate) const CLAIM_SQLITE: &str = claim!("");
    /// Only by the lease's owner, and only while open. An entry marked ahead of commit that is
    /// still open is due again 2 s, then 5 s after its last due time (the checks at 1, 3 and
    /// 8 s after the notice, [`super::OrderStore::follow_after_notice`]), and those checks do
    /// not count in its backoff: after the third, it backs off as if they had not been.
    pub(crate) const RECORD_CHECK: &str = "UPDATE settlements SET status = $3, dax_state = $4, \
         checks = checks + CASE WHEN last_error IN ('notice ahead of commit: check 1 of 3', \
         'notice ahead of commit: check 2 of 3', 'notice ahead of commit: check 3 of 3') \
         THEN 0 ELSE 1 END, \
         next_check_at_ms = CASE \
         WHEN $3 = 'open' AND last_error = 'notice ahead of commit: check 1 of 3' \
         THEN next_check_at_ms + 2000 \
         WHEN $3 = 'open' AND last_error = 'notice ahead of commit: check 2 of 3' \
         THEN next_check_at_ms + 5000 ELSE $5 END, \
         last_error = CASE \
         WHEN $3 = 'open' AND last_error = 'notice ahead of commit: check 1 of 3' \
         THEN 'notice ahead of commit: check 2 of 3' \
         WHEN $3 = 'open' AND last_error = 'notice ahead of commit: check 2 of 3' \
         THEN 'notice ahead of commit: check 3 of 3' ELSE $6 END, \
         settled_at_ms = $7, lease_owner = NULL, lease_until_ms = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = 'open'";
    /// An open entry due at $4 and marked for the first of its short checks after a notice
    /// ahead of DaxPay's commit.
    pub(crate) const AHEAD_OF_COMMIT: &str = "UPDATE settlements SET next_check_at_ms = $4, \
         last_error = 'notice ahead of commit: check 1 of 3' \
         WHERE kind = $1 AND mch_no = $2 AND number = $3 AND status = 'open'";
    /// Due at once (a callback or a retry says something changed), unless final.
    /// An open entry due at `$4` at the latest (one due earlier keeps its time): one row
    /// changed when the entry is open.
    pub(crate) const CHECK_SOON: &str = "UPDATE settlements SET next_check_at_ms = \
         CASE WHEN next_check_at_ms > $4 THEN $4 ELSE next_check_at_ms END \
         WHERE kind = $1 AND mch_no = $2 AND number = $3 AND status = 'open'";
    pub(crate) const BY_KEY: &str = concat!(
        "SELECT ",
        settlement_columns!(),
        " FROM settlements WHERE kind = $1 AND mch_no = $2 AND number = $3"
    );
    pub(crate) const BY_STATUS: &str = concat!(
        "SELECT ",
        settlement_columns!(),
        " FROM settlements WHERE status = $1 ORDER BY created_at_ms, id LIMIT $2"
    );
    /// The rows written in [$1, $2), the oldest first: (kind, mch_no, number).
    pub(crate) const ROWS_WRITTEN: &str = "SELECT 'pay', mch_no, mch_order_no, created_at_ms \
         FROM pay_orders WHERE created_at_ms >= $1 AND created_at_ms < $2 \
         UNION ALL SELECT 'refund', mch_no, mch_refund_no, created_at_ms \
         FROM refund_orders WHERE created_at_ms >= $1 AND created_at_ms < $2 \
         ORDER BY 4, 1, 2, 3";
    /// The entries not final yet, the oldest first: (kind, mch_no, number).
    pub(crate) const NOT_FINAL: &str = "SELECT kind, mch_no, number, created_at_ms \
         FROM settlements WHERE status IN ('open', 'abandoned') ORDER BY 4, 1, 2, 3";
    /// What an operator's reconciliation found final at DaxPay, whoever holds the entry (an
    /// entry gone stays gone).
    pub(crate) const RECORD_FINAL: &str = "UPDATE settlements SET status = 'final', \
         dax_state = $4, checks = checks + 1, last_error = NULL, settled_at_ms = $5, \
         lease_owner = NULL, lease_until_ms = NULL \
         WHERE kind = $1 AND mch_no = $2 AND number = $3 AND status <> 'gone'";
    /// How many requests a pending row's number has that were not given up.
    pub(crate) const PAY_ATTEMPTS_LIVE: &str =
        "SELECT attempts FROM pay_orders WHERE mch_no = $1 AND mch_order_no = $2";
    pub(crate) const REFUND_ATTEMPTS_LIVE: &str =
        "SELECT attempts FROM refund_orders WHERE mch_no = $1 AND mch_refund_no = $2";
    pub(crate) const STATS: &str = "SELECT \
         count(*) FILTER (WHERE status = 'open'), \
         count(*) FILTER (WHERE status = 'abandoned'), \
         min(created_at_ms) FILTER (WHERE status = 'open') \
         FROM settlements";
}

impl OrderStore {
    /// Follows `(kind, mch_no, number)` from now on, first checked at `first_check_at_ms`. An
    /// entry already there is left as it is.
    pub async fn enroll(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        first_check_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.enroll(kind, mch_no, number, first_check_at_ms, now_ms))
    }

    /// Enrols every pay and refund row that has no entry (or whose entry is `gone` though the
    /// row is there again), due at `due_at_ms`. Answers how many.
    pub async fn enroll_missing(&self, due_at_ms: i64) -> Result<u64, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.enroll_missing(due_at_ms))
    }

    /// Takes up to `limit` open entries due at `now_ms`, written at `written_by_ms` or before,
    /// whose lease is free or over (the longest due first), leased to `owner` until
    /// `now_ms + lease_ms`.
    pub async fn claim_due_settlements(
        &self,
        owner: &str,
        now_ms: i64,
        written_by_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.ready().await?;
        let until = now_ms.saturating_add(lease_ms.max(0));
        let mut claimed: Vec<Settlement> = on_backend!(self, b => b.claim_settlements(owner, now_ms, written_by_ms, until, limit))?;
        claimed.sort_by_key(|s| (s.next_check_at_ms, s.id));
        Ok(claimed)
    }

    /// Records a check of entry `id` by `owner`: only while `owner` holds it and it is open.
    /// Answers whether it applied.
    pub async fn record_check(
        &self,
        id: i64,
        owner: &str,
        result: &CheckResult,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.record_check(id, owner, result))
    }

    /// Brings an open entry's next check forward to `at_ms` (a callback arrived, a retry asked);
    /// whether an open entry is there.
    pub async fn check_soon(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.reschedule(sql::CHECK_SOON, kind, mch_no, number, at_ms))
    }

    /// Makes sure `(kind, mch_no, number)` is followed, checked by `at_ms`: enrolled if it has no
    /// entry, reopened if its entry is `gone`, brought forward if open. Whether an open entry
    /// now follows it (`false`: its entry is final or abandoned).
    pub async fn follow_soon(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.enroll(kind, mch_no, number, at_ms, at_ms).await?;
        self.check_soon(kind, mch_no, number, at_ms).await
    }

    /// A DaxPay 2.0 notice came ahead of DaxPay's commit (lifecycle-2.0.md §7.1): the entry is
    /// followed as [`OrderStore::follow_soon`] does, then checked 1, 3 and 8 s after `now_ms`
    /// (short waits of about 1, 2 and 5 s), even while the row is younger than the worker's
    /// first check, before backing off as usual: the merchant waits seconds, not the first
    /// check's 30. Whether an open entry now follows it.
    pub async fn follow_after_notice(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.enroll(kind, mch_no, number, now_ms, now_ms).await?;
        let due = now_ms.saturating_add(FIRST_CHECK_AFTER_NOTICE_MS);
        on_backend!(self, b => b.reschedule(sql::AHEAD_OF_COMMIT, kind, mch_no, number, due))
    }

    pub async fn settlement(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
    ) -> Result<Option<Settlement>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.settlement(kind, mch_no, number))
    }

    /// Up to `limit` entries in `status`, the oldest first.
    pub async fn settlements(
        &self,
        status: SettlementStatus,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.settlements(status, limit))
    }

    /// The rows written in `[from_ms, to_ms)` (or, with no window, the rows whose entry is not
    /// final), the oldest first, as `(kind, mch_no, number)`.
    pub async fn settlement_keys(
        &self,
        window: Option<(i64, i64)>,
    ) -> Result<Vec<(SettlementKind, String, String)>, StoreError> {
        self.ready().await?;
        let (statement, from, to) = match window {
            Some((from, to)) => (sql::ROWS_WRITTEN, Some(from), Some(to)),
            None => (sql::NOT_FINAL, None, None),
        };
        on_backend!(self, b => b.settlement_keys(statement, from, to))
    }

    /// Records that DaxPay says `(kind, mch_no, number)` is final in `dax_state` (an operator's
    /// repair: [`crate::settle::reconcile`]). Whether an entry was there to record it on.
    pub async fn record_final(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        dax_state: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.record_final(kind, mch_no, number, dax_state, now_ms))
    }

    /// How many requests on the row's number may have reached DaxPay (not given up); 0: no row.
    pub async fn live_attempts(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
    ) -> Result<i64, StoreError> {
        self.ready().await?;
        let statement = match kind {
            SettlementKind::Pay => sql::PAY_ATTEMPTS_LIVE,
            SettlementKind::Refund => sql::REFUND_ATTEMPTS_LIVE,
        };
        on_backend!(self, b => b.live_attempts(statement, mch_no, number))
    }

    pub async fn settlement_stats(&self) -> Result<SettlementStats, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.settlement_stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_agree_on_the_marks_ahead_of_commit() {
        assert!(sql::AHEAD_OF_COMMIT.contains(AHEAD_OF_COMMIT_MARK));
        for n in 1..=3 {
            let mark = format!("notice ahead of commit: check {n} of 3");
            assert!(sql::RECORD_CHECK.contains(&mark), "{mark}");
            assert!(sql::CLAIM_SQLITE.contains(&mark), "{mark}");
            assert!(sql::CLAIM_POSTGRES.contains(&mark), "{mark}");
        }
    }
}
