//! Reads of one upstream resource spaced at least an interval apart, each shared by every
//! request that waits for it.
//!
//! Some reads are made for callers nobody authenticates: the payer's browser on the return relay
//! (and the QR page's poll of it) makes paybridge query DaxPay with the merchant's identity. Left
//! alone, one browser (or a script holding the URL) could make paybridge query DaxPay as often as
//! it likes. Here a read of a key starts no sooner than `interval` after the last one started,
//! and every request that arrives before it starts waits for it and shares its result: at most
//! one upstream read per key per interval, whatever arrives. A result is never older than the
//! request it answers (a read already under way when a request arrives is not joined), so a
//! payer who has just paid is not told "unpaid" from a read made before: at worst they wait for
//! the next read.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Keys kept before the expired ones are swept (each key is a read recently made).
const SWEEP_ABOVE: usize = 1_024;

/// One read: when it starts, and its result once made.
struct Slot<V> {
    starts_at: Instant,
    value: OnceCell<V>,
}

/// Shared, spaced reads by key (see the module doc).
pub struct SharedReads<V> {
    interval: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

impl<V: Clone> SharedReads<V> {
    pub fn new(interval: Duration) -> Self {
        SharedReads {
            interval,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The result of a read of `key` that starts now or later: the one already due after now
    /// if there is one (joined), else a new one `read` makes, once `interval` has passed since
    /// the last one started.
    pub async fn read<F, Fut>(&self, key: &str, read: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = self.slot(key, Instant::now());
        let starts_at = slot.starts_at;
        slot.value
            .get_or_init(|| async move {
                tokio::time::sleep_until(starts_at).await;
                read().await
            })
            .await
            .clone()
    }

    /// The slot a request arriving at `now` joins: the latest one if it starts at or after
    /// `now` (it will read after this request arrived), else a new one.
    fn slot(&self, key: &str, now: Instant) -> Arc<Slot<V>> {
        // A poisoned lock only means another request panicked while holding it; the map itself
        // is still whole (each change is one insert or retain).
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let starts_at = match slots.get(key) {
            Some(slot) if slot.starts_at >= now => return slot.clone(),
            Some(slot) => now.max(slot.starts_at + self.interval),
            None => now,
        };
        if slots.len() >= SWEEP_ABOVE {
            let interval = self.interval;
            slots.retain(|_, s| s.starts_at + interval > now);
        }
        let slot = Arc::new(Slot {
            starts_at,
            value: OnceCell::new(),
        });
        slots.insert(key.to_owned(), slot.clone());
        slot
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A read that counts itself and answers its own number (1, 2, …).
    async fn counted(reads: &AtomicUsize) -> usize {
        tokio::task::yield_now().await;
        reads.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// `n` requests for key `T` at once, each answering the read it got.
    fn burst(
        shared: &Arc<SharedReads<usize>>,
        reads: &Arc<AtomicUsize>,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<usize>> {
        (0..n)
            .map(|_| {
                let (shared, reads) = (shared.clone(), reads.clone());
                tokio::spawn(async move { shared.read("T", || counted(&reads)).await })
            })
            .collect()
    }

    #[tokio::test]
    async fn a_burst_is_answered_by_two_reads_at_most() {
        // The first request's read starts at once; those arriving after it wait together for
        // the next one (a second later: time enough for all of them to arrive before it).
        let shared = Arc::new(SharedReads::new(Duration::from_secs(1)));
        let reads = Arc::new(AtomicUsize::new(0));
        for task in burst(&shared, &reads, 20) {
            assert!((1..=2).contains(&task.await.unwrap()));
        }
        assert!(reads.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn a_request_after_a_read_gets_a_new_read_after_the_interval() {
        let interval = Duration::from_millis(100);
        let shared = SharedReads::new(interval);
        let reads = AtomicUsize::new(0);
        let first = Instant::now();
        assert_eq!(shared.read("T", || counted(&reads)).await, 1);
        // Made after the first read: never its result, and not before the interval.
        assert_eq!(shared.read("T", || counted(&reads)).await, 2);
        assert!(first.elapsed() >= interval);
        assert_eq!(shared.read("T", || counted(&reads)).await, 3);
        assert!(first.elapsed() >= interval * 2);
    }

    #[tokio::test]
    async fn keys_are_spaced_on_their_own() {
        // A minute between reads of one key; another key does not wait for it.
        let shared = SharedReads::new(Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        assert_eq!(shared.read("T", || counted(&reads)).await, 1);
        let other = tokio::time::timeout(
            Duration::from_secs(30),
            shared.read("U", || counted(&reads)),
        );
        assert_eq!(other.await.expect("not spaced from T's read"), 2);
    }

    #[tokio::test]
    async fn requests_waiting_for_the_next_read_share_it() {
        // All of them arrive within the second before the next read.
        let shared = Arc::new(SharedReads::new(Duration::from_secs(1)));
        let reads = Arc::new(AtomicUsize::new(0));
        assert_eq!(shared.read("T", || counted(&reads)).await, 1);
        for task in burst(&shared, &reads, 20) {
            assert_eq!(task.await.unwrap(), 2);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_whose_reader_went_away_still_gets_its_read() {
        // The first request is dropped mid-read (its client hung up): the next one makes it.
        let shared = Arc::new(SharedReads::new(Duration::from_millis(10)));
        let reads = Arc::new(AtomicUsize::new(0));
        let hung_up = {
            let (shared, reads) = (shared.clone(), reads.clone());
            tokio::spawn(async move {
                shared
                    .read("T", || async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        counted(&reads).await
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        hung_up.abort();
        assert_eq!(shared.read("T", || counted(&reads)).await, 1);
    }

    #[tokio::test]
    async fn old_keys_are_swept_once_there_are_many() {
        let shared = SharedReads::new(Duration::from_millis(1));
        for n in 0..SWEEP_ABOVE + 10 {
            shared.read(&n.to_string(), || async { 0 }).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        shared.read("last", || async { 0 }).await;
        assert!(shared.keys() < SWEEP_ABOVE, "{}", shared.keys());
    }
}
