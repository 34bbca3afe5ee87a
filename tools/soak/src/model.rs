//! The model of the orders and the expectations an answer is checked against.

use bytes::Bytes;

use crate::requests::Req;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DaxState {
    /// wait or progress: the next close succeeds.
    Open(&'static str),
    /// closed or cancelled by an earlier request.
    Closed,
    /// paid: never closable.
    Paid,
}

#[derive(Clone, Debug)]
pub(crate) struct DaxOrder {
    pub(crate) index: usize,
    pub(crate) state: DaxState,
}

#[derive(Clone, Debug)]
pub(crate) struct LegacyOrder {
    pub(crate) id: String,
    pub(crate) open: bool,
}

/// What an answer must be: one of these, exactly.
#[derive(Clone)]
pub(crate) struct Alt {
    pub(crate) label: &'static str,
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// `body` is a prefix of the answer (for messages that carry the server's clock).
    pub(crate) prefix: bool,
}

pub(crate) fn alt(label: &'static str, status: u16, body: Vec<u8>) -> Alt {
    Alt {
        label,
        status,
        body,
        prefix: false,
    }
}

pub(crate) struct Expect {
    pub(crate) alts: Vec<Alt>,
    /// `x-paybridge-replay: true` must be present (duplicates) or absent (all others).
    pub(crate) replay: bool,
}

impl Expect {
    pub(crate) fn one(label: &'static str, status: u16, body: Vec<u8>) -> Expect {
        Expect {
            alts: vec![alt(label, status, body)],
            replay: false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let alts: Vec<String> = self
            .alts
            .iter()
            .map(|a| {
                format!(
                    "{} {}{}",
                    a.status,
                    String::from_utf8_lossy(&a.body),
                    if a.prefix { "…" } else { "" }
                )
            })
            .collect();
        format!("{} (replay: {})", alts.join(" | "), self.replay)
    }
}

/// A translated request answered definitively, which a duplicate must get again.
#[derive(Clone)]
pub(crate) struct Recorded {
    pub(crate) req: Req,
    pub(crate) answer: Bytes,
    /// The signature in the JSON body, for the lower-case variant.
    pub(crate) sign: Option<String>,
}
