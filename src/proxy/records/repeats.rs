//! A merchant number used again, in a dialect whose gateway answers such a repeat rather than
//! refusing it (epay, epay.md §6.1 step 16 and §7.4; Jeepay refuses every repeat:
//! `商户订单[…]已存在`).
//!
//! - A pay order's `out_trade_no` again, with the same amount, name, URLs and `param`: the same
//!   order is answered again (its `trade_no`, what the payer needs as DaxPay first gave it),
//!   unless it is paid (refused: `OrderPaid`) or can no longer be paid; with any of them
//!   changed: refused (`OrderExists`, epay's `支付参数有变化`). DaxPay is asked, never paid
//!   again.
//! - A refund number DaxPay refunded again (epay V2's `out_refund_no`, an idempotency key): that
//!   refund is answered again, nothing is sent. One not (yet) refunded is refused as before.

use super::{down, store};
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::domain::ops::{Paid, Pay, Refunded};
use crate::domain::order::{Fen, PayStatus, RefundOrderStatus};
use crate::domain::Failure;
use crate::proxy::call::{probe, Job, Prepared};
use crate::store::{PayRow, RefundRow};

/// The order of a repeated pay number, answered again (see the module).
pub(super) async fn pay_again(
    job: &Job<'_>,
    p: &mut Prepared<Pay>,
    existing: &PayRow,
) -> Result<Paid, Failure> {
    let number = p.op.mch_order_no.clone();
    let op = &p.op;
    let same = u64::try_from(existing.amount_fen).ok() == Some(op.amount.0)
        && existing.subject == op.subject
        && existing.notify_url == op.notify_url
        && existing.return_url == op.return_url
        && existing.ext_param == op.ext_param;
    if !same {
        return Err(Failure::OrderExists(number));
    }
    let Some(found) = probe(job, p).await? else {
        // The row says created, DaxPay has nothing: not an order to answer again.
        return Err(Failure::OrderExists(number));
    };
    let order = pay_order(&found, &p.source())?;
    match order.status {
        PayStatus::Success => Err(Failure::OrderPaid(number)),
        PayStatus::Wait | PayStatus::Progress => {
            let kept = store(job)?
                .dialect_order(&p.merchant.mch_no, &number)
                .await
                .map_err(down)?;
            Ok(Paid {
                order_no: order.order_no,
                biz_order_no: order.biz_order_no,
                status: order.status,
                pay_body: kept.and_then(|k| k.pay_body),
                error_msg: None,
            })
        }
        // Closed, failed, cancelled: it cannot be paid, and the number cannot make another.
        _ => Err(Failure::OrderExists(number)),
    }
}

/// The refund of a repeated refund number, answered again when DaxPay refunded it.
pub(super) fn refund_again(
    p: &Prepared<crate::domain::ops::Refund>,
    existing: &RefundRow,
) -> Result<Refunded, Failure> {
    if existing.status != Some(RefundOrderStatus::Success) {
        return Err(Failure::RefundExists(p.op.mch_refund_no.clone()));
    }
    Ok(Refunded {
        refund_no: existing.refund_order_id.clone().unwrap_or_default(),
        biz_refund_no: p.merchant.daxpay.number(&existing.mch_refund_no),
        status: RefundOrderStatus::Success,
        error_msg: None,
        pay_amount: existing
            .pay_amount_fen
            .and_then(|f| u64::try_from(f).ok())
            .map(Fen),
        refund_amount: Fen(u64::try_from(existing.refund_amount_fen).unwrap_or_default()),
        channel_refund_no: None,
    })
}
