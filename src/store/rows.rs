//! What the order store holds: one row per pay order and per refund paybridge asked DaxPay to
//! create, keyed by the merchant's own numbers, and how the store can fail.

use crate::domain::order::RefundOrderStatus;

/// How the store can fail. Neither variant quotes a URL's password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached, opened or migrated, or a statement failed.
    #[error("order store unavailable: {0}")]
    Unavailable(String),
    /// A row exists but cannot be read back (a column of the wrong type or an unknown state).
    #[error("order store row unreadable: {0}")]
    Corrupt(String),
}

/// Where a row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Written before DaxPay was called: the merchant's number is taken, DaxPay's is not known.
    Pending,
    /// DaxPay's verified answer is recorded.
    Created,
}

impl RowState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Created => "created",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<RowState, StoreError> {
        match text {
            "pending" => Ok(RowState::Pending),
            "created" => Ok(RowState::Created),
            other => Err(StoreError::Corrupt(format!("unknown row state `{other}`"))),
        }
    }
}

/// A pay order (Jeepay unified order), unique per `(mch_no, mch_order_no)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRow {
    /// The merchant's own (Jeepay) numbers.
    pub mch_no: String,
    pub app_id: String,
    pub mch_order_no: String,
    /// DaxPay's `orderNo` once known.
    pub pay_order_id: Option<String>,
    pub way_code: String,
    pub currency: String,
    pub client_ip: Option<String>,
    pub amount_fen: i64,
    pub subject: String,
    pub body: String,
    pub ext_param: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// The name of the DaxPay upstream the order was created on.
    pub upstream: String,
    pub created_at_ms: i64,
    pub state: RowState,
    /// The opaque id in the callback and return URLs paybridge gives DaxPay for this order
    /// (unique when present; [`OrderStore::pay_by_token`](super::OrderStore::pay_by_token)).
    pub token: Option<String>,
    /// The attempt whose fields these are (`None`: a row written before attempts existed, or by
    /// a caller that names none). On an order row: the attempt whose fields are live.
    pub attempt: Option<String>,
}

/// A refund, unique per `(mch_no, mch_refund_no)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub mch_no: String,
    pub app_id: String,
    pub mch_refund_no: String,
    /// DaxPay's `refundNo` once known.
    pub refund_order_id: Option<String>,
    pub pay_order_id: Option<String>,
    pub mch_order_no: Option<String>,
    pub refund_amount_fen: i64,
    pub pay_amount_fen: Option<i64>,
    pub currency: String,
    pub ext_param: Option<String>,
    pub notify_url: Option<String>,
    pub created_at_ms: i64,
    pub state: RowState,
    /// The opaque id in the callback URL paybridge gives DaxPay for this refund (unique when
    /// present; [`OrderStore::refund_by_token`](super::OrderStore::refund_by_token)).
    pub token: Option<String>,
    /// The attempt whose fields these are (see [`PayRow::attempt`]).
    pub attempt: Option<String>,
    /// DaxPay's refund status as last learnt (`None`: not yet); a final one is never replaced
    /// by a lower one.
    pub status: Option<RefundOrderStatus>,
}

/// One request's attempt on a merchant number: what it needs to find its own fields again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Random, unique per request.
    pub id: String,
    /// The notification token this attempt gave DaxPay (none: the merchant gave no URLs).
    pub token: Option<String>,
    pub created_at_ms: i64,
}

/// What joining a pending row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined<R> {
    /// The attempt is recorded beside the others: the row (as it was) stays while it may be
    /// needed.
    Joined(R),
    /// The row is no longer pending (DaxPay's answer is recorded): the number is taken.
    Taken(R),
    /// The row went away meanwhile (its last attempt gave up): the number may be inserted again.
    Gone,
}

/// What giving up an attempt (nothing was created on DaxPay for it) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// It was the last attempt on a pending row: the row is removed, the number free again.
    Removed,
    /// Other attempts still rely on the row (or it is no longer pending): it stays.
    Kept,
}

/// What recording DaxPay's answer for an attempt did; each carries the row as it now stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion<R> {
    /// The row now carries the accepted attempt's fields and DaxPay's number.
    Completed(R),
    /// There was no row: it was written again from the attempt's fields (an error to log).
    Repaired(R),
    /// The row was already completed by another attempt: left as it was (an error to log).
    Conflict(R),
    /// No row, and no attempt's fields to write it from.
    Missing,
}

impl<R> Completion<R> {
    /// The row as it now stands, if any.
    pub fn row(self) -> Option<R> {
        match self {
            Completion::Completed(r) | Completion::Repaired(r) | Completion::Conflict(r) => Some(r),
            Completion::Missing => None,
        }
    }
}

/// What DaxPay holds of a refund, to record ([`OrderStore::settle_refund`](super::OrderStore::settle_refund)).
#[derive(Debug, Clone)]
pub struct RefundSettlement {
    pub mch_no: String,
    pub mch_refund_no: String,
    /// The attempt DaxPay accepted, with its fields; `None` when that is not known (learnt by a
    /// query): the live attempt stays.
    pub attempt: Option<RefundRow>,
    /// DaxPay's `refundNo`.
    pub refund_order_id: Option<String>,
    /// The paid amount, when learnt.
    pub pay_amount_fen: Option<i64>,
    /// DaxPay's refund status, when learnt (never replaces a higher one).
    pub status: Option<RefundOrderStatus>,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted<R> {
    New,
    /// The unique key was taken: the row already there.
    Exists(R),
}

impl PayRow {
    /// What this row adds to a pay order DaxPay reports (fields DaxPay does not keep).
    pub fn kept(&self) -> crate::domain::order::KeptPay {
        crate::domain::order::KeptPay {
            way_code: self.way_code.clone(),
            currency: self.currency.clone(),
            client_ip: self.client_ip.clone(),
            created_at_ms: self.created_at_ms,
            ext_param: self.ext_param.clone(),
        }
    }
}

/// A row passed by reference is copied (callers that keep theirs); by value, moved.
impl From<&PayRow> for PayRow {
    fn from(row: &PayRow) -> PayRow {
        row.clone()
    }
}

/// The pay order a refund is of, within the merchant's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidBy<'a> {
    /// DaxPay's number.
    OrderId(&'a str),
    /// The merchant's own (`mchOrderNo`).
    MchOrderNo(&'a str),
}

/// DaxPay's refund status as the store spells it.
pub(crate) fn refund_status_text(status: RefundOrderStatus) -> &'static str {
    status.as_str()
}

/// A stored refund status.
pub(crate) fn parse_refund_status(
    text: Option<&str>,
) -> Result<Option<RefundOrderStatus>, StoreError> {
    text.map(|text| {
        RefundOrderStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown refund status `{text}`")))
    })
    .transpose()
}

impl RefundRow {
    /// What the store keeps of the refunded pay order, when it has it: DaxPay's number (else the
    /// one the row was given), the merchant's number and the amount paid.
    pub fn of_paid(&mut self, paid: Option<PayRow>) {
        if let Some(paid) = paid {
            self.pay_order_id = paid.pay_order_id.or(self.pay_order_id.take());
            self.mch_order_no = Some(paid.mch_order_no);
            self.pay_amount_fen = Some(paid.amount_fen);
        }
    }
}
