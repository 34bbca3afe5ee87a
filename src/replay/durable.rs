//! The replay store kept in the order store (SQLite or PostgreSQL): the default. Its records
//! survive a restart, so an exact retry after one still gets the first answer (or, when the
//! first outcome was unknown, is resolved rather than carried out again); on PostgreSQL they are
//! shared by every instance. In-flight claims hold for a short lease renewed while the request
//! runs (`crate::store::replay`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::entry::{after, now_ms, Key, StoreError, Verdict};
use crate::store::{ClaimAt, OrderStore, ReplayClaim};

/// How often a waiting duplicate looks again (each look is a transaction).
const POLL: Duration = Duration::from_millis(50);
/// Every this many claims, dead records are pruned (a small batch).
const PRUNE_EVERY: u64 = 256;
const PRUNE_BATCH: i64 = 500;

pub struct DurableStore {
    /// `None`: the order store could not be opened; every claim answers unavailable.
    orders: Option<OrderStore>,
    lease: Duration,
    migrated: OnceCell<()>,
    claims: AtomicU64,
}

impl DurableStore {
    pub fn new(orders: Option<OrderStore>, lease: Duration) -> Self {
        DurableStore {
            orders,
            lease,
            migrated: OnceCell::new(),
            claims: AtomicU64::new(0),
        }
    }

    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    async fn orders(&self) -> Result<&OrderStore, StoreError> {
        let orders = self
            .orders
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the order store could not be opened".into()))?;
        self.migrated
            .get_or_try_init(|| orders.replay_ready())
            .await
            .map_err(unavailable)?;
        Ok(orders)
    }

    pub(crate) async fn claim(
        &self,
        key: Key,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Verdict, StoreError> {
        let orders = self.orders().await?;
        let deadline = tokio::time::Instant::now() + wait;
        let hex = key.hex();
        loop {
            let now = now_ms();
            let at = ClaimAt {
                key: hex.clone(),
                owner: owner.to_owned(),
                now_ms: now,
                lease_until_ms: after(now, self.lease),
                expires_at_ms: after(now, ttl),
            };
            match orders.replay_claim(at).await.map_err(unavailable)? {
                ReplayClaim::Fresh => {
                    self.prune_now_and_then(orders, now).await;
                    return Ok(Verdict::Fresh);
                }
                ReplayClaim::Retry { sent_until_ms } => {
                    return Ok(Verdict::Retry { sent_until_ms })
                }
                ReplayClaim::Replay(answer) => return Ok(Verdict::Replay(Bytes::from(answer))),
                ReplayClaim::Busy => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::StillInProgress);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn prune_now_and_then(&self, orders: &OrderStore, now: i64) {
        if !self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY)
        {
            return;
        }
        if let Err(e) = orders.replay_prune(now, PRUNE_BATCH).await {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "replay store: pruning dead records failed"
            );
        }
    }

    /// Extends `owner`'s lease; `false`: the record is no longer its.
    pub(crate) async fn renew(&self, key: Key, owner: &str) -> Result<bool, StoreError> {
        let orders = self.orders().await?;
        orders
            .replay_renew(&key.hex(), owner, after(now_ms(), self.lease))
            .await
            .map_err(unavailable)
    }

    pub(crate) async fn complete(&self, key: Key, answer: Bytes, ttl: Duration) {
        let written = match self.orders().await {
            Ok(orders) => orders
                .replay_complete(&key.hex(), answer.to_vec(), after(now_ms(), ttl))
                .await
                .map_err(unavailable),
            Err(e) => Err(e),
        };
        warn_unwritten(written);
    }

    pub(crate) async fn mark_unknown(&self, key: Key, sent_until_ms: i64, ttl: Duration) {
        let written = match self.orders().await {
            Ok(orders) => orders
                .replay_unknown(&key.hex(), sent_until_ms, after(now_ms(), ttl))
                .await
                .map_err(unavailable),
            Err(e) => Err(e),
        };
        warn_unwritten(written);
    }

    pub(crate) async fn release(&self, key: Key, owner: &str) {
        if let Ok(orders) = self.orders().await {
            if let Err(e) = orders.replay_release(&key.hex(), owner).await {
                tracing::warn!(
                    error = crate::telemetry::text(&e).as_str(),
                    "replay store: release failed; the claim lapses with its lease"
                );
            }
        }
    }
}

fn warn_unwritten(written: Result<(), StoreError>) {
    if let Err(e) = written {
        tracing::warn!(
            error = crate::telemetry::text(&e).as_str(),
            "replay store: write failed; a retry cannot learn this outcome"
        );
    }
}

fn unavailable(e: crate::store::StoreError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
