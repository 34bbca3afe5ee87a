//! Background settlement: every pay order and refund paybridge wrote is followed up by a signed
//! query on DaxPay, backing off, until DaxPay says it is final; then the merchant's notification
//! is queued if its state calls for one, however paybridge would otherwise have learnt it.
//!
//! Callbacks are hints that can be lost (DaxPay 2.0.8 tries once by default; a refund that fails
//! synchronously is never called back, lifecycle.md §6.2; an answer can be lost between DaxPay and
//! paybridge). Without this worker such an order or refund would be right at DaxPay and silent
//! towards the merchant. With it, every row is final at DaxPay, queued to the merchant, or
//! reported: still open after `[settlement] give_up_after_secs`, it is `abandoned`, counted in
//! `paybridge_settlement_abandoned` and listed for the operator.
//!
//! The ledger is `crate::store::settlement`: entries leased like the outbox's jobs, so several
//! instances on one PostgreSQL database check each row once at a time, and a row left by a dead
//! instance is taken again when its lease is over. What a check finds:
//!
//! | DaxPay says | the entry | the merchant |
//! |---|---|---|
//! | pay `success`, `close`, `cancel`, `fail`, `timeout` | final | notified as a callback would (`notify::jobs::pay_state`) |
//! | pay `wait`, `progress` | checked again later | — |
//! | refund `success`, `fail`, `close` | final | notified: state 2 or 3 |
//! | refund `progress` | checked again later | — |
//! | not found, and no request of the row can land any more | gone: the row released | — |
//! | refused (not found, …), no verified answer | checked again later; abandoned after the age | — |
//! | refund `fail`/`close` while another request of it may land | checked again later | — |
//! | the row is no longer in the store | gone (its call certainly failed) | — |
//!
//! A final entry is never checked again, so a stale query cannot take a row back; the outbox
//! writes one job per order and state, so a callback and a check that both find a success queue
//! one notification.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinSet;

use crate::config::SettlementConfig;
use crate::notify::now_ms;
use crate::proxy::runtime::Runtime;
use crate::replay::landing::{attempt_window, Window};
use crate::store::{
    CheckResult, OrderStore, Settlement, SettlementKind, SettlementStatus, StoreError,
};
use check::{apply, observe, Observed};

mod check;
mod expiry;
pub mod reconcile;
pub mod retention;

/// How often the ledger's gauges are brought up to date.
const STATS_EVERY: Duration = Duration::from_secs(5);
/// How often rows without an entry are looked for (after the first look, at start).
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Starts the worker, and the pruning of what is finished ([`retention`]), on the runtime
/// `current` holds (a reload swaps it; both follow).
pub fn spawn(current: Arc<ArcSwap<Runtime>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::join!(run(current.clone()), retention::run(current));
    })
}

async fn run(current: Arc<ArcSwap<Runtime>>) {
    let owner = format!(
        "{}-{}",
        std::process::id(),
        crate::notify::token().unwrap_or_else(|| now_ms().to_string())
    );
    let mut stats_at: Option<tokio::time::Instant> = None;
    let mut swept_at: Option<tokio::time::Instant> = None;
    loop {
        let rt = current.load_full();
        let config = rt.config.settlement.clone();
        if let (true, Some(store)) = (config.enabled, rt.orders.clone()) {
            if swept_at.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) && sweep(&store).await.is_ok()
            {
                swept_at = Some(tokio::time::Instant::now());
            }
            if stats_at.is_none_or(|at| at.elapsed() >= STATS_EVERY) {
                stats_at = Some(tokio::time::Instant::now());
                publish_stats(&store).await;
            }
            match claim(&store, &config, &owner).await {
                Ok(due) if !due.is_empty() => {
                    let mut checking = JoinSet::new();
                    for entry in due {
                        let (rt, store, owner) = (rt.clone(), store.clone(), owner.clone());
                        checking.spawn(async move { settle(&rt, &store, &owner, entry).await });
                    }
                    while checking.join_next().await.is_some() {}
                    // More may be due: look again at once.
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the settlement ledger cannot be read: checks wait")
                }
            }
        }
        tokio::time::sleep(config.poll).await;
    }
}

