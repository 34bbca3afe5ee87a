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
//! - [`OrderStore::notifications`] lists the newest first.

use super::rows::{Inserted, StoreError};
use super::OrderStore;

/// Which order a notification is about; stored as `'pay'` / `'refund'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    Pay,
    Refund,
}

impl NotificationKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Pay => "pay",
            NotificationKind::Refund => "refund",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<NotificationKind, StoreError> {
        match text {
            "pay" => Ok(NotificationKind::Pay),
            "refund" => Ok(NotificationKind::Refund),
            other => Err(StoreError::Corrupt(format!(
                "unknown notification kind `{other}`"
            ))),
        }
    }
}

/// Where a job is; stored as `'pending'` / `'delivered'` / `'failed'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// To be delivered (now or at `next_attempt_at_ms`), or being delivered under a lease.
    Pending,
    /// The merchant answered `SUCCESS`.
    Delivered,
    /// Given up on: the worker ran out of attempts (an operator may resend it).
    Failed,
}

impl NotificationStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<NotificationStatus, StoreError> {
        match text {
            "pending" => Ok(NotificationStatus::Pending),
            "delivered" => Ok(NotificationStatus::Delivered),
            "failed" => Ok(NotificationStatus::Failed),
            other => Err(StoreError::Corrupt(format!(
                "unknown notification status `{other}`"
            ))),
        }
    }
}

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub mch_no: String,
    pub app_id: String,
    pub kind: NotificationKind,
    /// DaxPay's `orderNo` (pay) or `refundNo` (refund).
    pub order_id: String,
    /// The Jeepay state notified.
    pub state: i64,
    /// Where to POST: the merchant's notifyUrl without its query.
    pub url: String,
    /// The form-encoded body, computed (and signed) once and sent as is on every attempt.
    pub body: String,
    /// The first attempt's time (epoch ms).
    pub due_at_ms: i64,
}

/// A job in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub mch_no: String,
    pub app_id: String,
    pub kind: NotificationKind,
    pub order_id: String,
    pub state: i64,
    pub url: String,
    pub body: String,
    pub status: NotificationStatus,
    /// The deliveries finished so far.
    pub attempts: i64,
    /// When a pending job is due (first `due_at_ms`, then what a retry or resend set).
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
    /// The claim holding the job, while a delivery is in flight.
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

/// The outbox at a glance, for health checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// How long the backlog is: the creation time of the oldest pending job.
    pub oldest_pending_created_at_ms: Option<i64>,
}

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

/// The values a mark statement binds after `(id, owner)`.
pub(crate) enum Mark {
    /// `MARK_DELIVERED`: the time.
    At(i64),
    /// `MARK_RETRY`: the next attempt's time and the error.
    Retry(i64, String),
    /// `MARK_FAILED`: the error.
    Error(String),
}
