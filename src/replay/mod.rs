//! Idempotent replay: the same signed request seen again within the window gets the first answer
//! again, without reaching the upstream a second time; concurrent duplicates are coalesced so that
//! only one goes upstream.
//!
//! The key is (operation, `mchNo`, `appId`, `sign` upper-cased): a valid signature cannot be
//! forged, so only the merchant (or someone replaying its request) can hit an entry. Only verified
//! requests are stored, and only definitive answers are replayed; an answer whose outcome is
//! unknown is remembered as such, with the latest moment the request may have been sent, so that
//! a retry resolves the outcome by a lookup instead of repeating it ([`landing`] says when a
//! retry may send again).
//!
//! Stores: in the order store (the default: SQLite or PostgreSQL, surviving restarts, shared by
//! instances on one PostgreSQL database), Redis (several instances behind one load balancer), or
//! in memory (one instance; forgets on restart; bounded by entries and TTL, the oldest entry
//! evicted when full, counted in `paybridge_replay_evictions_total`). In the order store and
//! Redis an in-flight claim holds for a short lease that a heartbeat renews while the request
//! runs: the claim of an instance that died is taken over within one lease.

mod durable;
mod entry;
pub mod landing;
mod memory;
pub mod probe;
mod redis_store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::AbortHandle;

pub use durable::DurableStore;
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
    /// Seen before, outcome unknown (or its claim's owner died): find out by a lookup; send
    /// again only as [`landing`] allows; then complete.
    Retry(Ticket, Earlier),
}

/// An earlier attempt of a request whose outcome is unknown.
#[derive(Clone, Debug)]
pub struct Earlier {
    /// The latest moment (ms since the epoch) it may have been sent.
    pub sent_until_ms: i64,
    /// Set when this retry sends the request again (its ticket then records a new moment).
    resent: Arc<AtomicBool>,
}

impl Earlier {
    /// This retry is about to send the request again: from now on it is the one that may land.
    pub fn resending(&self) {
        self.resent.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
    Orders(Arc<DurableStore>),
}

impl Store {
    /// Claims `key` for `ttl`; waits at most `wait` for an in-flight duplicate to finish.
    pub async fn claim(
        &self,
        key: Key,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Claim, StoreError> {
        let owner = owner_token();
        let verdict = match self {
            Store::Memory(m) => m.claim(key, ttl, wait).await?,
            Store::Redis(r) => r.claim(key, &owner, ttl, wait).await?,
            Store::Orders(d) => d.claim(key, &owner, ttl, wait).await?,
        };
        let ticket = |earlier: Option<&Earlier>| Ticket {
            store: Some(self.clone()),
            key,
            ttl,
            heartbeat: self.heartbeat(key, &owner),
            owner: owner.clone(),
            earlier: earlier.cloned(),
        };
        Ok(match verdict {
            Verdict::Fresh => Claim::Fresh(ticket(None)),
            Verdict::Replay(b) => Claim::Replay(b),
            Verdict::Retry { sent_until_ms } => {
                let earlier = Earlier {
                    sent_until_ms,
                    resent: Arc::new(AtomicBool::new(false)),
                };
                Claim::Retry(ticket(Some(&earlier)), earlier)
            }
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
            Store::Orders(_) => "orders",
        }
    }

    /// Renews a shared store's lease on `key` while its request runs (a third of the lease
    /// apart); a store in memory needs none (it dies with its instance).
    fn heartbeat(&self, key: Key, owner: &str) -> Option<AbortHandle> {
        let lease = match self {
            Store::Memory(_) => return None,
            Store::Redis(r) => r.lease(),
            Store::Orders(d) => d.lease(),
        };
        let (store, owner) = (self.clone(), owner.to_owned());
        let beat = tokio::spawn(async move {
            let mut every = tokio::time::interval(lease / 3);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let renewed = match &store {
                    Store::Redis(r) => r.renew(key, &owner).await,
                    Store::Orders(d) => d.renew(key, &owner).await,
                    Store::Memory(_) => return,
                };
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("replay store: the claim was taken over; no longer renewed");
                        return;
                    }
                    Err(e) => tracing::warn!(
                        error = crate::telemetry::text(&e).as_str(),
                        "replay store: renewing a claim failed; trying again"
                    ),
                }
            }
        });
        Some(beat.abort_handle())
    }
}

/// Who holds a claim: 16 random hex digits.
fn owner_token() -> String {
    let mut bytes = [0u8; 8];
    crate::random::fill(&mut bytes);
    hex::encode(bytes)
}

/// The right to carry out one request. Dropped without an outcome (an error before anything
/// was sent, a panic), the claim is released so that a retry goes upstream.
pub struct Ticket {
    store: Option<Store>,
    key: Key,
    ttl: Duration,
    owner: String,
    heartbeat: Option<AbortHandle>,
    /// For a retry: the earlier attempt (its moment stands unless this one sends again).
    earlier: Option<Earlier>,
}

impl Ticket {
    /// The definitive answer: replayed to duplicates until the TTL ends.
    pub async fn complete(mut self, answer: Bytes) {
        self.stop_heartbeat();
        if let Some(store) = self.store.take() {
            match store {
                Store::Memory(m) => m.complete(self.key, answer, self.ttl),
                Store::Redis(r) => r.complete(self.key, answer, self.ttl).await,
                Store::Orders(d) => d.complete(self.key, answer, self.ttl).await,
            }
        }
    }

    /// Sent, but the outcome is unknown: a retry must resolve it. A retry that did not send
    /// again keeps the earlier attempt's moment (so waiting retries do not put off for ever the
    /// moment it can no longer land).
    pub async fn unknown(mut self) {
        self.stop_heartbeat();
        let sent_until_ms = match &self.earlier {
            Some(e) if !e.resent.load(Ordering::SeqCst) => e.sent_until_ms,
            _ => entry::now_ms(),
        };
        if let Some(store) = self.store.take() {
            match store {
                Store::Memory(m) => m.mark_unknown(self.key, sent_until_ms, self.ttl),
                Store::Redis(r) => r.mark_unknown(self.key, sent_until_ms, self.ttl).await,
                Store::Orders(d) => d.mark_unknown(self.key, sent_until_ms, self.ttl).await,
            }
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(beat) = self.heartbeat.take() {
            beat.abort();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.stop_heartbeat();
        let Some(store) = self.store.take() else {
            return;
        };
        // A retry whose claim is dropped leaves the earlier attempt unknown, as it was.
        if let Some(earlier) = self.earlier.take() {
            let (key, ttl) = (self.key, self.ttl);
            let resent = earlier.resent.load(Ordering::SeqCst);
            let sent_until_ms = if resent {
                entry::now_ms()
            } else {
                earlier.sent_until_ms
            };
            match store {
                Store::Memory(m) => m.mark_unknown(key, sent_until_ms, ttl),
                Store::Redis(r) => spawn(async move {
                    r.mark_unknown(key, sent_until_ms, ttl).await;
                }),
                Store::Orders(d) => spawn(async move {
                    d.mark_unknown(key, sent_until_ms, ttl).await;
                }),
            }
            return;
        }
        let (key, owner) = (self.key, std::mem::take(&mut self.owner));
        match store {
            Store::Memory(m) => m.release(key),
            Store::Redis(r) => spawn(async move { r.release(key, &owner).await }),
            Store::Orders(d) => spawn(async move { d.release(key, &owner).await }),
        }
    }
}

/// Runs `work` on the current runtime, if there is one (a dying runtime drops it: its claim
/// then lapses with its lease).
fn spawn(work: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(work);
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