/// Enrols rows that have no entry (written before the ledger existed, or a crash between the
/// row and its entry).
async fn sweep(store: &OrderStore) -> Result<(), StoreError> {
    match store.enroll_missing(now_ms()).await {
        Ok(0) => Ok(()),
        Ok(n) => {
            tracing::info!(rows = n, "rows without a settlement entry enrolled");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "rows without a settlement entry could not be enrolled");
            Err(e)
        }
    }
}

async fn claim(
    store: &OrderStore,
    config: &SettlementConfig,
    owner: &str,
) -> Result<Vec<Settlement>, StoreError> {
    let now = now_ms();
    let written_by = now.saturating_sub(millis(config.first_check_after));
    let limit = i64::try_from(config.concurrency).unwrap_or(i64::MAX);
    store
        .claim_due_settlements(owner, now, written_by, millis(config.lease), limit)
        .await
}

/// Checks one entry and records what it found.
async fn settle(rt: &Runtime, store: &OrderStore, owner: &str, entry: Settlement) {
    let config = &rt.config.settlement;
    let found = check(rt, store, &entry).await;
    let now = now_ms();
    let outcome = found.label();
    let result = match found {
        Found::Final(state) => CheckResult {
            status: SettlementStatus::Final,
            dax_state: Some(state.to_owned()),
            next_check_at_ms: now,
            error: None,
            settled_at_ms: Some(now),
        },
        Found::Gone => CheckResult {
            status: SettlementStatus::Gone,
            dax_state: None,
            next_check_at_ms: now,
            error: None,
            settled_at_ms: Some(now),
        },
        Found::Open { dax_state, error } => {
            let age = now.saturating_sub(entry.created_at_ms);
            if age >= millis(config.give_up_after) {
                tracing::error!(
                    kind = entry.kind.as_str(),
                    mch_no = entry.mch_no.as_str(),
                    number = entry.number.as_str(),
                    dax_state = dax_state.unwrap_or("unknown"),
                    error = error.as_deref().unwrap_or(""),
                    "an order still not final at DaxPay is left to the operator (paybridge reconcile)"
                );
            }
            CheckResult {
                status: if age >= millis(config.give_up_after) {
                    SettlementStatus::Abandoned
                } else {
                    SettlementStatus::Open
                },
                dax_state: dax_state.map(str::to_owned),
                next_check_at_ms: now
                    .saturating_add(millis(config.next_delay(entry.checks.saturating_add(1)))),
                error,
                settled_at_ms: None,
            }
        }
    };
    metrics::counter!("paybridge_settlement_checks_total", "kind" => entry.kind.as_str(), "outcome" => outcome)
        .increment(1);
    match store.record_check(entry.id, owner, &result).await {
        Ok(true) if result.status == SettlementStatus::Gone => {
            // The number may have been written again between the look and the record: then
            // the new row is followed afresh (an insert's own enrolment found this entry open).
            reopen_if_written_again(store, &entry).await;
        }
        Ok(true) => {}
        // Another instance took it after our lease ran out: its check stands.
        Ok(false) => tracing::warn!(
            number = entry.number.as_str(),
            "a settlement check outlived its lease; the other instance's check stands"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "a settlement check could not be recorded: it is repeated")
        }
    }
}

async fn reopen_if_written_again(store: &OrderStore, entry: &Settlement) {
    let now = now_ms();
    let again = match entry.kind {
        SettlementKind::Pay => store
            .pay_by_mch_order_no(&entry.mch_no, &entry.number)
            .await
            .map(|row| row.map(|r| r.created_at_ms)),
        SettlementKind::Refund => store
            .refund_by_mch_refund_no(&entry.mch_no, &entry.number)
            .await
            .map(|row| row.map(|r| r.created_at_ms)),
    };
    if let Ok(Some(created_at_ms)) = again {
        if let Err(e) = store
            .enroll(entry.kind, &entry.mch_no, &entry.number, now, created_at_ms)
            .await
        {
            tracing::warn!(error = %e, "a number written again is left to the sweep");
        }
    }
}

/// What one check found.
enum Found {
    /// DaxPay's final state (its name as DaxPay spells it).
    Final(&'static str),
    /// Not final yet, or not known: DaxPay's state if it said one, else why not.
    Open {
        dax_state: Option<&'static str>,
        error: Option<String>,
    },
    /// The row is no longer in the store.
    Gone,
}

impl Found {
    fn label(&self) -> &'static str {
        match self {
            Found::Final(_) => "final",
            Found::Open {
                dax_state: Some(_), ..
            } => "open",
            Found::Open {
                dax_state: None, ..
            } => "unknown",
            Found::Gone => "gone",
        }
    }

