//! Each operation's DaxPay wire form: the call and fields per version, the typed reading of a
//! verified answer, and DaxPay's refusal codes in canonical terms.

pub mod close;
pub mod pay_query;

use serde_json::Value;
use time::UtcOffset;

use super::envelope::Fields;
use super::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::{AnswerFault, Failure, Operation};

/// What reading an answer needs to know about the upstream.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    pub name: &'a str,
    pub version: Version,
    pub utc_offset: UtcOffset,
}

impl Upstream<'_> {
    /// An answer that cannot be read as the operation's result.
    pub fn malformed(&self, why: impl Into<String>) -> Failure {
        Failure::Unverified {
            upstream: self.name.to_owned(),
            fault: AnswerFault::Malformed(why.into()),
        }
    }
}

/// An operation as paybridge calls it on DaxPay.
pub trait DaxOp: Operation {
    /// The call and the operation's own fields, for the upstream's version.
    fn request(&self, version: Version) -> (DaxCall, Fields<'_>);

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

fn rejected(code: i64, msg: String, upstream: &str) -> Failure {
    Failure::Rejected {
        upstream: upstream.to_owned(),
        code,
        msg,
    }
}
