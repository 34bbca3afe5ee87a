//! The Redis replay store, shared by several paybridge instances.
//!
//! One string per key: `P<owner>` while in flight, `U<ms>` when the outcome is unknown (the
//! request may have been sent until then, ms since the epoch), `D<answer>` when answered; each
//! lives for the entry's TTL. Beside an in-flight entry, `<key>:lease` holds its owner for a
//! short lease that the owner renews while the request runs: an entry whose lease is gone
//! belongs to an instance that died, and is taken over at once (as a retry whose earlier attempt
//! may have been sent until now), not after the entry's whole lifetime. Leases expire on Redis's
//! clock, so instances' clocks do not matter. Claims are one script each (atomic); duplicates of
//! an in-flight request poll until it is answered or its lease is gone.
//!
//! Entries written by earlier versions (`P`, `U` with nothing after) are read as in flight with
//! a lease that never lapses (as then) and as unknown since now.

use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::entry::{now_ms, Key, StoreError, Verdict};

const POLL: Duration = Duration::from_millis(20);

/// Takes the entry when it is free: absent, unknown, or in flight without a lease.
/// KEYS: entry, lease. ARGV: owner, entry TTL ms, lease ms.
/// Answers `{'F'}` fresh, `{'R', sent}` retry, `{'D', answer}` answered, `{'W'}` wait.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
local function take()
  redis.call('SET', KEYS[1], 'P' .. ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
end
if not v then take() return {'F'} end
local t = string.sub(v, 1, 1)
if t == 'D' then return {'D', string.sub(v, 2)} end
if t == 'U' then take() return {'R', string.sub(v, 2)} end
if t == 'P' and string.len(v) > 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  take() return {'R', ''}
end
return {'W'}
";

/// Extends the lease if the entry is still the owner's. KEYS: entry, lease. ARGV: owner, ms.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == 'P' .. ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) return 1
end
return 0
";

/// Frees the entry if it is still the owner's. KEYS: entry, lease. ARGV: owner.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == 'P' .. ARGV[1] then
  return redis.call('DEL', KEYS[1], KEYS[2])
end
return 0
";

/// Writes the outcome and drops the lease. KEYS: entry, lease. ARGV: value, TTL ms.
const SETTLE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
";

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    lease: Duration,
    claim: Script,
    renew: Script,
    release: Script,
    settle: Script,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); in-flight claims hold for `lease`, renewed.
    pub async fn connect(url: &str, lease: Duration) -> Result<Self, StoreError> {
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
            lease,
            claim: Script::new(CLAIM),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
            settle: Script::new(SETTLE),
        })
    }

    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    fn keys(&self, key: Key) -> (String, String) {
        let entry = format!("{}{}", self.prefix, key.hex());
        let lease = format!("{entry}:lease");
        (entry, lease)
    }

    pub(crate) async fn claim(
        &self,
        key: Key,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Verdict, StoreError> {
        let (entry, lease) = self.keys(key);
        let deadline = tokio::time::Instant::now() + wait;
        let mut conn = self.conn.clone();
        loop {
            let answer: Vec<Vec<u8>> = self
                .claim
                .key(&entry)
                .key(&lease)
                .arg(owner)
                .arg(millis(ttl))
                .arg(millis(self.lease))
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            match answer.first().map(Vec::as_slice) {
                Some(b"F") => return Ok(Verdict::Fresh),
                Some(b"D") => {
                    let stored = answer.get(1).cloned().unwrap_or_default();
                    return Ok(Verdict::Replay(Bytes::from(stored)));
                }
                Some(b"R") => {
                    let sent = answer.get(1).map(Vec::as_slice).unwrap_or_default();
                    let sent_until_ms = std::str::from_utf8(sent)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(now_ms);
                    return Ok(Verdict::Retry { sent_until_ms });
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::StillInProgress);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Extends `owner`'s lease; `false`: the entry is no longer its.
    pub(crate) async fn renew(&self, key: Key, owner: &str) -> Result<bool, StoreError> {
        let (entry, lease) = self.keys(key);
        let mut conn = self.conn.clone();
        let renewed: i32 = self
            .renew
            .key(&entry)
            .key(&lease)
            .arg(owner)
            .arg(millis(self.lease))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    pub(crate) async fn complete(&self, key: Key, answer: Bytes, ttl: Duration) {
        let mut value = Vec::with_capacity(answer.len() + 1);
        value.push(b'D');
        value.extend_from_slice(&answer);
        self.settle(key, value, ttl).await;
    }

    pub(crate) async fn mark_unknown(&self, key: Key, sent_until_ms: i64, ttl: Duration) {
        self.settle(key, format!("U{sent_until_ms}").into_bytes(), ttl)
            .await;
    }

    pub(crate) async fn release(&self, key: Key, owner: &str) {
        let (entry, lease) = self.keys(key);
        let mut conn = self.conn.clone();
        let result: Result<i32, _> = self
            .release
            .key(&entry)
            .key(&lease)
            .arg(owner)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "replay store: release failed; the claim lapses with its lease"
            );
        }
    }

    async fn settle(&self, key: Key, value: Vec<u8>, ttl: Duration) {
        let (entry, lease) = self.keys(key);
        let mut conn = self.conn.clone();
        let result: Result<i32, _> = self
            .settle
            .key(&entry)
            .key(&lease)
            .arg(value)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "replay store: write failed; a retry cannot learn this outcome"
            );
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
