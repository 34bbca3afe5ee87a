//! The outbox's rows: a notification owed to a merchant, where it stands, and the outbox at a
//! glance (the queries are in `outbox.rs`).

use super::rows::StoreError;

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

/// How a job goes to the merchant (in which dialect); stored as `'jeepay'` / `'epay'` /
/// `'epay-rsa'` (migration 0008 says what each means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NotificationWire {
    /// Jeepay's: `body` (a form) POSTed to `url`, acknowledged by `SUCCESS` ignoring case.
    #[default]
    JeepayPost,
    /// epay's, V1 orders: a GET of `url` with `body` (the query, signed once) appended,
    /// acknowledged when the answer contains `success`, `SUCCESS` or `Success`.
    EpayGet,
    /// epay's, V2 orders: as [`NotificationWire::EpayGet`], but `body` holds the parameters
    /// without `timestamp` and signature; each attempt signs them afresh with the platform key.
    EpayGetResigned,
}

impl NotificationWire {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationWire::JeepayPost => "jeepay",
            NotificationWire::EpayGet => "epay",
            NotificationWire::EpayGetResigned => "epay-rsa",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<NotificationWire, StoreError> {
        match text {
            "jeepay" => Ok(NotificationWire::JeepayPost),
            "epay" => Ok(NotificationWire::EpayGet),
            "epay-rsa" => Ok(NotificationWire::EpayGetResigned),
            other => Err(StoreError::Corrupt(format!(
                "unknown notification wire `{other}`"
            ))),
        }
    }

    /// Whether the job is epay's (a GET, the substring acknowledgement, epay's schedule).
    pub fn is_epay(self) -> bool {
        !matches!(self, NotificationWire::JeepayPost)
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
    /// The state notified (Jeepay's; epay notifies only payments, as 2).
    pub state: i64,
    /// Jeepay: where to POST, the merchant's notifyUrl without its query. epay: the merchant's
    /// `notify_url`, the query appended at each attempt.
    pub url: String,
    /// Jeepay: the form-encoded body, computed (and signed) once and sent as is on every
    /// attempt. epay: the query (V1: signed once; V2: without timestamp and signature).
    pub body: String,
    /// The first attempt's time (epoch ms).
    pub due_at_ms: i64,
    /// How it is delivered.
    pub wire: NotificationWire,
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
    pub wire: NotificationWire,
}

/// A due job as the fair claim first sees it: enough to choose among jobs (whose merchant,
/// which host, how long due) before leasing the chosen ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotification {
    pub id: i64,
    pub mch_no: String,
    pub url: String,
    pub next_attempt_at_ms: i64,
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

/// The values a mark statement binds after `(id, owner)`.
pub(crate) enum Mark {
    /// `MARK_DELIVERED`: the time.
    At(i64),
    /// `MARK_RETRY`: the next attempt's time and the error.
    Retry(i64, String),
    /// `MARK_FAILED`: the error.
    Error(String),
}
