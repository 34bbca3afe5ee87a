//! The in-memory replay store: one process, bounded by entries and TTL (each entry its own).
//! It forgets everything on a restart (an exact retry after one is carried out as a first sight),
//! and is not shared: with several instances, each has its own.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use super::entry::{Key, StoreError, Verdict};

enum State {
    /// Being carried out; duplicates wait for the value to become `Some`.
    InFlight(watch::Sender<Option<Bytes>>),
    Done(Bytes),
    /// Sent, outcome unknown; it may have been sent until then (ms since the epoch).
    Unknown(i64),
}

struct Entry {
    state: State,
    expires: Instant,
    /// Distinguishes this entry from an older one under the same key in `order`.
    generation: u64,
}

struct Inner {
    entries: HashMap<Key, Entry>,
    /// Insertion order, for expiry and eviction.
    order: VecDeque<(Key, u64, Instant)>,
    next_generation: u64,
}

pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_entries: usize,
}

impl MemoryStore {
    pub fn new(max_entries: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_generation: 0,
            }),
            max_entries: max_entries.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) async fn claim(
        &self,
        key: Key,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Verdict, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut waiting = {
                let mut inner = self.lock()?;
                let now = Instant::now();
                inner.expire(now);
                match inner.entries.get_mut(&key) {
                    Some(e) if e.expires > now => match &e.state {
                        State::Done(answer) => return Ok(Verdict::Replay(answer.clone())),
                        State::Unknown(sent_until_ms) => {
                            let sent_until_ms = *sent_until_ms;
                            let (tx, _) = watch::channel(None);
                            e.state = State::InFlight(tx);
                            return Ok(Verdict::Retry { sent_until_ms });
                        }
                        State::InFlight(tx) => tx.subscribe(),
                    },
                    _ => {
                        inner.insert(key, ttl, now, self.max_entries);
                        return Ok(Verdict::Fresh);
                    }
                }
            };
            // A duplicate in flight: wait for its answer (or its release, then claim again).
            let changed =
                tokio::time::timeout_at(deadline, waiting.wait_for(Option::is_some)).await;
            match changed {
                Ok(Ok(answer)) => {
                    if let Some(bytes) = answer.clone() {
                        return Ok(Verdict::Replay(bytes));
                    }
                }
                Ok(Err(_released)) => continue,
                Err(_elapsed) => return Err(StoreError::StillInProgress),
            }
        }
    }

    pub(crate) fn complete(&self, key: Key, answer: Bytes, ttl: Duration) {
        if let Ok(mut inner) = self.lock() {
            if let Some(e) = inner.entries.get_mut(&key) {
                if let State::InFlight(tx) = &e.state {
                    let _ = tx.send(Some(answer.clone()));
                }
                e.state = State::Done(answer);
                e.expires = Instant::now() + ttl;
                let requeue = (key, e.generation, e.expires);
                inner.order.push_back(requeue);
            }
        }
    }

    pub(crate) fn mark_unknown(&self, key: Key, sent_until_ms: i64, ttl: Duration) {
        if let Ok(mut inner) = self.lock() {
            if let Some(e) = inner.entries.get_mut(&key) {
                // Waiting duplicates see the sender go and claim again: one of them retries.
                e.state = State::Unknown(sent_until_ms);
                e.expires = Instant::now() + ttl;
                let requeue = (key, e.generation, e.expires);
                inner.order.push_back(requeue);
            }
        }
    }

    pub(crate) fn release(&self, key: Key) {
        if let Ok(mut inner) = self.lock() {
            if matches!(
                inner.entries.get(&key).map(|e| &e.state),
                Some(State::InFlight(_))
            ) {
                inner.entries.remove(&key);
            }
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("replay store lock poisoned".to_owned()))
    }
}

