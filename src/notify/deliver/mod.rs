//! The delivery worker: posts due notifications to merchants until each is acknowledged
//! (`SUCCESS`, any case, not trimmed: Jeepay's check), on Jeepay's schedule (the n-th retry
//! n × 30 s after the previous attempt, 6 attempts, 20 s each; `[notify]`).
//!
//! Jobs live in the order store's outbox. A worker leases the jobs it takes, so several
//! instances on one PostgreSQL never send one at the same time; a worker that dies leaves its
//! lease to expire, and the job is sent again by whichever instance takes it next (a merchant
//! may see a notification twice, as with Jeepay, never zero times). A merchant whose
//! `notify_hosts` no longer allow the URL is not posted to.
//!
//! An epay job ([`epay`]) is a GET instead, acknowledged when the answer contains `success`,
//! on epay's schedule (0/1/3/19/55 minutes) unless `[notify]` writes one; a V2 order's is signed
//! again at each attempt. Everything else (leases, the pool, fairness) is the same.
//!
//! **Fair delivery** (docs/notifications.md): a pool of at most `[notify] concurrency`
//! deliveries, refilled as soon as one finishes (no batch waits for its slowest job), at most
//! `per_host_concurrency` of them to one host, merchants served fewest-in-flight first
//! ([`fair`]). A merchant's endpoint that never answers holds its host's few slots for one
//! attempt timeout each; everyone else's notifications go through the rest of the pool. The
//! outbox stays the only state: the worker leases only what it starts at once, and what it
//! keeps in memory is the count of its own deliveries in flight.

mod attempt;
mod client;
mod epay;
pub(crate) mod fair;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::{Id, JoinSet};

use self::attempt::deliver;
use self::client::client_for;
use self::fair::{host_of, pick, InFlight};
use super::now_ms;
use crate::config::NotifyConfig;
use crate::proxy::runtime::Runtime;
use crate::store::{OrderStore, StoreError};

/// How many due jobs one look at the outbox reads to choose from. They come in merchants'
/// turns, so every merchant with a due job is among them as long as fewer than this many
/// merchants have one; jobs of a host at its cap are passed over and read again next time.
const CANDIDATES: i64 = 512;
/// How often the outbox's gauges are brought up to date.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// Starts the worker on the runtime `current` holds (a reload swaps it; the worker follows).
pub fn spawn(current: Arc<ArcSwap<Runtime>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(current))
}

/// The pool: deliveries in flight, and whose and where each is (for the fair picker's counts).
#[derive(Default)]
struct Pool {
    sending: JoinSet<()>,
    running: HashMap<Id, (String, String)>,
    in_flight: InFlight,
}

impl Pool {
    fn finished(&mut self, id: Id) {
        if let Some((mch_no, host)) = self.running.remove(&id) {
            self.in_flight.finish(&mch_no, &host);
        }
        metrics::gauge!("paybridge_notifications_in_flight").set(self.sending.len() as f64);
    }

    /// Every delivery that has finished by now, without waiting.
    fn reap(&mut self) {
        while let Some(done) = self.sending.try_join_next_with_id() {
            self.finished(done.map_or_else(|e| e.id(), |(id, ())| id));
        }
    }
}

async fn run(current: Arc<ArcSwap<Runtime>>) {
    let owner = format!(
        "{}-{}",
        std::process::id(),
        super::token().unwrap_or_else(|| now_ms().to_string())
    );
    let mut allow_private = current.load().config.notify.allow_private_targets;
    let mut client = client_for(allow_private);
    let mut stats_at = tokio::time::Instant::now();
    let mut pool = Pool::default();
    loop {
        let rt = current.load_full();
        let config = rt.config.notify.clone();
        if config.allow_private_targets != allow_private {
            allow_private = config.allow_private_targets;
            client = client_for(allow_private);
        }
        let woken = super::waker().notified();
        let mut look_again = false;
        if let Some(store) = rt.orders.clone() {
            if stats_at.elapsed() >= STATS_EVERY {
                stats_at = tokio::time::Instant::now();
                publish_stats(&store).await;
            }
            pool.reap();
            let free = config.concurrency.saturating_sub(pool.sending.len());
            match refill(&store, &owner, &config, &pool.in_flight, free).await {
                Ok((jobs, lost)) => {
                    for job in jobs {
                        let host = host_of(&job.url);
                        pool.in_flight.start(&job.mch_no, &host);
                        let mch_no = job.mch_no.clone();
                        let (client, store, config, owner, rt) = (
                            client.clone(),
                            store.clone(),
                            config.clone(),
                            owner.clone(),
                            rt.clone(),
                        );
                        let task = pool.sending.spawn(async move {
                            deliver(&client, &store, &config, &owner, &rt, job).await
                        });
                        pool.running.insert(task.id(), (mch_no, host));
                    }
                    metrics::gauge!("paybridge_notifications_in_flight")
                        .set(pool.sending.len() as f64);
                    // Another instance took some of the chosen jobs: others may be waiting.
                    look_again = lost;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the outbox cannot be read: notifications wait")
                }
            }
        }
        if look_again {
            continue;
        }
        // A delivery finishing (a slot or a host freed), a new job, or the poll.
        tokio::select! {
            Some(done) = pool.sending.join_next_with_id() => {
                pool.finished(done.map_or_else(|e| e.id(), |(id, ())| id));
            }
            () = woken => {}
            () = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// Chooses up to `free` due jobs fairly and leases them. Answers the leased jobs, in the order
/// to start them, and whether some chosen ones were taken by another instance meanwhile.
async fn refill(
    store: &OrderStore,
    owner: &str,
    config: &NotifyConfig,
    in_flight: &InFlight,
    free: usize,
) -> Result<(Vec<crate::store::Notification>, bool), StoreError> {
    if free == 0 {
        return Ok((Vec::new(), false));
    }
    let now = now_ms();
    let candidates = store.due_notifications(now, CANDIDATES).await?;
    let chosen = pick(&candidates, in_flight, free, config.per_host_concurrency);
    let lease = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    let leased = store
        .lease_notifications(owner, &chosen, now, lease)
        .await?;
    let lost = leased.len() < chosen.len();
    Ok((leased, lost))
}

async fn publish_stats(store: &OrderStore) {
    match store.outbox_stats().await {
        Ok(stats) => {
            metrics::gauge!("paybridge_notifications_pending").set(stats.pending as f64);
            metrics::gauge!("paybridge_notifications_failed").set(stats.failed as f64);
            let age = stats
                .oldest_pending_created_at_ms
                .map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
            metrics::gauge!("paybridge_notifications_oldest_pending_age_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "outbox statistics unavailable"),
    }
}