    fn unknown(why: impl Into<String>) -> Found {
        Found::Open {
            dax_state: None,
            error: Some(why.into()),
        }
    }
}

/// Looks at the entry's row and DaxPay's record, and applies what follows.
async fn check(rt: &Runtime, store: &OrderStore, entry: &Settlement) -> Found {
    let looked_at = now_ms();
    let view = match observe(rt, store, entry.kind, &entry.mch_no, &entry.number).await {
        Observed::Seen(view) => view,
        Observed::NotAtDaxPay => {
            return release_if_it_cannot_land(rt, store, entry, looked_at).await
        }
        Observed::Unknown(why) => return Found::unknown(why),
        Observed::Gone => return Found::Gone,
    };
    // What DaxPay 2.0 never finishes by itself (an expired order, a refund not called back) is
    // synced with its channel and read again first.
    let view = expiry::finish_stuck(rt, store, entry, view).await;
    if let Err(why) = apply(store, &view).await {
        return Found::unknown(why);
    }
    if view.is_final() {
        Found::Final(view.state())
    } else {
        Found::Open {
            dax_state: Some(view.state()),
            error: None,
        }
    }
}

/// DaxPay has no such order or refund. Once none of the row's requests can land any more (each
/// answered, or past its latest landing moment, `replay::landing`) before DaxPay was asked,
/// that is proof that nothing was made: the pending row is released (the merchant may use the
/// number again, as Jeepay allows after a failed create) and its entry is `gone`, instead of
/// being followed for `give_up_after_secs` and then abandoned. On an upstream that declares no
/// request expiry (DaxPay 3.x by default) nothing is ever proof, and the row waits as before.
async fn release_if_it_cannot_land(
    rt: &Runtime,
    store: &OrderStore,
    entry: &Settlement,
    looked_at: i64,
) -> Found {
    let not_found = || Found::unknown("not at DaxPay");
    let (kind, mch_no, number) = (entry.kind, &entry.mch_no, &entry.number);
    let Ok(Some(attempts)) = store.attempt_windows(kind, mch_no, number).await else {
        return not_found();
    };
    // A row from before attempts were recorded, or whose count and attempts differ: no proof.
    let complete = i64::try_from(attempts.windows.len()).ok() == Some(attempts.live);
    if !attempts.pending || attempts.windows.is_empty() || !complete {
        return not_found();
    }
    let Some(expiry) = check::request_expiry(rt, store, kind, mch_no, number).await else {
        return not_found();
    };
    // An attempt DaxPay answered without making the order (a "number taken") is no proof of
    // absence either.
    let cannot_land = attempts.windows.iter().all(|w| {
        !w.answered
            && attempt_window(w.created_at_ms, w.sent_until_ms, false, expiry, looked_at)
                == Window::Closed
    });
    if !cannot_land {
        return not_found();
    }
    match store.release(kind, mch_no, number, attempts.live).await {
        Ok(true) => {
            tracing::info!(
                kind = kind.as_str(),
                mch_no = mch_no.as_str(),
                "a row whose requests never reached DaxPay and can no longer land: released"
            );
            metrics::counter!("paybridge_settlement_released_total", "kind" => kind.as_str())
                .increment(1);
            Found::Gone
        }
        Ok(false) => not_found(),
        Err(e) => Found::unknown(e.to_string()),
    }
}

/// The ledger's gauges: rows not final yet, the age of the oldest, rows left to the operator.
async fn publish_stats(store: &OrderStore) {
    match store.settlement_stats().await {
        Ok(stats) => {
            metrics::gauge!("paybridge_settlement_open").set(stats.open as f64);
            metrics::gauge!("paybridge_settlement_abandoned").set(stats.abandoned as f64);
            let oldest = stats.oldest_open_created_at_ms.map_or(0.0, |at| {
                (now_ms().saturating_sub(at)).max(0) as f64 / 1000.0
            });
            metrics::gauge!("paybridge_settlement_oldest_open_age_seconds").set(oldest);
        }
        Err(e) => tracing::warn!(error = %e, "the settlement ledger's statistics cannot be read"),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
