//! Each operation's DaxPay wire form: the call and fields per version, the typed reading of a
//! verified answer, and DaxPay's refusal codes in canonical terms.

pub mod close;
pub mod pay;
pub mod pay_query;
pub mod refund;
pub mod refund_query;

use serde_json::Value;

pub use super::answer_source::Upstream;
use super::envelope::Fields;
use super::order_query::{pay_status, query_fields};
use super::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::{Failure, Operation, Unknown};

/// An operation as paybridge calls it on DaxPay.
pub trait DaxOp: Operation {
    /// Fixes what the request writes in the upstream's own terms (its zone, its unit), once
    /// the upstream is chosen; refuses what that version cannot do.
    fn bind(&mut self, _upstream: &Upstream<'_>) -> Result<(), Failure> {
        Ok(())
    }

    /// The payer's IP the call carries as DaxPay's `clientIp`, when the operation has one.
    fn client_ip(&self) -> Option<&str> {
        None
    }

    /// The call and the operation's own fields, for the upstream's version.
    fn request(&self, version: Version) -> (DaxCall, Fields<'_>);

    /// The lookup that tells whether a call whose outcome is unknown happened: by default the
    /// pay order it is about.
    fn probe(&self, version: Version) -> (DaxCall, Fields<'_>) {
        (DaxCall::PayQuery, query_fields(self.order(), version))
    }

    /// What the probe's verified answer (`None`: not found) says of the outcome.
    fn settle(
        &self,
        found: Option<&Value>,
        upstream: &Upstream<'_>,
    ) -> Result<Unknown<Self::Outcome>, Failure> {
        let status = found.map(|data| pay_status(data, upstream)).transpose()?;
        Ok(self.settle_unknown(status))
    }

    /// The outcome of a verified success, read from `data` as received.
    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<Self::Outcome, Failure>;

    /// A refusal in canonical terms. `verified`: the refusal was signed (or comes from 2.0,
    /// which never signs errors), so "no such order" may be relied on for a fallback.
    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        refusal(code, msg, verified, upstream)
    }

    /// Whether this failure leaves the outcome to be found out by reading the order.
    fn settled_by_query(&self, failure: &Failure) -> bool {
        failure.outcome_unknown()
    }
}

/// DaxPay's refusals common to every operation (translation.md): the merchant's business
/// errors as refusals, the operator's faults as rejections.
pub fn refusal(code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
    match code {
        20041 => Failure::OrderNotFound { verified },
        // Our signature rejected, or our DaxPay app unknown: configuration, not the merchant.
        20052 | 20023 => rejected(code, msg, upstream),
        // Channel failures and other business refusals (2.0 reports them as code 1).
        1 | 20000..=29999 => Failure::Refused { code, msg },
        _ => rejected(code, msg, upstream),
    }
}

/// Whether DaxPay signed it is the caller's to set (`proxy::call`): the code alone cannot say.
fn rejected(code: i64, msg: String, upstream: &str) -> Failure {
    Failure::Rejected {
        upstream: upstream.to_owned(),
        code,
        msg,
        signed: false,
    }
}
