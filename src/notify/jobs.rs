//! What a notification says (lifecycle.md §6.1): a pay order's `QueryPayOrderRS` fields or a
//! refund's `QueryRefundOrderRS` fields, plus `reqTime` and `sign`, signed with the merchant's
//! key once, when the job is written, and sent unchanged on every attempt.
//!
//! An epay order's notification ([`epay_pay_job`], epay.md §11) is the GET query of
//! `dialect::epay::notification`: a V1 order's signed once with the merchant's MD5 key, a V2
//! order's kept unsigned and signed with the platform key at each attempt. epay notifies
//! successful payments only, never refunds or closes.

use crate::config::Merchant;
use crate::dialect::epay::notification::{http_build_query, PaidOrder};
use crate::dialect::epay::php::echo_form;
use crate::dialect::jeepay::notification::notification;
use crate::dialect::jeepay::ops::JeepayOp;
use crate::dispatch::Dialect;
use crate::domain::ops::{PayQuery, RefundQuery, RefundRecord};
use crate::domain::order::{Fen, OrderRef, PayOrder, PayStatus, RefundOrderStatus};
use crate::store::dialect_orders::DialectOrder;
use crate::store::{
    NewNotification, NotificationKind, NotificationWire, OrderStore, PayRow, RefundRow, StoreError,
};

/// The Jeepay state a pay order is notified with, if at all: successes always (Jeepay), the
/// end of an unpaid order only for merchants that asked (`forward_failed_payments`).
pub fn pay_state(merchant: &Merchant, order: &PayOrder) -> Option<i64> {
    // epay notifies successful payments only (epay.md §11).
    if merchant.dialect == Dialect::Epay {
        return (order.status == PayStatus::Success).then_some(2);
    }
    let state = crate::dialect::jeepay::ops::pay_query::state(order.status, order.refund_status);
    match order.status {
        // Jeepay notifies a payment once, on success: state 2 (the job's key), whatever
        // refunds came since (the fields say them).
        PayStatus::Success => Some(2),
        PayStatus::Close | PayStatus::Cancel | PayStatus::Fail | PayStatus::Timeout
            if merchant.forward_failed_payments =>
        {
            Some(state)
        }
        _ => None,
    }
}

/// The Jeepay state a refund is notified with: success (2) and a refund that failed (3).
pub fn refund_state(status: RefundOrderStatus) -> Option<i64> {
    match status {
        RefundOrderStatus::Progress => None,
        other => Some(crate::dialect::jeepay::ops::refund::refund_state(other)),
    }
}

/// The notification of a pay order in `state`, to the merchant's notify URL (none: nothing).
pub fn pay_job(
    merchant: &Merchant,
    row: &PayRow,
    mut order: PayOrder,
    state: i64,
    now_ms: i64,
) -> Option<NewNotification> {
    let url = row.notify_url.as_deref()?;
    // The merchant's own order number, whatever prefix a shared identity put on it.
    order.biz_order_no = row.mch_order_no.clone();
    // Jeepay's pay notification says 2 even if refunds came since (its `state` is the job's).
    if state == 2 {
        order.refund_status = None;
    }
    order.kept = Some(row.kept());
    let order_id = order.order_no.clone();
    let data = PayQuery {
        order: OrderRef::default(),
    }
    .data(&order, merchant);
    let n = notification(url, data, now_ms, merchant.secret.expose());
    Some(NewNotification {
        mch_no: merchant.mch_no.clone(),
        app_id: merchant.app_id.clone(),
        kind: NotificationKind::Pay,
        order_id,
        state,
        url: n.url,
        body: n.body,
        due_at_ms: now_ms,
        wire: NotificationWire::JeepayPost,
    })
}

/// The notification of a refund, to the merchant's notify URL given with the refund.
pub fn refund_job(
    merchant: &Merchant,
    row: &RefundRow,
    mut record: RefundRecord,
    now_ms: i64,
) -> Option<NewNotification> {
    // epay never notifies refunds (epay.md §11, §13).
    if merchant.dialect == Dialect::Epay {
        return None;
    }
    let url = row.notify_url.as_deref()?;
    let state = refund_state(record.status)?;
    record.biz_refund_no = row.mch_refund_no.clone();
    if record.order_no.is_none() {
        record.order_no = row.pay_order_id.clone();
    }
    record.pay_amount = row
        .pay_amount_fen
        .and_then(|f| u64::try_from(f).ok())
        .map(Fen);
    record.currency = Some(row.currency.clone());
    record.created_at_ms = Some(row.created_at_ms);
    let order_id = record.refund_no.clone();
    let data = RefundQuery {
        refund_no: None,
        mch_refund_no: None,
        biz_refund_no: None,
        order: OrderRef::default(),
        kept: None,
    }
    .data(&record, merchant);
    let n = notification(url, data, now_ms, merchant.secret.expose());
    Some(NewNotification {
        mch_no: merchant.mch_no.clone(),
        app_id: merchant.app_id.clone(),
        kind: NotificationKind::Refund,
        order_id,
        state,
        url: n.url,
        body: n.body,
        due_at_ms: now_ms,
        wire: NotificationWire::JeepayPost,
    })
}

