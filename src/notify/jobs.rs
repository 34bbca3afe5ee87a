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
    // DaxPay 2.0.8's refund query has no `attach`: the merchant's `extParam` is the store's.
    if record.attach.is_none() {
        record.attach = row.ext_param.clone();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::order::RefundStatus;
    use crate::store::RowState;

    /// A Jeepay merchant M1 and the epay merchant 1001, both on one DaxPay upstream.
    fn config() -> Config {
        Config::from_toml(
            r#"
[server]
listen = "127.0.0.1:0"
[upstreams.dax]
base_url = "http://127.0.0.1:9"
version = "3.0"
sign_type = "hmac_sha256"
secret = "dax"
[[merchants]]
mch_no = "M1"
app_id = "A1"
secret = "jeepay-secret"
forward_failed_payments = true
[merchants.daxpay]
upstream = "dax"
mch_no = "D1"
app_id = "DA1"
[[merchants]]
dialect = "epay"
pid = "1001"
secret = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i"
[merchants.daxpay]
upstream = "dax"
mch_no = "D1"
app_id = "DA2"
"#,
        )
        .expect("valid configuration")
    }

    fn order(status: PayStatus) -> PayOrder {
        PayOrder {
            order_no: "P1".to_owned(),
            biz_order_no: "O1".to_owned(),
            channel: None,
            method: None,
            amount: Fen(150),
            status,
            refund_status: None,
            title: None,
            description: None,
            out_order_no: Some("4200001".to_owned()),
            attach: None,
            error_code: None,
            error_msg: None,
            paid_at_ms: None,
            expires_at_ms: None,
            kept: None,
        }
    }

    fn pay_row() -> PayRow {
        PayRow {
            mch_no: "epay:1001".to_owned(),
            app_id: "epay:1001".to_owned(),
            mch_order_no: "O1".to_owned(),
            pay_order_id: Some("P1".to_owned()),
            way_code: "ALI_QR".to_owned(),
            currency: "cny".to_owned(),
            client_ip: None,
            amount_fen: 150,
            subject: "VIP会员 A&B".to_owned(),
            body: "VIP会员 A&B".to_owned(),
            ext_param: Some("uid=7&from=app".to_owned()),
            notify_url: Some("https://shop.example.com/notify.php".to_owned()),
            return_url: None,
            upstream: "dax".to_owned(),
            created_at_ms: 0,
            state: RowState::Created,
            token: None,
            attempt: None,
        }
    }

    fn kept(origin: &str) -> DialectOrder {
        DialectOrder {
            mch_no: "epay:1001".to_owned(),
            mch_order_no: "O1".to_owned(),
            dialect: "epay".to_owned(),
            trade_no: "2024070112000012345".to_owned(),
            origin: origin.to_owned(),
            pay_type: "alipay".to_owned(),
            pay_body: None,
            created_at_ms: 0,
        }
    }

    /// epay notifies successful payments only, whatever `forward_failed_payments` says for a
    /// Jeepay merchant.
    #[test]
    fn an_epay_merchant_is_notified_of_payments_only() {
        let config = config();
        let jeepay = config.merchants.lookup("M1", "A1").unwrap();
        let epay = config.merchants.lookup("epay:1001", "epay:1001").unwrap();
        assert_eq!(epay.dialect, Dialect::Epay);
        for status in PayStatus::ALL {
            let expected = (status == PayStatus::Success).then_some(2);
            assert_eq!(pay_state(epay, &order(status)), expected, "{status:?}");
        }
        assert_eq!(pay_state(jeepay, &order(PayStatus::Close)), Some(6));
    }

    /// An epay refund is never notified, even with a notify URL on its row.
    #[test]
    fn an_epay_refund_is_never_notified() {
        let config = config();
        let epay = config.merchants.lookup("epay:1001", "epay:1001").unwrap();
        let row = RefundRow {
            mch_no: "epay:1001".to_owned(),
            app_id: "epay:1001".to_owned(),
            mch_refund_no: "R1".to_owned(),
            refund_order_id: Some("DR1".to_owned()),
            pay_order_id: Some("P1".to_owned()),
            mch_order_no: Some("O1".to_owned()),
            refund_amount_fen: 50,
            pay_amount_fen: Some(150),
            currency: "cny".to_owned(),
            ext_param: None,
            notify_url: Some("https://shop.example.com/r".to_owned()),
            created_at_ms: 0,
            state: RowState::Created,
            token: None,
            attempt: None,
            status: Some(RefundOrderStatus::Success),
        };
        let record = RefundRecord {
            refund_no: "DR1".to_owned(),
            biz_refund_no: "R1".to_owned(),
            order_no: Some("P1".to_owned()),
            amount: Fen(50),
            status: RefundOrderStatus::Success,
            out_refund_no: None,
            attach: None,
            error_code: None,
            error_msg: None,
            finished_at_ms: None,
            pay_amount: None,
            currency: None,
            created_at_ms: None,
        };
        assert_eq!(refund_job(epay, &row, record, 0), None);
    }

    /// The V1 job is epay.md §15 E7's query, signed once; the V2 job keeps no signature.
    #[test]
    fn an_epay_job_is_the_gateways_query() {
        let config = config();
        let epay = config.merchants.lookup("epay:1001", "epay:1001").unwrap();
        let mut paid_order = order(PayStatus::Success);
        paid_order.refund_status = Some(RefundStatus::NoRefund);
        let (paid, signing) = epay_paid(epay, &pay_row(), &paid_order, &kept("v1"));
        assert_eq!(signing, EpaySigning::V1Md5);
        let job = epay_pay_job(
            ("epay:1001", "epay:1001"),
            "https://shop.example.com/notify.php",
            "P1",
            &paid,
            signing,
            epay.secret.expose(),
            7,
        );
        assert_eq!(job.wire, NotificationWire::EpayGet);
        assert_eq!(
            (job.state, job.kind, job.order_id.as_str()),
            (2, NotificationKind::Pay, "P1")
        );
        assert_eq!(
            job.body,
            "pid=1001&trade_no=2024070112000012345&out_trade_no=O1&type=alipay\
             &name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB&money=1.5&trade_status=TRADE_SUCCESS\
             &param=uid%3D7%26amp%3Bfrom%3Dapp&sign=195cf4eddadd7187c19f29315d6ce295&sign_type=MD5"
        );
        let (paid, signing) = epay_paid(epay, &pay_row(), &paid_order, &kept("v2"));
        assert_eq!(signing, EpaySigning::V2Rsa);
        assert_eq!(paid.api_trade_no.as_deref(), Some("4200001"));
        let job = epay_pay_job(("a", "a"), "https://m/n", "P1", &paid, signing, "k", 7);
        assert_eq!(job.wire, NotificationWire::EpayGetResigned);
        assert!(!job.body.contains("sign") && job.body.contains("api_trade_no=4200001"));
    }
}
