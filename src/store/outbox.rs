//! The notification outbox: the Jeepay notifications paybridge owes merchants (lifecycle.md §6),
//! written once and delivered at least once by a worker that claims, POSTs and marks them.
//!
//! - **One job per `(mch_no, kind, order_id, state)`:** DaxPay calls several times, paybridge
//!   enqueues once ([`OrderStore::enqueue_notification`] answers the job already there).
//! - **Leases:** [`OrderStore::claim_due_notifications`] takes pending jobs that are due and not
//!   leased (or whose lease is over) and leases them to one owner until `now + lease_ms`; several
//!   instances on one PostgreSQL database never claim one job twice at once (`FOR UPDATE SKIP
//!   LOCKED`). Only the owner can mark a job, and marking clears the lease. A worker that dies
//!   mid-delivery leaves its lease to expire, and the job is claimed again: delivery is at least
//!   once, and the merchant deduplicates by order and state, as Jeepay's merchants do.
//! - **Attempts** count the deliveries a worker finished and marked (delivered, retry, failed).
//!   A delivery marked after its lease expired still counts, unless another owner claimed the
//!   job meanwhile (then the mark is refused and answers `false`).
//! - **Resend policy:** [`OrderStore::resend_notification`] puts a `failed` or `pending` job back
//!   to pending, due at once, attempts 0, lease cleared (an in-flight delivery of a pending job
//!   can then no longer mark it, and the job may be sent twice: at least once still holds).
//!   `last_error` is kept for the operator. A `delivered` job is not sent again (`false`): the
//!   merchant answered `SUCCESS`, and a new state is a new job.
//! - **The fair claim** (the delivery worker's): [`OrderStore::due_notifications`] reads the
//!   due, free jobs in merchants' turns (each merchant's oldest first, then each one's second,
//!   …) without taking them; the worker chooses among them (its per-host cap, fewest in flight
//!   per merchant first) and [`OrderStore::lease_notifications`] leases the chosen ones, each
//!   only if it is still pending, due and free: a job another instance took meanwhile is
//!   skipped, never leased twice. [`OrderStore::claim_due_notifications`] is the plain claim,
//!   oldest due first, with the same lease.
//! - [`OrderStore::notifications`] lists the newest first.

pub(crate) mod statements;

use super::outbox_rows::{
    DueNotification, Mark, NewNotification, Notification, NotificationStatus, OutboxStats,
};
use super::rows::{Inserted, StoreError};
use super::OrderStore;

impl OrderStore {
    /// Enqueues `n` (pending, no attempts, due at `n.due_at_ms`, created at `now_ms`). At most
    /// one job per `(mch_no, kind, order_id, state)`: a second enqueue changes nothing and
    /// answers `Inserted::Exists` with the job already there, whatever its status.
    pub async fn enqueue_notification(
        &self,
        n: &NewNotification,
        now_ms: i64,
    ) -> Result<Inserted<Notification>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.enqueue_notification(n, now_ms))
    }

    /// Takes up to `limit` pending jobs due at `now_ms` whose lease is free or expired (oldest
    /// due first), leasing them to `owner` until `now_ms + lease_ms`. Concurrent claims, from
    /// this instance or another on the same database, never take the same job.
    pub async fn claim_due_notifications(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.ready().await?;
        let until = now_ms.saturating_add(lease_ms.max(0));
        let mut claimed: Vec<Notification> =
            on_backend!(self, b => b.claim_notifications(owner, now_ms, until, limit))?;
        // `RETURNING` keeps no order.
        claimed.sort_by_key(|n| (n.next_attempt_at_ms, n.id));
        Ok(claimed)
    }

    /// Up to `limit` pending jobs due at `now_ms` whose lease is free or expired, in merchants'
    /// turns (every merchant's oldest due job, the oldest of those first, then every merchant's
    /// second, …). Nothing is leased: [`OrderStore::lease_notifications`] takes the chosen ones.
    pub async fn due_notifications(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueNotification>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.ready().await?;
        on_backend!(self, b => b.due_notifications(now_ms, limit))
    }

    /// Leases to `owner` until `now_ms + lease_ms` those of `ids` that are still pending, due at
    /// `now_ms` and free (or their lease over), and answers them (in `ids`' order). The others
    /// (taken by another instance meanwhile, delivered, no longer due) are left alone.
    pub async fn lease_notifications(
        &self,
        owner: &str,
        ids: &[i64],
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.ready().await?;
        let until = now_ms.saturating_add(lease_ms.max(0));
        let mut leased: Vec<Notification> =
            on_backend!(self, b => b.lease_notifications(owner, ids, now_ms, until))?;
        // `RETURNING` keeps no order: the caller's (its fair order) is restored.
        leased.sort_by_key(|n| ids.iter().position(|id| *id == n.id));
        Ok(leased)
    }

    /// Only if the job is pending and leased by `owner`: delivered at `now_ms`, attempts + 1,
    /// lease cleared. Answers whether it applied.
    pub async fn mark_delivered(
        &self,
        id: i64,
        owner: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.mark(super::sql::MARK_DELIVERED, id, owner, Mark::At(now_ms)))
    }

    /// Only if the job is pending and leased by `owner`: attempts + 1, the next attempt at
    /// `next_at_ms`, `error` recorded, lease cleared. Answers whether it applied.
    pub async fn mark_retry(
        &self,
        id: i64,
        owner: &str,
        next_at_ms: i64,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        let mark = Mark::Retry(next_at_ms, error.to_owned());
        on_backend!(self, b => b.mark(super::sql::MARK_RETRY, id, owner, mark))
    }

    /// Only if the job is pending and leased by `owner`: attempts + 1, failed for good, `error`
    /// recorded, lease cleared. Answers whether it applied.
    pub async fn mark_failed(&self, id: i64, owner: &str, error: &str) -> Result<bool, StoreError> {
        self.ready().await?;
        let mark = Mark::Error(error.to_owned());
        on_backend!(self, b => b.mark(super::sql::MARK_FAILED, id, owner, mark))
    }

    /// Up to `limit` jobs in `status`, the newest first.
    pub async fn notifications(
        &self,
        status: NotificationStatus,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.ready().await?;
        on_backend!(self, b => b.notifications(status, limit))
    }

    pub async fn notification(&self, id: i64) -> Result<Option<Notification>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.notification(id))
    }

    /// An operator's "send again": a `failed` or `pending` job becomes pending, due at `now_ms`,
    /// attempts 0, lease cleared (the module doc says why). `false`: no such job, or it was
    /// delivered.
    pub async fn resend_notification(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.resend_notification(id, now_ms))
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.outbox_stats())
    }
}

#[cfg(test)]
mod fair_claim_tests;
