//! Replay records in the order store: the answer to each signed state-changing request, so that
//! an exact retry gets the first answer again after a restart, and on another instance sharing
//! the database (the `replay_entries` table; `crate::replay` says how they are used).
//!
//! - **Claim:** one transaction reads the key's record and takes it when it is free: absent or
//!   expired (a first sight), `U` (sent, outcome unknown: a retry, which learns when the earlier
//!   attempt may last have been sent), or `P` whose lease has run out (its instance died: a retry
//!   too, sent perhaps until now). A `D` record is the answer; a `P` with a live lease is busy.
//! - **Lease:** an in-flight claim holds for a short lease, renewed by its owner while the request
//!   runs; only the owner renews or releases it. So a dead instance's claim is taken over within
//!   one lease, not after the record's whole lifetime. Leases compare the instances' clocks: they
//!   must agree to well within a lease (NTP).
//! - **Answers** keep the full lifetime; writing one needs no lease (it is the truth of a call
//!   that was made, whoever holds the claim meanwhile).
//!
//! The table is made by the store's migrations (`migrations/0005_replay.sql`).

use super::replay_rows::{ClaimAt, ReplayClaim};
use super::rows::StoreError;
use super::{Backend, OrderStore};

impl OrderStore {
    /// The store's migrations applied (the replay table among them). Idempotent; the replay
    /// store calls it once.
    pub async fn replay_ready(&self) -> Result<(), StoreError> {
        self.ready().await
    }

    /// Claims `at.key` for `at.owner` (see the module doc).
    pub async fn replay_claim(&self, at: ClaimAt) -> Result<ReplayClaim, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite(b) => b.replay_claim(at).await,
            Backend::Postgres(b) => b.replay_claim(&at).await,
        }
    }

    /// Extends `owner`'s in-flight claim to `lease_until_ms`; `false`: it is no longer held.
    pub async fn replay_renew(
        &self,
        key: &str,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        on_backend!(self, b => b.replay_renew(key, owner, lease_until_ms))
    }

    /// The definitive answer, kept until `expires_at_ms`.
    pub async fn replay_complete(
        &self,
        key: &str,
        answer: Vec<u8>,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.replay_complete(key, answer, expires_at_ms))
    }

    /// Sent, outcome unknown: the request may have been sent until `sent_until_ms`.
    pub async fn replay_unknown(
        &self,
        key: &str,
        sent_until_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.replay_unknown(key, sent_until_ms, expires_at_ms))
    }

    /// Frees `owner`'s in-flight claim (nothing was sent).
    pub async fn replay_release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        on_backend!(self, b => b.replay_release(key, owner))
    }

    /// Removes up to `limit` records dead at `now_ms`; answers how many.
    pub async fn replay_prune(&self, now_ms: i64, limit: i64) -> Result<u64, StoreError> {
        on_backend!(self, b => b.replay_prune(now_ms, limit))
    }
}
