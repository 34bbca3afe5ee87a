//! Close: no row of its own, and two checks around DaxPay's answer.
//!
//! - **Before, on DaxPay 2.0 only: a pay paybridge stored failed is not closable.** 2.0.8 keeps a
//!   pay its channel refused `progress`, and paybridge stores it failed (Jeepay's state 3,
//!   `records::pay`, lifecycle-2.0.md §3.6). Jeepay closes only orders in state 0 or 1
//!   (`当前订单不可关闭` otherwise, jeepay.md), so such an order is refused from the store and
//!   nothing is sent: DaxPay would close its `progress` order, and the pay query would then answer
//!   state 6 where it answered 3. Close is the benchmarked path: only closes on a 2.0 upstream
//!   read the store (one indexed read by the merchant's number, two by DaxPay's), and a store
//!   that cannot be read leaves the close to DaxPay, as before.
//! - **After, for a dialect whose gateway keeps no closed state** (epay: its close leaves
//!   `status` 0, so its query answers a closed order as unpaid, epay.md §7.6): closing again an
//!   order that is already closed unpaid is answered as the close it asks for, since the order is
//!   closed and cannot be paid, rather than DaxPay's "this order cannot be closed", which beside
//!   the query's status 0 reads as "it may still be paid" (or already paid). A paid order stays
//!   refused; DaxPay is asked which it is.

use super::pay_query::STORED_FAILED;
use super::{own_number, Recorded};
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::{Close, Closed};
use crate::domain::order::PayStatus;
use crate::domain::Failure;
use crate::proxy::call::{probe, Job, Prepared};
use crate::store::{OrderStore, SettlementKind, SettlementStatus, StoreError};

impl Recorded for Close {
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<Option<Closed>, Failure> {
        if p.upstream.version() != Version::V2_0 {
            return Ok(None);
        }
        let Some(store) = job.rt.orders.as_ref() else {
            return Ok(None);
        };
        match stored_failed(store, p).await {
            Ok(true) => {
                tracing::info!(
                    mch_no = p.merchant.mch_no.as_str(),
                    "a close of a pay stored failed (the channel refused it on DaxPay 2.0): not closable, nothing sent"
                );
                Err(Failure::NotClosable)
            }
            Ok(false) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "order store unreadable: the close is left to DaxPay");
                metrics::counter!("paybridge_store_errors_total").increment(1);
                Ok(None)
            }
        }
    }

    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Closed, Failure>,
    ) -> Result<Closed, Failure> {
        match outcome {
            Err(Failure::NotClosable) if p.merchant.keeps_dialect_orders() => {
                match closed_unpaid(job, p).await {
                    true => Ok(Closed),
                    false => Err(Failure::NotClosable),
                }
            }
            outcome => outcome,
        }
    }
}

/// Whether the order the close names (by DaxPay's number when given, as Jeepay's `payOrderId`
/// wins, else by the merchant's) is one paybridge stored failed.
async fn stored_failed(store: &OrderStore, p: &Prepared<Close>) -> Result<bool, StoreError> {
    let mch_no = p.merchant.mch_no.as_str();
    let order = &p.op.order;
    let number = match (&order.order_no, &order.biz_order_no) {
        (Some(order_no), _) => match store.pay_by_order_id(mch_no, order_no).await? {
            Some(row) => row.mch_order_no,
            None => return Ok(false),
        },
        (None, Some(sent)) => own_number(p, sent).to_owned(),
        (None, None) => return Ok(false),
    };
    let entry = store
        .settlement(SettlementKind::Pay, mch_no, &number)
        .await?;
    Ok(entry.is_some_and(|e| {
        e.status == SettlementStatus::Final && e.dax_state.as_deref() == Some(STORED_FAILED)
    }))
}

/// Whether DaxPay holds the order as closed without payment (a lookup that fails: not known,
/// so the refusal stands).
async fn closed_unpaid(job: &Job<'_>, p: &Prepared<Close>) -> bool {
    let Ok(Some(found)) = probe(job, p).await else {
        return false;
    };
    pay_order(&found, &p.source()).is_ok_and(|order| {
        matches!(
            order.status,
            PayStatus::Close | PayStatus::Cancel | PayStatus::Timeout
        )
    })
}