/// The notification of a paid epay order (`order`, DaxPay's verified record of `row`): its
/// `trade_no`, origin (V1/V2) and `type` from the order store's dialect row, the rest from the
/// pay row. `None` when the merchant gave no `notify_url`; an error when the dialect row is
/// missing (written before the pay row: the store is inconsistent, nothing is acknowledged).
pub async fn epay_job_for(
    store: &OrderStore,
    merchant: &Merchant,
    row: &PayRow,
    order: &PayOrder,
    now_ms: i64,
) -> Result<Option<NewNotification>, StoreError> {
    let Some(url) = row.notify_url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let kept = store
        .dialect_order(&row.mch_no, &row.mch_order_no)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "epay order {} of {} has no dialect row (trade_no)",
                row.mch_order_no, row.mch_no
            ))
        })?;
    let (paid, signing) = epay_paid(merchant, row, order, &kept);
    Ok(Some(epay_pay_job(
        (&row.mch_no, &row.app_id),
        url,
        &order.order_no,
        &paid,
        signing,
        merchant.secret.expose(),
        now_ms,
    )))
}

/// What an epay order's notification (and return) says: the stored facts, echoed as the
/// gateway echoes them (`name`, `param` in their §9 form), and how it is signed.
pub fn epay_paid(
    merchant: &Merchant,
    row: &PayRow,
    order: &PayOrder,
    kept: &DialectOrder,
) -> (PaidOrder, EpaySigning) {
    let pid = merchant
        .epay
        .as_ref()
        .map_or_else(String::new, |e| e.pid.clone());
    let paid = PaidOrder {
        pid,
        trade_no: kept.trade_no.clone(),
        out_trade_no: row.mch_order_no.clone(),
        pay_type: kept.pay_type.clone(),
        name: echo_form(&row.subject),
        money_fen: order.amount.0,
        param: row.ext_param.as_deref().map(echo_form),
        api_trade_no: order.out_order_no.clone(),
        buyer: None,
    };
    let signing = if kept.origin == "v2" {
        EpaySigning::V2Rsa
    } else {
        EpaySigning::V1Md5
    };
    (paid, signing)
}

/// Which signature an epay order's notification carries: that of the API it was made through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpaySigning {
    /// `submit.php` / `mapi.php`: MD5 with the merchant's key, computed once.
    V1Md5,
    /// `/api/pay/*`: SHA256WithRSA with the platform key and a fresh `timestamp` per attempt.
    V2Rsa,
}

/// The notification of a paid epay order: to `notify_url`, about DaxPay's pay order
/// `order_id`, for the merchant app `(mch_no, app_id)` the outbox keys it by. `key`: the
/// merchant's MD5 key (V1 only; V2 keeps no signature in the outbox).
pub fn epay_pay_job(
    (mch_no, app_id): (&str, &str),
    notify_url: &str,
    order_id: &str,
    paid: &PaidOrder,
    signing: EpaySigning,
    key: &str,
    now_ms: i64,
) -> NewNotification {
    let (body, wire) = match signing {
        EpaySigning::V1Md5 => (
            http_build_query(&paid.v1_signed(key)),
            NotificationWire::EpayGet,
        ),
        EpaySigning::V2Rsa => (
            http_build_query(&paid.v2_unsigned()),
            NotificationWire::EpayGetResigned,
        ),
    };
    NewNotification {
        mch_no: mch_no.to_owned(),
        app_id: app_id.to_owned(),
        kind: NotificationKind::Pay,
        order_id: order_id.to_owned(),
        // epay notifies payments only: the job's state is the paid one, as Jeepay's.
        state: 2,
        url: notify_url.to_owned(),
        body,
        due_at_ms: now_ms,
        wire,
    }
}
