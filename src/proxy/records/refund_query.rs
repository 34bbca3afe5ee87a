//! The refund query: DaxPay's refund lookup is not scoped by app, so only refunds the order
//! store gives to the caller are asked about (any other is `订单不存在`, or the legacy
//! gateway's, for refunds made before the migration), and the answer must be that refund.

use super::{down, not_recorded, own_number, store, Recorded};
use crate::domain::ops::{KeptRefund, RefundQuery, RefundRecord};
use crate::domain::order::{Fen, RefundOrderStatus};
use crate::domain::Failure;
use crate::proxy::call::{Job, Prepared};

impl Recorded for RefundQuery {
    /// `refundOrderId` wins, as in Jeepay; the lookup is the caller's merchant's only.
    async fn before(
        job: &Job<'_>,
        p: &mut Prepared<Self>,
    ) -> Result<Option<RefundRecord>, Failure> {
        let store = store(job)?;
        let mch_no = &p.merchant.mch_no;
        let row = match (&p.op.refund_no, &p.op.mch_refund_no) {
            (Some(id), _) => store.refund_by_order_id(mch_no, id).await,
            (None, Some(number)) => match store.refund_by_mch_refund_no(mch_no, number).await {
                // A dialect that answers refunds with a number of its own (epay's `refund_no`
                // for a merchant's long `out_refund_no`) finds them by it too.
                Ok(None) if p.merchant.keeps_dialect_orders() => {
                    store.refund_by_dialect_no(mch_no, number).await
                }
                other => other,
            },
            (None, None) => Ok(None),
        }
        .map_err(down)?
        // Not the caller's (or made before the migration): no such refund here.
        .ok_or(Failure::OrderNotFound { verified: true })?;
        p.op.biz_refund_no = Some(p.merchant.daxpay.number(&row.mch_refund_no));
        p.order_hint = row.mch_order_no.clone();
        p.op.refund_no = row.refund_order_id.clone();
        p.op.kept = Some(KeptRefund {
            pay_amount: row
                .pay_amount_fen
                .and_then(|f| u64::try_from(f).ok())
                .map(Fen),
            currency: row.currency,
            created_at_ms: row.created_at_ms,
            status: row.status,
            ext_param: row.ext_param,
        });
        Ok(None)
    }

    /// A refund the store still holds open that DaxPay now reports final is recorded, and the
    /// merchant notified, as DaxPay's callback or the settlement worker would
    /// ([`still_open`]).
    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<RefundRecord, Failure>,
    ) -> Result<RefundRecord, Failure> {
        let mut record = outcome?;
        if Some(&record.biz_refund_no) != p.op.biz_refund_no.as_ref() {
            tracing::warn!(
                mch_no = p.merchant.mch_no.as_str(),
                "DaxPay answered a refund query with another refund: answered as not found"
            );
            return Err(Failure::OrderNotFound { verified: false });
        }
        if let (true, Some(store)) = (still_open(p), job.rt.orders.as_ref()) {
            if record.status != RefundOrderStatus::Progress {
                let own = own_number(p, &record.biz_refund_no).to_owned();
                let settled = crate::notify::settle::refund_final(
                    store,
                    &p.merchant,
                    &own,
                    record.clone(),
                    None,
                );
                match settled.await {
                    Ok(crate::notify::settle::Settled::Done) => {}
                    Ok(crate::notify::settle::Settled::LeftOpen(why)) => tracing::info!(
                        mch_no = p.merchant.mch_no.as_str(),
                        why,
                        "refund learnt by query left open"
                    ),
                    Err(e) => not_recorded("refund learnt by query", e),
                }
            }
        }
        if let Some(kept) = &p.op.kept {
            record.status = never_lower(record.status, kept.status);
            record.pay_amount = kept.pay_amount;
            record.currency = Some(kept.currency.clone());
            record.created_at_ms = Some(kept.created_at_ms);
            // 2.0.8's refund query has no `attach` (lifecycle-2.0.md §6: `extParam ← store`),
            // unless the store cannot tell whose refund DaxPay's is.
            if record.attach.is_none() && !(still_open(p) && ext_param_unclear(job, p).await) {
                record.attach = kept.ext_param.clone();
            }
        }
        Ok(record)
    }
}

/// Whether the store has yet to record this refund final: its row has no DaxPay refund number
/// (its first answer was lost) or no final status (DaxPay's callback lost, as 2.0.8's one notice
/// may be, and the settlement worker not round yet). What DaxPay now reports final is then
/// recorded through `notify::settle::refund_final`, the callback's and the worker's own path:
/// the store never lowers a final status, and the notification is queued in the same call, once
/// per refund and state (the outbox's unique key), so the merchant is notified once, whichever
/// of the query, the callback and the worker learns it first. A row already final is left as
/// it is.
fn still_open(p: &Prepared<RefundQuery>) -> bool {
    let stored = p.op.kept.as_ref().and_then(|kept| kept.status);
    p.op.refund_no.is_none()
        || !matches!(
            stored,
            Some(RefundOrderStatus::Success | RefundOrderStatus::Fail | RefundOrderStatus::Close)
        )
}

/// Whether the pending row's requests that may have made DaxPay's refund asked with different
/// `extParam`s (`notify::settle::refund_ext_param_unclear`); a store that cannot say: the
/// stored one is answered, as before the check.
async fn ext_param_unclear(job: &Job<'_>, p: &Prepared<RefundQuery>) -> bool {
    let (Some(store), Some(biz)) = (job.rt.orders.as_ref(), p.op.biz_refund_no.as_deref()) else {
        return false;
    };
    let number = own_number(p, biz);
    crate::notify::settle::refund_ext_param_unclear(store, &p.merchant.mch_no, number)
        .await
        .unwrap_or_else(|e| {
            not_recorded("refund's requests read for its extParam", e);
            false
        })
}

/// What a refund query answers when DaxPay's status and the store's differ: a refund the store
/// knows succeeded or was closed is never reported in progress again (a query answered from
/// before DaxPay's commit). A stored `fail` may legitimately go back to progress: DaxPay re-runs
/// a failed refund asked again with the same number.
fn never_lower(daxpay: RefundOrderStatus, stored: Option<RefundOrderStatus>) -> RefundOrderStatus {
    match (daxpay, stored) {
        (
            RefundOrderStatus::Progress,
            Some(stored @ (RefundOrderStatus::Success | RefundOrderStatus::Close)),
        ) => stored,
        (daxpay, _) => daxpay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundOrderStatus::*;

    #[test]
    fn a_stored_final_refund_is_never_answered_in_progress() {
        assert_eq!(never_lower(Progress, Some(Success)), Success);
        assert_eq!(never_lower(Progress, Some(Close)), Close);
        assert_eq!(never_lower(Progress, Some(Fail)), Progress);
        assert_eq!(never_lower(Progress, None), Progress);
        assert_eq!(never_lower(Success, Some(Progress)), Success);
        assert_eq!(never_lower(Close, Some(Success)), Close);
    }
}
