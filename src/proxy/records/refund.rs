//! Refund: one request per merchant refund number, checked here before DaxPay is called (DaxPay
//! would silently run a failed refund again under the same number), and the paid amount that
//! DaxPay's refund answer lacks.

use super::{down, not_recorded, nothing_created, now_ms, own_number, store, Recorded};
use crate::dialect::daxpay::answer::Answer;
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::order_query::query_fields;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Refund, RefundRecord, Refunded};
use crate::domain::order::{Fen, RefundOrderStatus};
use crate::domain::{Failure, Operation};
use crate::notify::jobs::refund_job;
use crate::proxy::call::{exchange, probe, Job, Prepared};
use crate::store::{Inserted, PaidBy, RefundRow, RowState};

impl Recorded for Refund {
    /// A refund number already used is `商户退款订单号[…]已存在` and never reaches DaxPay's
    /// refund. One left by a request whose outcome is unknown is looked up on DaxPay: found,
    /// it was made; not found, this request goes on.
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<(), Failure> {
        let store = store(job)?;
        if p.op.client_ip.is_none() {
            p.op.client_ip = job.routed.cx.peer.map(|ip| ip.to_string());
        }
        let relayed = relay(job, p, None);
        let paid_by = match (&p.op.order.order_no, &p.op.order.biz_order_no) {
            (Some(id), _) => Some(PaidBy::OrderId(id)),
            (None, Some(biz)) => Some(PaidBy::MchOrderNo(own_number(p, biz))),
            (None, None) => None,
        };
        let token = match relayed {
            Ok(token) => token,
            Err(failure) => {
                // The store is read first all the same: one that cannot be reached is code 10
                // whatever else is wrong, as when the lookup came before the relay.
                if let Some(by) = paid_by {
                    store.pay_by(&p.merchant.mch_no, by).await.map_err(down)?;
                }
                return Err(failure);
            }
        };
        // What the store keeps of the pay order is added by the store, in the same call as the
        // insert (one round trip to its thread instead of two).
        let row = RefundRow {
            mch_no: p.merchant.mch_no.clone(),
            app_id: p.merchant.app_id.clone(),
            mch_refund_no: p.op.mch_refund_no.clone(),
            refund_order_id: None,
            pay_order_id: p.op.order.order_no.clone(),
            mch_order_no: None,
            refund_amount_fen: i64::try_from(p.op.amount.0).unwrap_or(i64::MAX),
            pay_amount_fen: None,
            currency: p.op.currency.clone(),
            ext_param: p.op.ext_param.clone(),
            notify_url: p.op.notify_url.clone(),
            created_at_ms: now_ms(),
            state: RowState::Pending,
            token,
        };
        match store.insert_refund_of(paid_by, row).await.map_err(down)? {
            Inserted::New => {
                p.wrote_row = true;
                Ok(())
            }
            Inserted::Exists(existing) if existing.state == RowState::Pending => {
                let had = existing.token.clone();
                if let (None, Some(token)) = (had.as_ref(), relay(job, p, had.clone())?) {
                    store
                        .adopt_refund_token(&p.merchant.mch_no, &p.op.mch_refund_no, &token)
                        .await
                        .map_err(down)?;
                }
                match probe(job, p).await? {
                    None => Ok(()),
                    Some(_) => Err(Failure::RefundExists(p.op.mch_refund_no.clone())),
                }
            }
            Inserted::Exists(_) => Err(Failure::RefundExists(p.op.mch_refund_no.clone())),
        }
    }

    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Refunded, Failure>,
    ) -> Result<Refunded, Failure> {
        let store = store(job)?;
        let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_refund_no);
        let mut refunded = match outcome {
            Ok(refunded) => refunded,
            Err(failure) => {
                if p.wrote_row && nothing_created(&failure) {
                    if let Err(e) = store.remove_pending_refund(mch_no, number).await {
                        not_recorded("refund removal", e);
                    }
                }
                return Err(failure);
            }
        };
        let row = match store.refund_by_mch_refund_no(mch_no, number).await {
            Ok(row) => row,
            Err(e) => {
                not_recorded("refund lookup", e);
                None
            }
        };
        let kept = row.as_ref().and_then(|r| r.pay_amount_fen);
        refunded.pay_amount = match kept.and_then(|fen| u64::try_from(fen).ok()) {
            Some(fen) => Some(Fen(fen)),
            None => paid_amount(job, p).await,
        };
        let pay_amount = refunded.pay_amount.and_then(|f| i64::try_from(f.0).ok());
        if let Err(e) = store
            .complete_refund(mch_no, number, &refunded.refund_no, pay_amount)
            .await
        {
            not_recorded("refund", e);
        }
        // DaxPay sends no callback for a refund that fails at once; Jeepay notifies it (3).
        if let (RefundOrderStatus::Fail, Some(row)) = (refunded.status, row) {
            let record = RefundRecord {
                refund_no: refunded.refund_no.clone(),
                biz_refund_no: refunded.biz_refund_no.clone(),
                order_no: p.op.order.order_no.clone().or(row.pay_order_id.clone()),
                amount: refunded.refund_amount,
                status: refunded.status,
                out_refund_no: None,
                attach: p.op.ext_param.clone(),
                error_msg: refunded.error_msg.clone(),
                finished_at_ms: None,
                pay_amount: None,
                currency: None,
                created_at_ms: None,
            };
            let mut row = row;
            // The amount just learnt (from the store or a pay query) is what the row now holds.
            row.pay_amount_fen = pay_amount;
            let job = refund_job(&p.merchant, &row, record, crate::notify::now_ms());
            if crate::notify::intake::enqueue(store, job).await.is_err() {
                not_recorded(
                    "refund failure notification",
                    crate::store::StoreError::Unavailable(
                        "the notification of a failed refund".to_owned(),
                    ),
                );
            }
        }
        Ok(refunded)
    }
}

/// paybridge's callback URL in the merchant's stead (under `token`, else a new one), when the
/// merchant gave a notify URL; its token.
fn relay(
    job: &Job<'_>,
    p: &mut Prepared<Refund>,
    token: Option<String>,
) -> Result<Option<String>, Failure> {
    if p.op.notify_url.is_none() {
        return Ok(None);
    }
    let (token, notify, _) = super::pay::relay_urls(job, token)?;
    p.op.relay_notify_url = Some(notify);
    Ok(Some(token))
}

/// The paid amount of an order made outside paybridge, from a pay query (never from the refund
/// query's `orderAmount`, which DaxPay truncates to whole yuan). `None` if it cannot be learnt:
/// Jeepay's SDK does not need it.
async fn paid_amount(job: &Job<'_>, p: &Prepared<Refund>) -> Option<Fen> {
    let fields = query_fields(p.op.order(), p.upstream.version());
    match exchange(job, p, DaxCall::PayQuery, &fields).await {
        Ok(Answer::Done { data, .. }) => pay_order(&data, &p.source()).ok().map(|o| o.amount),
        _ => None,
    }
}
