//! The pruning task: every `[retention] every_ms`, what is finished and older than
//! `[retention] keep_days` (a paid order: also older than `keep_paid_days`, while refundable)
//! is deleted a batch at a time (`crate::store::retention` says what is
//! finished; nothing open or undelivered goes), then SQLite gives the space back.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::notify::now_ms;
use crate::proxy::runtime::Runtime;
use crate::store::{Cutoff, OrderStore, Pruned, StoreError};

/// Batches per run at most: a run that still finds work stops here and goes on at the next.
const MAX_BATCHES: usize = 1_000;

pub(super) async fn run(current: Arc<ArcSwap<Runtime>>) {
    loop {
        let rt = current.load_full();
        let config = rt.config.retention.clone();
        if let (Some(keep), Some(paid_keep), Some(store)) =
            (config.keep, config.paid_keep(), rt.orders.clone())
        {
            let before = |age: std::time::Duration| {
                now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
            };
            let cutoff = Cutoff {
                finished_ms: before(keep),
                paid_ms: before(paid_keep),
            };
            match prune(&store, cutoff, config.batch).await {
                Ok(pruned) if pruned.total() > 0 => tracing::info!(
                    notifications = pruned.notifications,
                    refunds = pruned.refunds,
                    pay_orders = pruned.pays,
                    attempts = pruned.attempts,
                    settlements = pruned.settlements,
                    "finished rows older than the retention pruned"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed: it is tried again later"),
            }
        }
        tokio::time::sleep(config.every).await;
    }
}

/// Prunes batch after batch until nothing is left to prune (or [`MAX_BATCHES`]).
pub async fn prune(store: &OrderStore, cutoff: Cutoff, batch: usize) -> Result<Pruned, StoreError> {
    let mut all = Pruned::default();
    for _ in 0..MAX_BATCHES {
        let pruned = store.prune(cutoff, batch).await?;
        all.notifications += pruned.notifications;
        all.refunds += pruned.refunds;
        all.pays += pruned.pays;
        all.attempts += pruned.attempts;
        all.settlements += pruned.settlements;
        for (kind, n) in [
            ("notification", pruned.notifications),
            ("refund", pruned.refunds),
            ("pay", pruned.pays),
            ("attempt", pruned.attempts),
            ("settlement", pruned.settlements),
        ] {
            metrics::counter!("paybridge_store_pruned_total", "kind" => kind).increment(n);
        }
        if pruned.total() == 0 {
            break;
        }
    }
    if all.total() > 0 {
        store.reclaim_space().await?;
    }
    Ok(all)
}
