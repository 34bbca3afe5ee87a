//! The pay query: what DaxPay does not return (way code, currency, the payer's IP, when it was
//! made) from the order store, for orders made through paybridge.
//!
//! A row whose creating answer was lost has no DaxPay number yet: it is found by the merchant's
//! number, and answers with the fields of the request DaxPay's record was made from (its
//! amount and `extParam`, `notify::settle::pay_maker`), never another request's. What the query
//! learnt is then recorded as the settlement worker would (the row completed with that
//! request's fields, the notification queued if the order is paid).

use super::{own_number, Recorded};
use crate::config::Merchant;
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::PayQuery;
use crate::domain::order::{KeptPay, PayOrder, PayStatus};
use crate::domain::Failure;
use crate::notify::settle::{pay_maker, PayMaker};
use crate::proxy::call::{Job, Prepared};
use crate::store::{OrderStore, PayRow, RowState, SettlementKind, SettlementStatus, StoreError};

/// The settlement entry's DaxPay state of a pay the channel refused on DaxPay 2.0, stored failed
/// by paybridge while DaxPay keeps it `progress` (`records::pay`).
pub(super) const STORED_FAILED: &str = "fail";

impl Recorded for PayQuery {
    /// A query is read-only: when the store cannot be read, the verified answer goes out
    /// without the fields only the store knows (all optional in Jeepay's SDK), and it is logged.
    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<PayOrder, Failure>,
    ) -> Result<PayOrder, Failure> {
        let mut order = outcome?;
        let Some(store) = job.rt.orders.as_ref() else {
            return Ok(order);
        };
        match kept(store, p, &order).await {
            Ok(kept) => order.kept = kept,
            Err(e) => {
                tracing::warn!(error = %e, "order store unreadable: the query is answered without its fields");
                metrics::counter!("paybridge_store_errors_total").increment(1);
            }
        }
        // DaxPay 2.0 keeps a pay the channel refused `progress`; paybridge stored it failed.
        if p.upstream.version() == Version::V2_0
            && matches!(order.status, PayStatus::Wait | PayStatus::Progress)
        {
            let number = own_number(p, &order.biz_order_no);
            match stored_failed(store, &p.merchant.mch_no, number).await {
                Ok(true) => order.status = PayStatus::Fail,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "order store unreadable: DaxPay's state answered")
                }
            }
        }
        Ok(order)
    }
}

/// What the store keeps of DaxPay's `order`: its row's, found by DaxPay's number; else, for a
/// row still pending under the merchant's number, its maker's (recorded there and then); else
/// the row's once more, if it was completed meanwhile.
async fn kept(
    store: &OrderStore,
    p: &Prepared<PayQuery>,
    order: &PayOrder,
) -> Result<Option<KeptPay>, StoreError> {
    let mch_no = p.merchant.mch_no.as_str();
    if let Some(row) = store.pay_by_order_id(mch_no, &order.order_no).await? {
        return Ok(Some(row.kept()));
    }
    let number = own_number(p, &order.biz_order_no);
    let learnt = learn_pending(store, &p.merchant, p.upstream.version(), number, order).await?;
    if let Some(maker) = learnt {
        return Ok(Some(maker.kept()));
    }
    // Not pending any more: a callback, the settlement worker or another instance may have
    // completed the row between the two reads (found by the lifecycle soak: a query answered
    // without its way code). Read again rather than answer without the store's fields.
    let row = store.pay_by_order_id(mch_no, &order.order_no).await?;
    Ok(row.map(|row| row.kept()))
}

/// DaxPay's pay `order` of the merchant's number `number`, read by any request: a row of it
/// still pending (its creating answer lost) is completed with its maker's fields, as the
/// settlement worker would (`notify::intake::settle_pay`: the notification queued if paid);
/// the maker. `None`: no pending row, or nothing says whose the order is (the fields of no
/// request rather than another request's).
pub(super) async fn learn_pending(
    store: &OrderStore,
    merchant: &Merchant,
    version: Version,
    number: &str,
    order: &PayOrder,
) -> Result<Option<PayRow>, StoreError> {
    let mch_no = merchant.mch_no.as_str();
    let pending = store
        .pay_by_mch_order_no(mch_no, number)
        .await?
        .is_some_and(|row| row.state == RowState::Pending && row.pay_order_id.is_none());
    if !pending {
        return Ok(None);
    }
    let PayMaker::Attempt(maker) = pay_maker(store, (mch_no, number), order, version).await? else {
        return Ok(None);
    };
    if let Err(why) =
        crate::notify::intake::settle_pay(store, merchant, &maker, order.clone()).await
    {
        tracing::warn!(
            why = why.label(),
            "what a lookup learnt of a pay order is not recorded: the settlement worker will"
        );
    }
    Ok(Some(*maker))
}

/// Whether paybridge stored the merchant's pay order `number` failed while DaxPay 2.0 keeps it
/// `progress` (the channel refused it): what the pay query then answers (Jeepay's state 3), not
/// "paying".
async fn stored_failed(store: &OrderStore, mch_no: &str, number: &str) -> Result<bool, StoreError> {
    let entry = store
        .settlement(SettlementKind::Pay, mch_no, number)
        .await?;
    Ok(entry.is_some_and(|e| {
        e.status == SettlementStatus::Final && e.dax_state.as_deref() == Some(STORED_FAILED)
    }))
}