impl Inner {
    fn insert(&mut self, key: Key, ttl: Duration, now: Instant, max: usize) {
        // Evict the oldest answered entries. An entry in flight is never evicted (its
        // duplicates wait on it): it goes back in the queue. At most one pass over the queue, so
        // with every entry in flight the store briefly holds more than `max` (in-flight entries
        // are bounded by the in-flight request limit anyway).
        let mut budget = self.order.len();
        while self.entries.len() >= max && budget > 0 {
            budget -= 1;
            let Some((old, generation, expires)) = self.order.pop_front() else {
                break;
            };
            match self.entries.get(&old) {
                Some(e) if e.generation == generation && matches!(e.state, State::InFlight(_)) => {
                    self.order.push_back((old, generation, expires));
                }
                Some(e) if e.generation == generation => {
                    self.entries.remove(&old);
                    metrics::counter!("paybridge_replay_evictions_total").increment(1);
                }
                _ => {}
            }
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let (tx, _) = watch::channel(None);
        self.entries.insert(
            key,
            Entry {
                state: State::InFlight(tx),
                expires: now + ttl,
                generation,
            },
        );
        self.order.push_back((key, generation, now + ttl));
    }

    /// Drops entries whose TTL ended, from the front of the queue (insertion order). TTLs differ
    /// per request (a `reqTime` ahead keeps its entry longer), so an expired entry may wait
    /// behind a longer-lived one: it is then ignored by `claim` (which checks `expires`) and
    /// removed later, or evicted first when the store is full.
    fn expire(&mut self, now: Instant) {
        while let Some(&(key, generation, expires)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.generation == generation && e.expires <= now)
            {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::replay::{Claim, Store};

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    const TTL: Duration = Duration::from_secs(60);
    const WAIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn the_first_answer_is_replayed() {
        let store = Store::Memory(Arc::new(MemoryStore::new(10)));
        let Claim::Fresh(t) = store.claim(key(1), TTL, WAIT).await.unwrap() else {
            panic!("fresh")
        };
        t.complete(Bytes::from_static(b"A")).await;
        let Claim::Replay(b) = store.claim(key(1), TTL, WAIT).await.unwrap() else {
            panic!("replay")
        };
        assert_eq!(b, "A");
    }

    #[tokio::test]
    async fn concurrent_duplicates_wait_for_the_first() {
        let store = Store::Memory(Arc::new(MemoryStore::new(10)));
        let Claim::Fresh(t) = store.claim(key(2), TTL, WAIT).await.unwrap() else {
            panic!("fresh")
        };
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move { store.claim(key(2), TTL, WAIT).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.complete(Bytes::from_static(b"B")).await;
        let Ok(Ok(Claim::Replay(b))) = waiter.await else {
            panic!("replayed to the waiter")
        };
        assert_eq!(b, "B");
    }

    #[tokio::test]
    async fn a_dropped_ticket_lets_a_retry_through_and_unknown_asks_for_resolution() {
        let store = Store::Memory(Arc::new(MemoryStore::new(10)));
        let Claim::Fresh(t) = store.claim(key(3), TTL, WAIT).await.unwrap() else {
            panic!()
        };
        drop(t);
        let Claim::Fresh(t) = store.claim(key(3), TTL, WAIT).await.unwrap() else {
            panic!("released")
        };
        t.unknown().await;
        let Claim::Retry(_, earlier) = store.claim(key(3), TTL, WAIT).await.unwrap() else {
            panic!("a retry")
        };
        assert!(earlier.sent_until_ms > 0);
    }

    #[tokio::test]
    async fn full_store_evicts_the_oldest_and_entries_expire() {
        let m = Arc::new(MemoryStore::new(2));
        let store = Store::Memory(m.clone());
        for n in 0..3 {
            let Claim::Fresh(t) = store.claim(key(n), TTL, WAIT).await.unwrap() else {
                panic!()
            };
            t.complete(Bytes::from_static(b"x")).await;
        }
        assert_eq!(m.len(), 2);
        assert!(matches!(
            store.claim(key(0), TTL, WAIT).await.unwrap(),
            Claim::Fresh(_)
        ));
        let short = Duration::from_millis(20);
        let Claim::Fresh(t) = store.claim(key(9), short, WAIT).await.unwrap() else {
            panic!()
        };
        t.complete(Bytes::from_static(b"y")).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(matches!(
            store.claim(key(9), short, WAIT).await.unwrap(),
            Claim::Fresh(_)
        ));
    }

    #[tokio::test]
    async fn an_entry_in_flight_is_not_evicted() {
        let m = Arc::new(MemoryStore::new(1));
        let store = Store::Memory(m.clone());
        let Claim::Fresh(first) = store.claim(key(7), TTL, WAIT).await.unwrap() else {
            panic!()
        };
        let Claim::Fresh(_other) = store.claim(key(8), TTL, WAIT).await.unwrap() else {
            panic!()
        };
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move { store.claim(key(7), TTL, WAIT).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        first.complete(Bytes::from_static(b"kept")).await;
        let Ok(Ok(Claim::Replay(b))) = waiter.await else {
            panic!("the duplicate got the first answer")
        };
        assert_eq!(b, "kept");
    }

    #[tokio::test]
    async fn a_duplicate_that_waits_too_long_is_told_so() {
        let store = Store::Memory(Arc::new(MemoryStore::new(10)));
        let Claim::Fresh(_t) = store.claim(key(4), TTL, WAIT).await.unwrap() else {
            panic!()
        };
        let r = store.claim(key(4), TTL, Duration::from_millis(30)).await;
        assert!(matches!(r, Err(StoreError::StillInProgress)));
    }
}
