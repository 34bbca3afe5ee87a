//! Replay records on PostgreSQL (`crate::store::replay` says what each call means). A claim is
//! one transaction: the insert of a first sight, or the record locked (`FOR UPDATE`) and taken;
//! instances claiming one key at once are served in turn.

use tokio_postgres::Row;

use super::{bounded, get, unavailable, Postgres};
use crate::store::replay_rows::{
    self as replay, decide, ClaimAt, Decision, ReplayClaim, ReplayRow,
};
use crate::store::rows::StoreError;

impl Postgres {
    pub(crate) async fn replay_claim(&self, at: &ClaimAt) -> Result<ReplayClaim, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            // A record released between the insert and the read is free again: once more.
            for _ in 0..3 {
                let tx = client.transaction().await.map_err(unavailable)?;
                let inserted = tx
                    .execute(
                        replay::INSERT,
                        &[&at.key, &at.owner, &at.lease_until_ms, &at.expires_at_ms],
                    )
                    .await
                    .map_err(unavailable)?;
                if inserted == 1 {
                    tx.commit().await.map_err(unavailable)?;
                    return Ok(ReplayClaim::Fresh);
                }
                let Some(found) = tx
                    .query_opt(replay::SELECT_FOR_UPDATE, &[&at.key])
                    .await
                    .map_err(unavailable)?
                else {
                    continue;
                };
                let claim = match decide(Some(read_row(&found)?), at.now_ms) {
                    Decision::Answer(claim) => claim,
                    Decision::Take { sent_until_ms } => {
                        tx.execute(
                            replay::TAKE,
                            &[
                                &at.key,
                                &at.owner,
                                &at.lease_until_ms,
                                &sent_until_ms,
                                &at.expires_at_ms,
                            ],
                        )
                        .await
                        .map_err(unavailable)?;
                        Decision::taken(sent_until_ms)
                    }
                };
                tx.commit().await.map_err(unavailable)?;
                return Ok(claim);
            }
            Err(StoreError::Unavailable(
                "replay key contended; try again".to_owned(),
            ))
        })
        .await
    }

    pub(crate) async fn replay_renew(
        &self,
        key: &str,
        owner: &str,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.execute_with(replay::RENEW, &[&key, &owner, &lease_until_ms])
            .await
            .map(|n| n == 1)
    }

    pub(crate) async fn replay_complete(
        &self,
        key: &str,
        answer: Vec<u8>,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute_with(replay::COMPLETE, &[&key, &answer, &expires_at_ms])
            .await
            .map(drop)
    }

    pub(crate) async fn replay_unknown(
        &self,
        key: &str,
        sent_until_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute_with(replay::UNKNOWN, &[&key, &sent_until_ms, &expires_at_ms])
            .await
            .map(drop)
    }

    pub(crate) async fn replay_release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.execute_with(replay::RELEASE, &[&key, &owner])
            .await
            .map(drop)
    }

    pub(crate) async fn replay_prune(&self, now_ms: i64, limit: i64) -> Result<u64, StoreError> {
        self.execute_with(replay::PRUNE, &[&now_ms, &limit]).await
    }
}

fn read_row(r: &Row) -> Result<ReplayRow, StoreError> {
    Ok(ReplayRow {
        state: get(r, 0)?,
        answer: get(r, 1)?,
        lease_until_ms: get(r, 3)?,
        sent_until_ms: get(r, 4)?,
        expires_at_ms: get(r, 5)?,
    })
}
