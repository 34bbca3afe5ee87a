//! Every way a request can fail, in no dialect's words.
//!
//! Handlers return `Result<_, Failure>`; the caller's dialect renders it once, in one place
//! (`dialect::jeepay::failure`). `Display` here is for logs only: English, no secrets.

use crate::upstream::error::UpstreamError;

/// Why a gateway's answer cannot be believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerFault {
    #[error("answer is not a DaxPay JSON envelope: {0}")]
    Malformed(String),
    #[error("success answer carries no signature")]
    UnsignedSuccess,
    #[error("answer signature does not verify")]
    BadSignature,
    /// A signed success that is not recent (or says not when it was given): possibly an old
    /// answer replayed.
    #[error("success answer is not recent: {0}")]
    Stale(String),
}

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The body or parameters cannot be bound to the operation's fields.
    #[error("request unreadable: {0}")]
    Unreadable(String),
    #[error("request body over {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("request body not received in time")]
    BodyTimeout,
    /// A field the operation needs is missing or out of range. `words`: the caller's dialect's
    /// own message for it, chosen by that dialect's reader.
    #[error("invalid request ({kind}): {words}")]
    Invalid {
        kind: &'static str,
        words: &'static str,
    },
    /// A refusal in the request's own dialect, with the code and words its gateway answers
    /// (a text with values in it, e.g. epay's `该订单(…)已完成支付，请勿重复发起支付`); found
    /// before anything was sent. Another dialect renders it as a business refusal.
    #[error("refused in the dialect ({code}): {msg}")]
    InDialect { code: i64, msg: String },
    /// A value longer than the gateway takes (DaxPay's `@Size`), found before the call: nothing
    /// was sent. `label`: the caller's dialect's name for the value; `max`: what the caller may
    /// send (the gateway's limit, less what paybridge puts before the value).
    #[error("{label} over {max} characters")]
    TooLong { label: &'static str, max: usize },
    #[error("unsupported signType {0:?}")]
    UnsupportedSignType(String),
    #[error("unknown merchant or app")]
    UnknownMerchant,
    #[error("app of another merchant")]
    AppOfAnotherMerchant,
    #[error("request signature does not verify")]
    BadSignature,
    #[error("reqTime outside ±{window_secs} s (server time {server_time})")]
    ReqTimeOutside {
        window_secs: u64,
        server_time: String,
    },
    #[error("reqTime unreadable: {0:?}")]
    ReqTimeUnreadable(String),
    /// The merchant has not opted in to cancels (`allow_cancel`): a close's signature does not
    /// sign its path, so it would otherwise be a cancel too.
    #[error("cancel not allowed for this merchant")]
    CancelNotAllowed,
    /// The same signed request is still being carried out (a duplicate waited too long).
    #[error("the same request is still in progress")]
    DuplicateInProgress,
    /// A retry of a request whose earlier attempt's outcome is unknown, and still is: a lookup
    /// found nothing definitive (or failed), and nothing was sent again, since the earlier
    /// attempt may still land (`replay::landing`).
    #[error("the outcome of an earlier attempt is still unknown")]
    EarlierOutcomeUnknown,
    /// Load shedding: nothing was done.
    #[error("overloaded")]
    Overloaded,
    /// The replay store is unreachable and configured to refuse meanwhile.
    #[error("replay store unavailable")]
    ReplayStoreDown,
    /// The gateway has no such order. `verified`: its answer was signed (or DaxPay 2.0, which
    /// never signs errors), so a fallback to the other gateway may rely on it.
    #[error("order not found (verified: {verified})")]
    OrderNotFound { verified: bool },
    /// The order's state does not allow a close.
    #[error("order cannot be closed")]
    NotClosable,
    /// Another close of the order is under way.
    #[error("a close of the order is in progress")]
    CloseInProgress,
    /// The merchant's order number is taken: DaxPay or the order store holds an order of it
    /// that this request did not make (Jeepay: unique per merchant).
    #[error("merchant order number already used")]
    OrderExists(String),
    /// The merchant's order number asked for again with other parameters than its order's, in
    /// a dialect whose gateway answers an identical repeat with the same order (epay.md §6.1
    /// step 16): refused, nothing made. Jeepay refuses every repeat alike, as `OrderExists`.
    #[error("merchant order number repeated with other parameters")]
    OrderParamsChanged(String),
    /// The merchant's order number is its order's, already paid: a repeated request for it is
    /// refused (epay's re-submit of a paid `out_trade_no`).
    #[error("merchant order already paid")]
    OrderPaid(String),
    /// The merchant's refund number is taken.
    #[error("merchant refund number already used")]
    RefundExists(String),
    /// A way code Jeepay does not know.
    #[error("unknown way code")]
    WayCodeUnknown,
    /// A way code with no DaxPay channel for this merchant.
    #[error("way code not supported for this merchant")]
    WayCodeUnsupported,
    /// A refund of an order the gateway does not have. `verified` as for [`Failure::OrderNotFound`].
    #[error("refund of an unknown order (verified: {verified})")]
    RefundOfUnknownOrder { verified: bool },
    /// The order is not paid (or its state allows no refund).
    #[error("order cannot be refunded")]
    NotRefundable,
    #[error("order already fully refunded")]
    FullyRefunded,
    /// Another refund of the order is under way.
    #[error("a refund of the order is in progress")]
    RefundInProgress,
    #[error("refund over the refundable balance")]
    RefundOverBalance,
    /// The upstream cannot refund (a DaxPay version paybridge does not refund on).
    #[error("refunds not supported on this upstream")]
    RefundUnsupported,
    /// The merchant asked to be notified, but paybridge has no `public_url` for DaxPay to call
    /// back: nothing was sent (a payment whose notification would be lost is not taken).
    #[error("notify URL given but [server] public_url not configured")]
    NotifyUnconfigured,
    /// paybridge's order store cannot be reached: nothing was sent.
    #[error("order store unavailable")]
    StoreDown,
    /// A verified refusal for a reason of the merchant's (a channel failure, ...), in the
    /// gateway's own words.
    #[error("gateway refused with code {code}: {msg}")]
    Refused { code: i64, msg: String },
    /// DaxPay 2.0 made the refund order (its refund answer never carries a status, so the
    /// outcome is always its refund query's), and that query failed: the refund is accepted,
    /// its outcome pending, for the merchant to query. The answer was read as designed, so it
    /// is no fault of the upstream's. `refund_no`: DaxPay's refund number, when its verified
    /// answer gave it (then the refund exists for certain and is answered in progress,
    /// `proxy::records::refund`).
    #[error("upstream {upstream}: refund accepted, its outcome not learnt yet")]
    RefundOutcomePending {
        upstream: String,
        refund_no: Option<String>,
    },
    /// The call failed in transport.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The gateway answered, but its answer cannot be believed: the outcome is unknown.
    #[error("upstream {upstream}: {fault}")]
    Unverified {
        upstream: String,
        fault: AnswerFault,
    },
    /// The gateway refused for a reason that is the operator's to fix (our signature, our
    /// clock, an unknown DaxPay app, a DaxPay system error). `signed`: DaxPay signed it, so it
    /// came from inside its handler, possibly after the order or refund was written (an
    /// unsigned one is a pre-handler refusal: nothing happened).
    #[error("upstream {upstream}: refused with code {code}: {msg}")]
    Rejected {
        upstream: String,
        code: i64,
        msg: String,
        signed: bool,
    },
    #[error("no such path: {0}")]
    NotFound(String),
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    #[error("internal error")]
    Internal,
}

