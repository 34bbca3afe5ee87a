//! What a replay store holds and answers: the key of a request, an entry's verdict, and why a
//! store may fail.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A replay key: SHA-256 of the request's identity, so entries have a fixed size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn new(operation: &str, mch_no: &str, app_id: &str, sign: &str) -> Key {
        let mut h = Sha256::new();
        for part in [operation, mch_no, app_id] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part.as_bytes());
        }
        // Jeepay compares signatures case-insensitively: so must the replay key.
        let mut upper = [0u8; 64];
        for chunk in sign.as_bytes().chunks(upper.len()) {
            let upper = &mut upper[..chunk.len()];
            upper.copy_from_slice(chunk);
            upper.make_ascii_uppercase();
            h.update(&*upper);
        }
        Key(h.finalize().into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
    #[error("a duplicate of this request is still in progress")]
    StillInProgress,
}

/// The store's raw verdict, before a ticket is attached.
pub(crate) enum Verdict {
    Fresh,
    Replay(Bytes),
    /// Sent before, outcome unknown (or its claim's owner died): the earlier attempt may have
    /// been sent until `sent_until_ms` (milliseconds since the epoch).
    Retry {
        sent_until_ms: i64,
    },
}

/// Milliseconds since the epoch, the clock of replay records.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` plus `d`, saturating.
pub(crate) fn after(ms: i64, d: std::time::Duration) -> i64 {
    ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
