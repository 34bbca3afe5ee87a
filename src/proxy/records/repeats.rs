//! A merchant number used again, in a dialect whose gateway answers such a repeat rather than
//! refusing it (epay, epay.md §6.1 step 16 and §7.4; Jeepay refuses every repeat:
//! `商户订单[…]已存在`).
//!
//! - A pay order's `out_trade_no` again, with the same amount, name, URLs and `param`: the same
//!   order is answered again (its `trade_no`, what the payer needs as DaxPay first gave it),
//!   unless it is paid (refused: `OrderPaid`); with any of them changed: refused
//!   (`OrderParamsChanged`, epay's `支付参数有变化`). DaxPay is asked, never paid again.
//! - One that can no longer be paid (closed, e.g. by V2 `/api/pay/close`, failed, expired): the
//!   gateway has no such state (its close leaves `status` 0, epay.md §7.6), so it reuses the
//!   `trade_no` and asks its channel again (G3094 `Pay.php` `submit`/`create`: same
//!   parameters → same `trade_no`), and the channel refuses a closed trade: the gateway's
//!   channel-failure answer (`{"code":-2,"trade_no":…,"msg":…}`, the page's `sysmsg`). That is
//!   answered here, with the order's own number, in words saying what is true (closed, or failed)
//!   and what to do (a new `out_trade_no`): never `支付参数有变化`, since nothing changed.
//! - The same order asked for with another `type` or device (the payer went back to the cashier
//!   and picked another; a plugin retried with another type): while it is unpaid, it is
//!   answered **as it was made**, by its stored way code's route and its stored epay type, with
//!   what DaxPay first gave the payer, under its own relay token. DaxPay is never asked to pay
//!   it twice, and a pay body is never rendered as another way's (an Alipay page URL as WeChat
//!   QR content, `weixin://` on a desktop). The gateway (G3094) would reuse the `trade_no` and
//!   ask its channel again; DaxPay keeps one order per `bizOrderNo` and its way code, so the
//!   order as made is what can be paid.
//! - The same number asked for while its first request's outcome is unknown (its row pending,
//!   this request joined it, and DaxPay holds an order another request made): the same order
//!   asked again is answered unknown (`EarlierOutcomeUnknown`), other parameters
//!   `OrderParamsChanged` ([`made_by_another`]); never `支付参数有变化` for an identical retry.
//! - A refund number used again (epay V2's `out_refund_no`, an idempotency key): the refund
//!   DaxPay made or is making is answered again (`Refunded::repeated`), nothing is sent. One
//!   that failed or was closed is refused as before.

use super::{down, not_recorded, store};
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::domain::ops::{Paid, Pay, Refunded};
use crate::domain::order::{Fen, PayStatus, RefundOrderStatus};
use crate::domain::Failure;
use crate::proxy::call::{probe, Job, Prepared};
use crate::store::dialect_orders::DialectOrder;
use crate::store::{OrderStore, PayRow, RefundRow};

/// The order of a repeated pay number, answered again (see the module).
pub(super) async fn pay_again(
    job: &Job<'_>,
    p: &mut Prepared<Pay>,
    existing: &PayRow,
) -> Result<Paid, Failure> {
    let number = p.op.mch_order_no.clone();
    if !asks_the_same(existing, &p.op) {
        return Err(Failure::OrderParamsChanged(number));
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
            as_made(job, p, existing, kept.as_ref())?;
            Ok(Paid {
                order_no: order.order_no,
                biz_order_no: order.biz_order_no,
                status: order.status,
                pay_body: kept.and_then(|k| k.pay_body),
                error_msg: None,
            })
        }
        // Closed, failed, cancelled: it cannot be paid, and the number cannot make another;
        // answered as the channel's refusal of this order (see the module).
        status => Ok(Paid {
            order_no: order.order_no,
            biz_order_no: order.biz_order_no,
            status,
            pay_body: None,
            error_msg: Some(ended_words(status, &number)),
        }),
    }
}

/// Whether `op` asks for the order `existing` asked for, as the gateway compares a repeat: the
/// same amount, name, URLs and `param` (epay.md §6.1 step 16; its `type` is not compared).
pub(super) fn asks_the_same(existing: &PayRow, op: &Pay) -> bool {
    u64::try_from(existing.amount_fen).ok() == Some(op.amount.0)
        && existing.subject == op.subject
        && existing.notify_url == op.notify_url
        && existing.return_url == op.return_url
        && existing.ext_param == op.ext_param
}

