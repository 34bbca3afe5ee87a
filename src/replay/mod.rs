//! Idempotent replay: the same signed request seen again within the window gets the first answer
//! again, without reaching the upstream a second time; concurrent duplicates are coalesced so that
//! only one goes upstream.
//!
//! The key is (operation, `mchNo`, `appId`, `sign` upper-cased): a valid signature cannot be
//! forged, so only the merchant (or someone replaying its request) can hit an entry. Only verified
//! requests are stored, and only definitive answers are replayed; an answer whose outcome is
//! unknown is remembered as such, so that a retry resolves the outcome instead of repeating it.
//!
//! Stores: in memory (one instance; bounded by entries and TTL; when full the oldest entry is
//! evicted, counted in `paybridge_replay_evictions_total`) or Redis (several instances behind one
//! load balancer).

mod entry;
mod memory;
pub mod probe;
mod redis_store;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub(crate) use entry::Verdict;
pub use entry::{Key, StoreError};
pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// What the store says about a request.
pub enum Claim {
    /// First sight: carry it out, then [`Ticket::complete`] (or [`Ticket::unknown`]).
    Fresh(Ticket),
    /// Seen before and answered definitively: answer with these bytes.
    Replay(Bytes),
    /// Seen before, outcome unknown: carry it out again (resolving first), then complete.
    Retry(Ticket),
}

#[derive(Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
}

impl Store {
    /// Claims `key` for `ttl`; waits at most `wait` for an in-flight duplicate to finish.
    pub async fn claim(
        &self,
        key: Key,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Claim, StoreError> {
        match self {
            Store::Memory(m) => m
                .claim(key, ttl, wait)
                .await
                .map(|c| c.into_claim(self.clone(), key, ttl)),
            Store::Redis(r) => r
                .claim(key, ttl, wait)
                .await
                .map(|c| c.into_claim(self.clone(), key, ttl)),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }
}

/// The right to carry out one request. Dropped without an outcome (an error before anything
/// was sent, a panic), the claim is released so that a retry goes upstream.
pub struct Ticket {
    store: Option<Store>,
    key: Key,
    ttl: Duration,
}

impl Ticket {
    /// The definitive answer: replayed to duplicates until the TTL ends.
    pub async fn complete(mut self, answer: Bytes) {
        if let Some(store) = self.store.take() {
            match store {
                Store::Memory(m) => m.complete(self.key, answer, self.ttl),
                Store::Redis(r) => r.complete(self.key, answer, self.ttl).await,
            }
        }
    }

    /// Sent, but the outcome is unknown: a retry must resolve it.
    pub async fn unknown(mut self) {
        if let Some(store) = self.store.take() {
            match store {
                Store::Memory(m) => m.mark_unknown(self.key, self.ttl),
                Store::Redis(r) => r.mark_unknown(self.key, self.ttl).await,
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            match store {
                Store::Memory(m) => m.release(self.key),
                Store::Redis(r) => {
                    let key = self.key;
                    if let Ok(handle) = tokio::runtime::Handle::try_current() {
                        handle.spawn(async move { r.release(key).await });
                    }
                }
            }
        }
    }
}

impl Verdict {
    fn into_claim(self, store: Store, key: Key, ttl: Duration) -> Claim {
        let ticket = || Ticket {
            store: Some(store.clone()),
            key,
            ttl,
        };
        match self {
            Verdict::Fresh => Claim::Fresh(ticket()),
            Verdict::Replay(b) => Claim::Replay(b),
            Verdict::Retry => Claim::Retry(ticket()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The key as first written: the upper-cased signature hashed whole.
    fn reference(operation: &str, mch_no: &str, app_id: &str, sign: &str) -> Key {
        let mut h = Sha256::new();
        for part in [operation, mch_no, app_id] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.update(sign.to_ascii_uppercase().as_bytes());
        Key(h.finalize().into())
    }

    #[test]
    fn the_signature_counts_whatever_its_case_and_length() {
        let lower = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
        assert_eq!(
            Key::new("close", "M1", "app", lower),
            Key::new("close", "M1", "app", &lower.to_ascii_uppercase())
        );
        assert_ne!(
            Key::new("close", "M1", "app", lower),
            Key::new("cancel", "M1", "app", lower)
        );
        for sign in ["", lower, &"aB".repeat(32), &"cD9".repeat(70), "签名ab"] {
            assert_eq!(
                Key::new("close", "M1", "app", sign),
                reference("close", "M1", "app", sign),
                "{sign}"
            );
        }
    }
}
