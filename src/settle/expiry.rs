//! Orders and refunds DaxPay 2.0.8 never finishes by itself, finished by asking it to sync them.
//!
//! 2.0.8 ships the Quartz jobs that close expired orders (`PayExpiredTimeTask`,
//! `PayExpiredByDbTimeTask`) and sync refunds (`RefundSyncTask`) stopped (lifecycle-2.0.md §7.4),
//! and it does not apply a channel's success callback that arrives after the order's
//! `expiredTime` (§7.1: "only a sync fixes such an order"). So on a default installation an unpaid
//! order stays `progress` after it expired, an order the payer paid at the last moment stays
//! `progress` although the channel has the money, and a WeChat or UnionPay refund whose callback
//! never came stays `progress`: the worker would poll each for `give_up_after_secs` and abandon it.
//!
//! On a 2.0 upstream only, when a check finds
//! - a pay order still `progress` more than [`EXPIRY_MARGIN_MS`] past its `expiredTime`, or
//! - a refund still `progress` `[settlement] refund_sync_after_secs` after paybridge wrote it,
//!
//! the worker asks DaxPay to sync it with its channel (`/unipay/sync/pay`, `/unipay/sync/refund`;
//! `dialect::daxpay::ops::sync`), then reads it again, and that signed record is settled like any
//! other check's: paid → the merchant notified; closed → final, not notified as paid; a refund's
//! success → notified. The sync's own answer is only logged: it is the channel's word, not the
//! order's state. A sync that fails (no answer, a refusal, an answer that does not verify)
//! changed nothing at DaxPay (its transaction is rolled back), and the row is simply checked
//! again at its next turn, which the worker's backoff spaces (at most every `max_interval_ms`).
//! DaxPay 3.x runs these jobs by default: its rows are left as they are.

use super::check::{observe, Observed, Seen, View};
use crate::config::{Merchant, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::ops::sync::{pay_sync, refund_sync, remote_status};
use crate::dialect::daxpay::Version;
use crate::dispatch::DaxCall;
use crate::domain::order::{PayStatus, RefundOrderStatus};
use crate::domain::Failure;
use crate::notify::intake;
use crate::notify::now_ms;
use crate::notify::signed_call::{signed_call, CallError};
use crate::proxy::runtime::Runtime;
use crate::store::{OrderStore, Settlement};

/// How long past its `expiredTime` an order still `progress` is synced. A minute, as 2.0.8's
/// own expiry job waits (`PayExpiredTimeService` registers `expiredTime` + 1 min): time for a
/// payment made at the last moment to be known at the channel, and for the clocks of paybridge
/// and DaxPay to differ a little (DaxPay closes an unpaid order only once *its* clock is past).
pub(crate) const EXPIRY_MARGIN_MS: i64 = 60_000;

/// Why a sync did not answer.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error("not sent: {0}")]
    NotSendable(Failure),
    #[error(transparent)]
    Call(#[from] CallError),
}

impl SyncError {
    fn label(&self) -> &'static str {
        match self {
            SyncError::Call(CallError::Refused { .. }) => "refused",
            _ => "failed",
        }
    }
}

/// The row's record, after a sync when DaxPay itself will not finish it (see the module doc);
/// otherwise `view` as it was.
pub(super) async fn finish_stuck(
    rt: &Runtime,
    store: &OrderStore,
    entry: &Settlement,
    view: Box<View>,
) -> Box<View> {
    if view.version != Version::V2_0 || view.is_final() {
        return view;
    }
    let Some(upstream) = upstream_of(rt, store, &view.seen).await else {
        return view;
    };
    let merchant = &view.merchant;
    let now = now_ms();
    let synced = match &view.seen {
        Seen::Pay(_, order) if order.status == PayStatus::Progress => {
            // No expiry (2.0.8 gives `wallet_pay` orders none): nothing to wait for.
            let Some(expires) = order.expires_at_ms else {
                return view;
            };
            if now < expires.saturating_add(EXPIRY_MARGIN_MS) {
                return view;
            }
            tracing::info!(
                mch_no = entry.mch_no.as_str(),
                number = entry.number.as_str(),
                order_no = order.order_no.as_str(),
                "a DaxPay 2.0 order still paying after it expired: asking DaxPay to sync it"
            );
            let sync = pay_sync(&order.order_no, &order.biz_order_no);
            send(rt, merchant, &upstream, entry, sync).await
        }
        Seen::Refund(row, record) if record.status == RefundOrderStatus::Progress => {
            let age_ms = now.saturating_sub(row.created_at_ms);
            let after = rt.config.settlement.refund_sync_after;
            if u128::try_from(age_ms).unwrap_or(0) < after.as_millis() {
                return view;
            }
            tracing::info!(
                mch_no = entry.mch_no.as_str(),
                number = entry.number.as_str(),
                refund_no = record.refund_no.as_str(),
                "a DaxPay 2.0 refund still in progress: asking DaxPay to sync it"
            );
            let sync = refund_sync(&record.refund_no, &record.biz_refund_no);
            send(rt, merchant, &upstream, entry, sync).await
        }
        _ => return view,
    };
    if !synced {
        return view;
    }
    match observe(rt, store, entry.kind, &entry.mch_no, &entry.number).await {
        Observed::Seen(after) => after,
        // Not read again: the record before the sync is settled now, and the row read again
        // at its next check.
        _ => view,
    }
}

/// Sends one sync and logs what came of it; whether DaxPay answered it.
async fn send(
    rt: &Runtime,
    merchant: &Merchant,
    upstream: &Upstream,
    entry: &Settlement,
    sync: Result<(DaxCall, Fields<'_>), Failure>,
) -> bool {
    let outcome = match sync {
        Ok((call, fields)) => signed_call(rt, merchant, upstream, call, fields)
            .await
            .map(|data| remote_status(call, &data))
            .map_err(SyncError::from),
        Err(failure) => Err(SyncError::NotSendable(failure)),
    };
    let label = match &outcome {
        Ok(channel_said) => {
            tracing::info!(
                number = entry.number.as_str(),
                channel_said = channel_said.unwrap_or("unknown"),
                "DaxPay synced it with the channel: read again"
            );
            "answered"
        }
        Err(e) => {
            tracing::warn!(
                number = entry.number.as_str(),
                upstream = upstream.name.as_str(),
                error = %e,
                "DaxPay's sync did not answer: tried again at the next check"
            );
            e.label()
        }
    };
    metrics::counter!("paybridge_settlement_syncs_total", "kind" => entry.kind.as_str(), "outcome" => label)
        .increment(1);
    outcome.is_ok()
}

/// The upstream the row was made on (a refund's: its pay order's, as the check read it).
async fn upstream_of(
    rt: &Runtime,
    store: &OrderStore,
    seen: &Seen,
) -> Option<std::sync::Arc<Upstream>> {
    let (mch_no, app_id, named) = match seen {
        Seen::Pay(row, _) => (&row.mch_no, &row.app_id, row.upstream.clone()),
        Seen::Refund(row, _) => {
            let paid = match &row.pay_order_id {
                Some(id) => store.pay_by_order_id(&row.mch_no, id).await.ok()?,
                None => None,
            };
            let named = paid.map(|p| p.upstream).unwrap_or_default();
            (&row.mch_no, &row.app_id, named)
        }
    };
    intake::owner(rt, mch_no, app_id, &named)
        .ok()
        .map(|(_, upstream)| upstream)
}