/// What a joined request (attempt `mine`) is told when DaxPay holds an order of its number that
/// another request of the row made (DaxPay 3.x's 20044, 2.0's probe). Jeepay refuses every
/// repeat of a number: `OrderExists`, as always. A dialect whose gateway answers an identical
/// repeat with the same order (epay.md §6.1 step 16) is told what is true of this request:
/// another standing request that asked for the same order ([`asks_the_same`], the
/// gateway's own comparison) may have made it — this one's own order, to the gateway — and that
/// request's outcome is not known yet: `EarlierOutcomeUnknown` ("result unknown, query the
/// order"; its repeat once the row is settled is answered the order, [`pay_again`]).
/// None did: this request changed the parameters, `OrderParamsChanged`. No other request stands
/// any more: the row says ([`settled_meanwhile`]). A store that cannot say: unknown, never a
/// refusal that may be false.
pub(super) async fn made_by_another(store: &OrderStore, p: &Prepared<Pay>, mine: &str) -> Failure {
    let number = p.op.mch_order_no.clone();
    if p.op.in_dialect.is_none() {
        return Failure::OrderExists(number);
    }
    let attempts = match store.pay_attempts(&p.merchant.mch_no, &number).await {
        Ok(attempts) => attempts,
        Err(e) => {
            not_recorded("pay attempts", e);
            return Failure::EarlierOutcomeUnknown;
        }
    };
    let mut others = attempts
        .iter()
        .filter(|a| a.attempt.as_deref() != Some(mine));
    let Some(first) = others.next() else {
        return settled_meanwhile(store, p, number).await;
    };
    if asks_the_same(first, &p.op) || others.any(|a| asks_the_same(a, &p.op)) {
        tracing::info!(
            mch_no = p.merchant.mch_no.as_str(),
            "the same order asked again while an earlier request's outcome is unknown: answered unknown"
        );
        Failure::EarlierOutcomeUnknown
    } else {
        Failure::OrderParamsChanged(number)
    }
}

/// What a joined request is told when the request that made the order has settled the row
/// meanwhile (two identical requests at once: the first answered while the second was at
/// DaxPay, the lifecycle soak's epay workers). The row asks for the same order: this request's
/// own order to the gateway, but its answer is rendered by the pipeline from this request, which
/// `after` cannot turn into the order as made ([`pay_again`] does that for a repeat that finds
/// the row settled): `EarlierOutcomeUnknown`, "query the order", which finds it. Other
/// parameters: `OrderParamsChanged`. No row: the number is taken, `OrderExists`.
async fn settled_meanwhile(store: &OrderStore, p: &Prepared<Pay>, number: String) -> Failure {
    match store.pay_by_mch_order_no(&p.merchant.mch_no, &number).await {
        Ok(Some(row)) if asks_the_same(&row, &p.op) => Failure::EarlierOutcomeUnknown,
        Ok(Some(_)) => Failure::OrderParamsChanged(number),
        Ok(None) => Failure::OrderExists(number),
        Err(e) => {
            not_recorded("pay order", e);
            Failure::EarlierOutcomeUnknown
        }
    }
}

/// The request's order made the answer of the order as it was made: its way code, route and
/// dialect type, and its relay URLs under the token DaxPay was given (a new token would be
/// no order's: the QR page's poll and the return would find nothing).
fn as_made(
    job: &Job<'_>,
    p: &mut Prepared<Pay>,
    existing: &PayRow,
    kept: Option<&DialectOrder>,
) -> Result<(), Failure> {
    if existing.way_code != p.op.way_code {
        // A way code this merchant can no longer be routed by: nothing to answer it with.
        let route = p
            .merchant
            .way_codes
            .route_in(p.upstream.version().into(), &existing.way_code)
            .map_err(|_| Failure::OrderExists(p.op.mch_order_no.clone()))?;
        p.op.way_code = existing.way_code.clone();
        p.op.route = route;
    }
    if let (Some(in_dialect), Some(kept)) = (p.op.in_dialect.as_mut(), kept) {
        in_dialect.pay_type = kept.pay_type.clone();
    }
    let public = job.rt.config.server.public_url.as_deref();
    if let (Some(public), Some(token)) = (public, existing.token.as_deref()) {
        let (notify, back) = crate::notify::relay_urls(public, token);
        let relay = &mut p.op.relay;
        relay.notify_url = relay.notify_url.is_some().then_some(notify);
        relay.return_url = relay.return_url.is_some().then_some(back);
    }
    Ok(())
}

/// Why an order that ended unpaid cannot be paid again under its number.
fn ended_words(status: PayStatus, number: &str) -> String {
    let what = match status {
        PayStatus::Fail => "支付失败",
        _ => "已关闭",
    };
    format!("该订单({number}){what}，请更换订单号重新发起支付")
}

/// The refund of a repeated refund number, answered again when DaxPay refunded it.
pub(super) fn refund_again(
    p: &Prepared<crate::domain::ops::Refund>,
    existing: &RefundRow,
) -> Result<Refunded, Failure> {
    // A refund DaxPay is still carrying out is answered again as accepted; one that failed or
    // was closed keeps its number (DaxPay would not take it again): refused.
    let status = match existing.status {
        Some(status @ (RefundOrderStatus::Success | RefundOrderStatus::Progress)) => status,
        _ => return Err(Failure::RefundExists(p.op.mch_refund_no.clone())),
    };
    Ok(Refunded {
        refund_no: existing.refund_order_id.clone().unwrap_or_default(),
        biz_refund_no: p.merchant.daxpay.number(&existing.mch_refund_no),
        status,
        error_code: None,
        error_msg: None,
        pay_amount: existing
            .pay_amount_fen
            .and_then(|f| u64::try_from(f).ok())
            .map(Fen),
        refund_amount: Fen(u64::try_from(existing.refund_amount_fen).unwrap_or_default()),
        channel_refund_no: None,
        repeated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_order_says_what_ended_it() {
        assert_eq!(
            ended_words(PayStatus::Close, "A1"),
            "该订单(A1)已关闭，请更换订单号重新发起支付"
        );
        assert_eq!(
            ended_words(PayStatus::Fail, "A1"),
            "该订单(A1)支付失败，请更换订单号重新发起支付"
        );
    }
}
