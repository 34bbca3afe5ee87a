//! Replay records on SQLite (`crate::store::replay` says what each call means). A claim runs in
//! an IMMEDIATE transaction: another process on the same file waits for it rather than taking
//! the same key.

use rusqlite::{params, OptionalExtension, Row};

use super::conn::{exec, query_one};
use super::{read_error, unavailable, Sqlite};
use crate::store::replay_rows::{
    self as replay, decide, ClaimAt, Decision, ReplayClaim, ReplayRow,
};
use crate::store::rows::StoreError;

impl Sqlite {
    pub(crate) async fn replay_claim(&self, at: ClaimAt) -> Result<ReplayClaim, StoreError> {
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let inserted = exec(
                conn,
                replay::INSERT,
                params![at.key, at.owner, at.lease_until_ms, at.expires_at_ms],
            )
            .map_err(unavailable)?;
            let claim = if inserted == 1 {
                ReplayClaim::Fresh
            } else {
                let found = query_one(conn, replay::SELECT, params![at.key], read_row)
                    .optional()
                    .map_err(read_error)?;
                match decide(found, at.now_ms) {
                    Decision::Answer(claim) => claim,
                    Decision::Take { sent_until_ms } => {
                        exec(
                            conn,
                            replay::TAKE,
                            params![
                                at.key,
                                at.owner,
                                at.lease_until_ms,
                                sent_until_ms,
                                at.expires_at_ms
                            ],
                        )
                        .map_err(unavailable)?;
                        Decision::taken(sent_until_ms)
                    }
                }
            };
            tx.commit().map_err(unavailable)?;
            Ok(claim)
        })
        .await
    }

    pub(crate) async fn replay_renew(
        &self,
        key: &str,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.call(move |conn| {
            exec(conn, replay::RENEW, params![key, owner, lease_until_ms])
                .map(|n| n == 1)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn replay_complete(
        &self,
        key: &str,
        answer: Vec<u8>,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.call(move |conn| {
            exec(conn, replay::COMPLETE, params![key, answer, expires_at_ms])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn replay_unknown(
        &self,
        key: &str,
        sent_until_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.call(move |conn| {
            exec(
                conn,
                replay::UNKNOWN,
                params![key, sent_until_ms, expires_at_ms],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn replay_release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        self.call(move |conn| {
            exec(conn, replay::RELEASE, params![key, owner])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn replay_prune(&self, now_ms: i64, limit: i64) -> Result<u64, StoreError> {
        self.call(move |conn| {
            exec(conn, replay::PRUNE, params![now_ms, limit])
                .map(|n| n as u64)
                .map_err(unavailable)
        })
        .await
    }
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<ReplayRow> {
    Ok(ReplayRow {
        state: r.get(0)?,
        answer: r.get(1)?,
        lease_until_ms: r.get(3)?,
        sent_until_ms: r.get(4)?,
        expires_at_ms: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::{ClaimAt, OrderStore, ReplayClaim};

    fn at(owner: &str, now_ms: i64) -> ClaimAt {
        ClaimAt {
            key: "k1".to_owned(),
            owner: owner.to_owned(),
            now_ms,
            lease_until_ms: now_ms + 100,
            expires_at_ms: now_ms + 10_000,
        }
    }

    #[tokio::test]
    async fn a_claim_lives_by_its_lease_and_its_outcome_by_the_ttl() {
        let url = crate::config::StoreUrl::parse("sqlite::memory:").unwrap();
        let store = OrderStore::open(&url).unwrap();
        store.replay_ready().await.unwrap();
        store.replay_ready().await.unwrap();
        assert_eq!(
            store.replay_claim(at("a", 1_000)).await.unwrap(),
            ReplayClaim::Fresh
        );
        // Held under a live lease, renewed by its owner only.
        assert_eq!(
            store.replay_claim(at("b", 1_050)).await.unwrap(),
            ReplayClaim::Busy
        );
        assert!(store.replay_renew("k1", "a", 1_200).await.unwrap());
        assert!(!store.replay_renew("k1", "b", 1_300).await.unwrap());
        assert_eq!(
            store.replay_claim(at("b", 1_150)).await.unwrap(),
            ReplayClaim::Busy
        );
        // The lease lapses (its owner died): taken over, sent perhaps until now.
        assert_eq!(
            store.replay_claim(at("b", 1_250)).await.unwrap(),
            ReplayClaim::Retry {
                sent_until_ms: 1_250
            }
        );
        // Only the holder releases; an unknown outcome keeps its moment.
        store.replay_release("k1", "a").await.unwrap();
        assert_eq!(
            store.replay_claim(at("c", 1_260)).await.unwrap(),
            ReplayClaim::Busy
        );
        store.replay_unknown("k1", 1_240, 20_000).await.unwrap();
        assert_eq!(
            store.replay_claim(at("c", 1_300)).await.unwrap(),
            ReplayClaim::Retry {
                sent_until_ms: 1_240
            }
        );
        store
            .replay_complete("k1", b"answer".to_vec(), 20_000)
            .await
            .unwrap();
        assert_eq!(
            store.replay_claim(at("d", 1_400)).await.unwrap(),
            ReplayClaim::Replay(b"answer".to_vec())
        );
        // Dead records are pruned; a dead one is a first sight.
        assert_eq!(store.replay_prune(19_999, 10).await.unwrap(), 0);
        assert_eq!(
            store.replay_claim(at("e", 20_000)).await.unwrap(),
            ReplayClaim::Fresh
        );
        store.replay_release("k1", "e").await.unwrap();
        assert_eq!(
            store.replay_claim(at("f", 20_001)).await.unwrap(),
            ReplayClaim::Fresh
        );
        store
            .replay_complete("k1", b"x".to_vec(), 30_000)
            .await
            .unwrap();
        assert_eq!(store.replay_prune(30_000, 10).await.unwrap(), 1);
    }
}
