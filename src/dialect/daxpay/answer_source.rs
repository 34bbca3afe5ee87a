//! What reading a DaxPay answer needs to know about the upstream that gave it.

use time::UtcOffset;

use super::sign::Version;
use crate::domain::{AnswerFault, Failure};

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
