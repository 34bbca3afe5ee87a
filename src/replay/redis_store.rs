//! The Redis replay store, shared by several paybridge instances.
//!
//! One string per key: `P` while in flight, `U` when the outcome is unknown, `D<answer>` when
//! answered. Claims are atomic (`SET NX`, and a script for taking over an unknown one);
//! duplicates of an in-flight request poll until it is answered.

use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::entry::{Key, StoreError, Verdict};

const IN_FLIGHT: &[u8] = b"P";
const UNKNOWN: &[u8] = b"U";
const POLL: Duration = Duration::from_millis(20);

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    take_unknown: Script,
    release: Script,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Bounded waits: a replay check must not hold a payment call for long.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(RedisStore {
            conn,
            prefix: "paybridge:replay:".to_owned(),
            take_unknown: Script::new(
                "if redis.call('GET', KEYS[1]) == 'U' then redis.call('SET', KEYS[1], 'P', 'PX', ARGV[1]) return 1 else return 0 end",
            ),
            release: Script::new("if redis.call('GET', KEYS[1]) == 'P' then return redis.call('DEL', KEYS[1]) else return 0 end"),
        })
    }

    fn key(&self, key: Key) -> String {
        format!("{}{}", self.prefix, key.hex())
    }

    pub(crate) async fn claim(
        &self,
        key: Key,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Verdict, StoreError> {
        let name = self.key(key);
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let deadline = tokio::time::Instant::now() + wait;
        let mut conn = self.conn.clone();
        loop {
            let set: Option<String> = redis::cmd("SET")
                .arg(&name)
                .arg(IN_FLIGHT)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if set.is_some() {
                return Ok(Verdict::Fresh);
            }
            let value: Option<Vec<u8>> = conn.get(&name).await.map_err(unavailable)?;
            match value.as_deref() {
                // Expired between the two commands: claim again.
                None => continue,
                Some(v) if v == UNKNOWN => {
                    let taken: i32 = self
                        .take_unknown
                        .key(&name)
                        .arg(ttl_ms)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(unavailable)?;
                    if taken == 1 {
                        return Ok(Verdict::Retry);
                    }
                }
                Some(v) if v.first() == Some(&b'D') => {
                    return Ok(Verdict::Replay(Bytes::copy_from_slice(&v[1..])))
                }
                Some(_) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::StillInProgress);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(crate) async fn complete(&self, key: Key, answer: Bytes, ttl: Duration) {
        let mut value = Vec::with_capacity(answer.len() + 1);
        value.push(b'D');
        value.extend_from_slice(&answer);
        self.set(key, value, ttl).await;
    }

    pub(crate) async fn mark_unknown(&self, key: Key, ttl: Duration) {
        self.set(key, UNKNOWN.to_vec(), ttl).await;
    }

    pub(crate) async fn release(&self, key: Key) {
        let mut conn = self.conn.clone();
        let result: Result<i32, _> = self
            .release
            .key(self.key(key))
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "replay store: release failed; the entry expires with its TTL"
            );
        }
    }

    async fn set(&self, key: Key, value: Vec<u8>, ttl: Duration) {
        let mut conn = self.conn.clone();
        let result: Result<(), _> = conn
            .pset_ex(self.key(key), value, ttl.as_millis().max(1) as u64)
            .await;
        if let Err(e) = result {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "replay store: write failed; a duplicate may reach the upstream"
            );
        }
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
