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
    /// A verified refusal for a reason of the merchant's (a channel failure, ...), in the
    /// gateway's own words.
    #[error("gateway refused with code {code}: {msg}")]
    Refused { code: i64, msg: String },
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
    /// clock, an unknown DaxPay app, a DaxPay system error): nothing happened.
    #[error("upstream {upstream}: refused with code {code}: {msg}")]
    Rejected {
        upstream: String,
        code: i64,
        msg: String,
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
            Failure::Unverified { .. } => true,
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
        )
    }

    /// The operator's fault, not the merchant's: logged in full as a warning.
    pub fn is_operator_fault(&self) -> bool {
        matches!(
            self,
            Failure::Upstream(_) | Failure::Unverified { .. } | Failure::Rejected { .. }
        )
    }

    /// A short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Unreadable(_) => "conversion",
            Failure::BodyTooLarge { .. } => "body_too_large",
            Failure::BodyTimeout => "body_timeout",
            Failure::Invalid { kind, .. } => kind,
            Failure::UnsupportedSignType(_) => "sign_type",
            Failure::UnknownMerchant => "unknown_merchant",
            Failure::AppOfAnotherMerchant => "app_mismatch",
            Failure::BadSignature => "bad_signature",
            Failure::ReqTimeOutside { .. } => "req_time_outside",
            Failure::ReqTimeUnreadable(_) => "req_time_unreadable",
            Failure::CancelNotAllowed => "cancel_not_allowed",
            Failure::DuplicateInProgress => "duplicate_in_progress",
            Failure::Overloaded => "overloaded",
            Failure::ReplayStoreDown => "replay_store_down",
            Failure::OrderNotFound { .. } => "order_not_found",
            Failure::NotClosable | Failure::CloseInProgress | Failure::Refused { .. } => "refused",
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
