//! The statements of the fair claim (`super::OrderStore::due_notifications` and
//! `lease_notifications`), kept beside the outbox's calls rather than in `sql.rs`: written once
//! with PostgreSQL's `$N`, as every statement of the store.

/// The columns a leased job is read with: `sql.rs`'s `notification_columns!`, the order both
/// backends' readers expect (a test below keeps the two lists equal).
macro_rules! leased_columns {
    () => {
        "id, mch_no, app_id, kind, order_id, state, url, body, status, attempts, \
         next_attempt_at_ms, last_error, lease_owner, lease_until_ms, created_at_ms, \
         delivered_at_ms, wire"
    };
}

/// Pending jobs due at `$1` whose lease is free or over, at most `$2`, in merchants' turns: every
/// merchant's oldest due job first (oldest of those first), then every merchant's second, and so
/// on. A merchant with a thousand due jobs takes one place per turn, not the first thousand.
pub(crate) const DUE_NOTIFICATIONS: &str = "SELECT id, mch_no, url, next_attempt_at_ms FROM \
     (SELECT id, mch_no, url, next_attempt_at_ms, \
     ROW_NUMBER() OVER (PARTITION BY mch_no ORDER BY next_attempt_at_ms, id) AS turn \
     FROM notifications WHERE status = 'pending' AND next_attempt_at_ms <= $1 \
     AND (lease_until_ms IS NULL OR lease_until_ms <= $1)) AS due \
     ORDER BY turn, next_attempt_at_ms, id LIMIT $2";

// Leases to `$1` until `$2` the jobs named by `$3` that are still pending, due at `$4` and free
// (or their lease over): between the read of the candidates and this, another instance may have
// taken one, which this then skips. On PostgreSQL a concurrent lease of the same row waits for
// the first to commit and then re-reads the row, so exactly one of them takes it.
macro_rules! lease {
    ($which:literal) => {
        concat!(
            "UPDATE notifications SET lease_owner = $1, lease_until_ms = $2 WHERE ",
            $which,
            " AND status = 'pending' AND next_attempt_at_ms <= $4 \
             AND (lease_until_ms IS NULL OR lease_until_ms <= $4) RETURNING ",
            leased_columns!()
        )
    };
}

/// PostgreSQL: `$3` is an array of ids, all leased in one statement.
pub(crate) const LEASE_NOTIFICATIONS_POSTGRES: &str = lease!("id = ANY($3)");
/// SQLite (no arrays): one id per run, every run in one IMMEDIATE transaction.
pub(crate) const LEASE_NOTIFICATION_SQLITE: &str = lease!("id = $3");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_jobs_are_read_with_the_columns_every_reader_expects() {
        let by_id = crate::store::sql::NOTIFICATION_BY_ID;
        assert!(
            by_id.starts_with(&format!("SELECT {} FROM", leased_columns!())),
            "{by_id}"
        );
        assert!(LEASE_NOTIFICATIONS_POSTGRES.ends_with(leased_columns!()));
        assert!(LEASE_NOTIFICATION_SQLITE.contains("WHERE id = $3 AND status = 'pending'"));
    }
}