impl Failure {
    /// The request may have reached the gateway and nobody knows what came of it.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Failure::Upstream(e) => e.maybe_sent(),
            Failure::Unverified { .. }
            | Failure::EarlierOutcomeUnknown
            | Failure::RefundOutcomePending { .. } => true,
            // A system error from inside DaxPay's handler (a channel SDK's exception after the
            // refund was committed, lifecycle.md §11): what it did must be found out.
            Failure::Rejected {
                signed: true, code, ..
            } => !matches!(code, 20052 | 20023),
            _ => false,
        }
    }

    /// A verified answer about the order itself, the same for a re-sent request: kept in the
    /// replay store and answered again.
    pub fn is_definitive(&self) -> bool {
        matches!(
            self,
            Failure::OrderNotFound { .. }
                | Failure::NotClosable
                | Failure::CloseInProgress
                | Failure::Refused { .. }
                | Failure::OrderExists(_)
                | Failure::OrderParamsChanged(_)
                | Failure::OrderPaid(_)
                | Failure::RefundExists(_)
                | Failure::RefundOfUnknownOrder { .. }
                | Failure::NotRefundable
                | Failure::FullyRefunded
                | Failure::RefundInProgress
                | Failure::RefundOverBalance
                | Failure::RefundUnsupported
        )
    }

    /// The gateway verifiably has no such order: the other gateway may be asked.
    pub fn verified_not_found(&self) -> bool {
        matches!(
            self,
            Failure::OrderNotFound { verified: true }
                | Failure::RefundOfUnknownOrder { verified: true }
        )
    }

    /// The operator's fault, not the merchant's: logged in full as a warning.
    pub fn is_operator_fault(&self) -> bool {
        matches!(
            self,
            Failure::Upstream(_)
                | Failure::Unverified { .. }
                | Failure::Rejected { .. }
                | Failure::StoreDown
                | Failure::NotifyUnconfigured
        )
    }

    /// A short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Unreadable(_) => "conversion",
            Failure::BodyTooLarge { .. } => "body_too_large",
            Failure::BodyTimeout => "body_timeout",
            Failure::Invalid { kind, .. } => kind,
            Failure::InDialect { .. } => "dialect_refusal",
            Failure::TooLong { .. } => "too_long",
            Failure::UnsupportedSignType(_) => "sign_type",
            Failure::UnknownMerchant => "unknown_merchant",
            Failure::AppOfAnotherMerchant => "app_mismatch",
            Failure::BadSignature => "bad_signature",
            Failure::ReqTimeOutside { .. } => "req_time_outside",
            Failure::ReqTimeUnreadable(_) => "req_time_unreadable",
            Failure::CancelNotAllowed => "cancel_not_allowed",
            Failure::DuplicateInProgress => "duplicate_in_progress",
            Failure::EarlierOutcomeUnknown => "earlier_outcome_unknown",
            Failure::Overloaded => "overloaded",
            Failure::ReplayStoreDown => "replay_store_down",
            Failure::OrderNotFound { .. } => "order_not_found",
            Failure::NotClosable | Failure::CloseInProgress | Failure::Refused { .. } => "refused",
            Failure::OrderExists(_) => "order_exists",
            Failure::OrderParamsChanged(_) => "order_params_changed",
            Failure::OrderPaid(_) => "order_paid",
            Failure::RefundExists(_) => "refund_exists",
            Failure::WayCodeUnknown => "way_code_unknown",
            Failure::WayCodeUnsupported => "way_code_unsupported",
            Failure::RefundOfUnknownOrder { .. } => "order_not_found",
            Failure::NotRefundable
            | Failure::FullyRefunded
            | Failure::RefundInProgress
            | Failure::RefundOverBalance
            | Failure::RefundUnsupported => "refused",
            Failure::StoreDown => "store_down",
            Failure::NotifyUnconfigured => "notify_unconfigured",
            Failure::RefundOutcomePending { .. } => "refund_outcome_pending",
            Failure::Upstream(e) => e.kind(),
            Failure::Unverified { fault, .. } => match fault {
                AnswerFault::Malformed(_) => "upstream_malformed",
                AnswerFault::UnsignedSuccess => "upstream_unsigned_success",
                AnswerFault::BadSignature => "upstream_bad_signature",
                AnswerFault::Stale(_) => "upstream_stale_answer",
            },
            Failure::Rejected { code: 20052, .. } => "upstream_rejected_signature",
            Failure::Rejected { .. } => "upstream_rejected",
            Failure::NotFound(_) => "not_found",
            Failure::MethodNotAllowed(_) => "method_not_allowed",
            Failure::Internal => "internal",
        }
    }
}
