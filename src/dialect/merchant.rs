//! The seam between the pipeline and a merchant dialect (Jeepay, epay): what is per dialect
//! ([`MerchantDialect`]: reading the parameters, identifying the merchant, verifying, the replay
//! identity) and what is per operation and dialect ([`MerchantOp`]: the canonical operation
//! read from a verified request, and its success rendered). A failure is rendered by
//! `dialect::failures`, in the dialect and for the endpoint the request came in at.
//!
//! The pipeline (`proxy/pipeline.rs`), records, replay, settlement, ownership and routing are
//! written against these traits and name no dialect. Adding a dialect is: a type implementing
//! [`MerchantDialect`], `MerchantOp<ThatDialect>` for each domain operation it serves, its
//! endpoints in `dispatch.rs`, and an arm in `dialect::failures` (docs/architecture.md).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};

use crate::config::{Config, Merchant};
use crate::dispatch::{Endpoint, OpKind};
use crate::domain::{Failure, Operation};

/// The raw request as a dialect reads its parameters from it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub method: &'a Method,
    /// The `Content-Type` header (`""` when absent or not text).
    pub content_type: &'a str,
    /// The raw query string (without `?`).
    pub query: Option<&'a str>,
    pub body: &'a [u8],
    /// The `User-Agent` header (epay's `submit.php` sniffs the payer's browser).
    pub user_agent: Option<&'a str>,
    /// The TCP peer (epay's `submit.php` takes the payer's IP from it).
    pub peer: Option<std::net::IpAddr>,
}

/// An answer in the merchant's dialect (a success, or a failure rendered).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: HeaderValue,
    pub body: Bytes,
    /// The answer's `code`, for the access log (`None`: it has none, e.g. an HTML page).
    pub code: Option<i64>,
}

/// The merchant identity a request names, as routing sees it (before any verification).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Jeepay `mchNo`.
    pub mch_no: Option<&'a str>,
    /// Jeepay `appId`.
    pub app_id: Option<&'a str>,
    /// epay `pid`.
    pub pid: Option<&'a str>,
}

/// A verified request: the dialect's form of it for the operation to read, the merchant it is
/// from, and what the pipeline needs to know of it in no dialect's terms.
pub struct Checked<R, A> {
    /// The request, for [`MerchantOp::read`].
    pub request: R,
    pub merchant: Arc<Merchant>,
    /// Identifies this signed request for idempotent replay (Jeepay: its MD5 signature; epay
    /// V2: its signature). `None`: the request is not claimed in the replay store.
    pub replay_id: Option<String>,
    /// When the request stops passing the dialect's freshness check (`None`: it has none): its
    /// replay entry must live at least until then.
    pub fresh_until: Option<SystemTime>,
    /// What the answer needs beyond the outcome (epay: the endpoint, the platform key).
    pub answering: A,
}

/// What the order store keeps of the order a request names, in the merchant's dialect (epay:
/// its `trade_no`, origin and `type`), and what was refunded of it so far through paybridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// paybridge's number for the order in the dialect (epay's `trade_no`).
    pub trade_no: String,
    /// The merchant's own order number (epay's `out_trade_no`).
    pub out_trade_no: String,
    /// Where the order came in (epay: `v1`, `v2`).
    pub origin: String,
    /// The dialect's pay type (epay `type`; `""` when none).
    pub pay_type: String,
    /// The refunds DaxPay accepted for it, summed (`None`: not known).
    pub refunded: Option<crate::domain::order::Fen>,
}

/// A merchant dialect.
pub trait MerchantDialect: Sized + Send + Sync + 'static {
    /// The request's parameters as read (before verification), for routing and verification.
    type Params<'a>: Send + Sync;
    /// A verified request, as the dialect's operations read it.
    type Verified<'p>;
    /// What rendering a success needs beyond the outcome and the merchant (owned).
    type Answering: Send + Sync;

    /// Reads the request's parameters as the dialect's gateway does, for `endpoint` (`None`:
    /// a path that is no operation, read for routing only). `declared`: the operation's
    /// declared fields ([`MerchantOp::FIELDS`]; Jeepay binds to them).
    fn read_params<'a>(
        inbound: &Inbound<'a>,
        endpoint: Option<Endpoint>,
        declared: &'static [&'static str],
    ) -> Result<Self::Params<'a>, Failure>;

    /// The merchant identity the parameters name, for routing.
    fn identity<'p>(params: &'p Self::Params<'_>) -> Identity<'p>;

    /// A refusal the dialect answers before routing (an identity it cannot bind), if any.
    fn identity_refusal(_params: &Self::Params<'_>) -> Option<Failure> {
        None
    }

    /// Whether a legacy gateway's answer in this dialect says the order does not exist (the
    /// cue for a fallback to DaxPay). Anything else (another error, an empty body, a success)
    /// is no reason to fall back.
    fn says_no_such_order(status: StatusCode, body: &[u8]) -> bool;

    /// Whether the legacy gateway's answer to a request at `endpoint` that fell back to it (an
    /// order DaxPay verifiably does not have) is an answer in this dialect. A foreign one
    /// (another gateway's bytes from the same host, a web server's error page) is not relayed:
    /// the merchant gets paybridge's own "does not exist" in its dialect. By default every
    /// answer is relayed as it is (Jeepay's fallback).
    fn answers_in_dialect(_endpoint: Endpoint, _status: StatusCode, _body: &[u8]) -> bool {
        true
    }

    /// What the order store keeps of the order a successful request was about
    /// ([`OrderFacts`]), given just before [`MerchantOp::answer`], for the dialect to keep in
    /// its `Answering`. Called only for merchants whose dialect keeps numbers of its own
    /// (`Merchant::keeps_dialect_orders`) and orders paybridge made for them.
    fn learnt(_answering: &mut Self::Answering, _facts: OrderFacts) {}

    /// Finds the merchant, verifies the signature and the freshness, with the dialect's checks
    /// and words, in its order.
    fn verify<'p, 'a: 'p>(
        params: &'p Self::Params<'a>,
        endpoint: Endpoint,
        config: &Config,
    ) -> Result<Checked<Self::Verified<'p>, Self::Answering>, Failure>;
}

/// An operation as a dialect's merchants call it.
pub trait MerchantOp<D: MerchantDialect>: Operation + Sized {
    /// The fields its request declares, for a dialect that binds to declared fields (Jeepay);
    /// `&[]` otherwise.
    const FIELDS: &'static [&'static str];

    /// The canonical operation, read from a verified request with the dialect's own checks
    /// and words.
    fn read(request: &D::Verified<'_>, kind: OpKind, merchant: &Merchant) -> Result<Self, Failure>;

    /// The operation a request of `kind` from `merchant` becomes, with no order named (what
    /// `paybridge route` explains).
    fn sample(kind: OpKind, merchant: &Merchant) -> Self;

    /// paybridge's own number for the order the request names, when the dialect has one
    /// (epay's `trade_no`): the pipeline looks it up in the order store, and the order is
    /// named by the merchant number it was given for (a number paybridge never gave is "order
    /// not found", verified). `None`: the request names its order by [`Operation::order`].
    fn trade_no(_request: &D::Verified<'_>) -> Option<String> {
        None
    }

    /// The answer to a success.
    fn answer(
        &self,
        outcome: &Self::Outcome,
        answering: &D::Answering,
        merchant: &Merchant,
    ) -> Answer;
}
