//! DaxPay's callback (lifecycle.md §6.2–6.3), on `POST /daxpay/notify/<token>`.
//!
//! The token names one order or refund in the order store, and so the merchant whose DaxPay
//! identity must have signed the callback. A callback is a hint only: the order is read again
//! with a signed query, and that answer is what the merchant is told. The notification is
//! written to the outbox before DaxPay gets `SUCCESS`, so a crash after the acknowledgement
//! loses nothing. A bad signature, an unknown token or an order that does not match is not
//! acknowledged (DaxPay tries again later), is logged and counted, and nothing is sent.
//!
//! Each request paybridge sends DaxPay has its own token, so the token names the request DaxPay
//! accepted: the order store's row is completed with that request's fields (the callback may
//! come before the request's own answer, or instead of it), and the notification is built from
//! them, never from another request's for the same number (`super::settle`).
//!
//! DaxPay 2.0.8 (lifecycle-2.0.md §7) posts a flat notice with no type field: a pay notice on a
//! pay order's token, a refund notice (it carries `refundNo`) on a refund's; the other kind on a
//! token is not acknowledged. 2.0.8 registers its notice from inside the transaction that
//! changes the order, so the notice can arrive before the change is committed and the query
//! still shows the order as it was: the query is then asked again, backing off, for up to
//! about 1.5 s ([`CONFIRM_DELAYS`]), every query ending within 3 s however slow DaxPay is
//! ([`CONFIRM_BUDGET`]); a notice still ahead of the query (or unanswered) is acknowledged (the
//! signed notice was received; 2.0.8 would by default never send it again anyway) and the
//! order's settlement entry is checked 1, 3 and 8 s later, even while the row is younger than
//! the worker's first check (`OrderStore::follow_after_notice`), so the worker (`crate::settle`)
//! confirms it by query and notifies the merchant within seconds once it is final, then backs
//! off as usual. Nothing is ever notified on the notice's word alone, and a stale query never
//! lowers a final state the store holds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};

use crate::config::{Merchant, Upstream};
use crate::dialect::daxpay::callback::read_callback;
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::ops::refund_query::refund_record;
use crate::dialect::daxpay::ops::Upstream as AnswerSource;
use crate::dialect::daxpay::order_query::query_fields;
use crate::dialect::daxpay::Version;
use crate::dispatch::{DaxCall, Dialect};
use crate::domain::ops::RefundRecord;
use crate::domain::order::{OrderRef, PayOrder, PayStatus, RefundOrderStatus};
use crate::domain::Failure;
use crate::proxy::runtime::Runtime;
use crate::store::{
    Inserted, NewNotification, OrderStore, PayRow, RefundRow, RowState, SettlementKind, StoreError,
};

use super::jobs::{epay_job_for, pay_job, pay_state};
use super::now_ms;
use super::settle;
use super::signed_call::{signed_call, CallError};

/// Why a callback was not acknowledged (the `outcome` label of `paybridge_callbacks_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    UnknownOrder,
    BadSignature,
    Unverified,
    StoreDown,
    /// A notice ahead of its order's query that nothing would confirm later (the settlement
    /// worker is off, or cannot follow the row): not acknowledged rather than taken and lost.
    Unconfirmed,
}

impl Refusal {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::UnknownOrder => "unknown_order",
            Refusal::BadSignature => "bad_signature",
            Refusal::Unverified => "unverified",
            Refusal::StoreDown => "store_down",
            Refusal::Unconfirmed => "unconfirmed",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::UnknownOrder => StatusCode::NOT_FOUND,
            Refusal::BadSignature => StatusCode::BAD_REQUEST,
            Refusal::Unverified | Refusal::StoreDown | Refusal::Unconfirmed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

/// The answer DaxPay gets for a callback: `SUCCESS` once the notification is safe.
pub async fn callback(rt: &Runtime, token: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let outcome = take(rt, token, body).await;
    let label = match outcome {
        Ok(()) => "accepted",
        Err(refusal) => refusal.label(),
    };
    metrics::counter!("paybridge_callbacks_total", "outcome" => label).increment(1);
    let (status, text) = match outcome {
        Ok(()) => (StatusCode::OK, "SUCCESS"),
        Err(refusal) => (refusal.status(), "FAIL"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn take(rt: &Runtime, token: &str, body: &[u8]) -> Result<(), Refusal> {
    let store = rt.orders.as_ref().ok_or(Refusal::StoreDown)?;
    let down = |e| {
        tracing::error!(error = %e, "order store unavailable: DaxPay's callback is not acknowledged");
        Refusal::StoreDown
    };
    if let Some(row) = store.pay_by_token(token).await.map_err(down)? {
        let (merchant, upstream) = owner(rt, &row.mch_no, &row.app_id, &row.upstream)?;
        let notice = verify(&merchant, &upstream, body)?;
        let claimed = notice_of(&upstream, &notice, Kind::Pay)?;
        return pay(rt, store, &merchant, &upstream, &row, claimed).await;
    }
    if let Some(row) = store.refund_by_token(token).await.map_err(down)? {
        // The upstream the refund went to is its pay order's, when paybridge made the order.
        let paid = match &row.pay_order_id {
            Some(id) => store.pay_by_order_id(&row.mch_no, id).await.map_err(down)?,
            None => None,
        };
        let upstream = paid.map(|p| p.upstream).unwrap_or_default();
        let (merchant, upstream) = owner(rt, &row.mch_no, &row.app_id, &upstream)?;
        let notice = verify(&merchant, &upstream, body)?;
        let claimed = notice_of(&upstream, &notice, Kind::Refund)?;
        return refund(rt, store, &merchant, &upstream, &row, claimed)
            .await
            .map(drop);
    }
    tracing::warn!("a DaxPay callback for an unknown token: not acknowledged");
    Err(Refusal::UnknownOrder)
}

/// The merchant app an order belongs to, and the DaxPay upstream it was made on.
pub(crate) fn owner(
    rt: &Runtime,
    mch_no: &str,
    app_id: &str,
    upstream: &str,
) -> Result<(Arc<Merchant>, Arc<Upstream>), Refusal> {
    let merchant = rt.config.merchants.lookup(mch_no, app_id).map_err(|_| {
        tracing::warn!(
            mch_no,
            app_id,
            "a callback for a merchant app no longer configured"
        );
        Refusal::UnknownOrder
    })?;
    let upstream = rt
        .config
        .upstreams
        .get(upstream)
        .unwrap_or(&merchant.daxpay.upstream)
        .clone();
    Ok((merchant.clone(), upstream))
}

/// The verified notice's fields (3.x: its `data`; 2.0: the flat notice itself).
fn verify(
    merchant: &Merchant,
    upstream: &Upstream,
    body: &[u8],
) -> Result<Map<String, Value>, Refusal> {
    match read_callback(&upstream.scheme, merchant.daxpay.secret.expose(), body) {
        Ok(callback) => {
            metrics::counter!("paybridge_callback_sign_order_total", "order" => callback.order.as_str())
                .increment(1);
            Ok(callback.data)
        }
        Err(fault) => {
            tracing::warn!(
                mch_no = merchant.mch_no.as_str(),
                upstream = upstream.name.as_str(),
                fault = %fault,
                "a DaxPay callback that does not verify: not acknowledged, nothing sent"
            );
            Err(Refusal::BadSignature)
        }
    }
}

/// What a token's row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pay,
    Refund,
}

/// The final state a verified 2.0.8 notice claims (`None`: not final, or a 3.x callback, whose
/// confirmation is the query alone). A notice of the other kind than the token's row is not
/// acknowledged: 2.0.8's notices carry no type, paybridge tells them apart by the token it
/// wrote and checks the notice agrees (a refund notice carries `refundNo`).
fn notice_of(
    upstream: &Upstream,
    notice: &Map<String, Value>,
    kind: Kind,
) -> Result<Option<String>, Refusal> {
    if upstream.version() != Version::V2_0 {
        return Ok(None);
    }
    let says_refund = notice.get("refundNo").is_some_and(|v| !v.is_null());
    if says_refund != (kind == Kind::Refund) {
        tracing::warn!(
            upstream = upstream.name.as_str(),
            token_kind = ?kind,
            "a DaxPay 2.0 notice of the other kind than its URL's: not acknowledged"
        );
        return Err(Refusal::UnknownOrder);
    }
    let status = notice
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_final = match kind {
        Kind::Pay => PayStatus::parse(status)
            .is_some_and(|s| !matches!(s, PayStatus::Wait | PayStatus::Progress)),
        Kind::Refund => {
            RefundOrderStatus::parse(status).is_some_and(|s| s != RefundOrderStatus::Progress)
        }
    };
    Ok(is_final.then(|| status.to_owned()))
}

/// How long apart the query confirming a 2.0.8 notice is asked again while it still shows the
/// order as it was before the notice (a notice may precede DaxPay's commit, lifecycle-2.0.md
/// §7.1). About 1.5 s in all, well within the 5 s DaxPay waits for `SUCCESS`; how long the
/// window really is was not established (§12), so the settlement worker takes over after.
const CONFIRM_DELAYS: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
];

/// The queries confirming a 2.0.8 notice, however slow DaxPay is, end this far into its 5 s wait
/// for `SUCCESS` (it sends a notice once; a late answer is a failure to it): what is unanswered
/// is left to the settlement worker, as a notice ahead of its query is.
const CONFIRM_BUDGET: Duration = Duration::from_secs(3);

/// Whether another confirming query after `delay` still fits in [`CONFIRM_BUDGET`].
fn may_ask_again(started: tokio::time::Instant, delay: Duration) -> bool {
    started.elapsed() + delay < CONFIRM_BUDGET
}

/// The confirming phase of a callback: DaxPay's record read (`read`), and read again after each
/// of [`CONFIRM_DELAYS`] while a 2.0.8 notice `claims` a final state the record is still
/// `behind`. On 2.0 the whole phase is bounded by [`CONFIRM_BUDGET`]: `None` when it ran out
/// with a query unanswered (3.x retries its callbacks: a late answer costs nothing there).
async fn confirm<T, Fut>(
    upstream: &Upstream,
    claims: bool,
    mut read: impl FnMut() -> Fut,
    behind: impl Fn(&T) -> bool,
) -> Result<Option<T>, Refusal>
where
    Fut: std::future::Future<Output = Result<T, Refusal>>,
{
    let started = tokio::time::Instant::now();
    let asking = async {
        let mut found = read().await?;
        for delay in CONFIRM_DELAYS {
            if !claims || !behind(&found) || !may_ask_again(started, delay) {
                break;
            }
            tokio::time::sleep(delay).await;
            found = read().await?;
        }
        Ok(found)
    };
    if upstream.version() != Version::V2_0 {
        return asking.await.map(Some);
    }
    match tokio::time::timeout(CONFIRM_BUDGET, asking).await {
        Ok(found) => found.map(Some),
        Err(_) => Ok(None),
    }
}

/// A 2.0.8 notice whose confirming queries ran out of [`CONFIRM_BUDGET`] unanswered: one that
/// claims a final state is taken as a notice ahead of its query ([`not_yet_committed`]: the
/// settlement worker confirms it); one that claims none is not acknowledged.
async fn unanswered(
    rt: &Runtime,
    store: &OrderStore,
    key: (SettlementKind, &str, &str),
    claimed: Option<&str>,
) -> Result<(), Refusal> {
    tracing::warn!(
        mch_no = key.1,
        number = key.2,
        "DaxPay did not answer the queries confirming a 2.0 notice in time"
    );
    let claimed = claimed.ok_or(Refusal::Unverified)?;
    not_yet_committed(rt, store, key, claimed, "unanswered").await
}

/// A notice claimed `claimed` but the query still says otherwise after [`CONFIRM_DELAYS`]:
/// acknowledged only when the settlement worker will confirm it (it runs; the row's entry
/// enrolled, reopened or brought forward and open): 2.0.8 sends a notice once, so one taken
/// must be followed up. Otherwise it is not acknowledged (DaxPay counts it failed): nothing
/// claims it was taken.
async fn not_yet_committed(
    rt: &Runtime,
    store: &OrderStore,
    (kind, mch_no, number): (SettlementKind, &str, &str),
    claimed: &str,
    queried: &str,
) -> Result<(), Refusal> {
    metrics::counter!("paybridge_callbacks_ahead_of_query_total").increment(1);
    let settles = rt.config.settlement.enabled;
    let followed = if settles {
        match store
            .follow_after_notice(kind, mch_no, number, now_ms())
            .await
        {
            Ok(followed) => followed,
            Err(e) => {
                tracing::warn!(error = %e, "the settlement check could not be brought forward");
                false
            }
        }
    } else {
        false
    };
    if !followed {
        tracing::warn!(
            mch_no,
            number,
            claimed,
            queried,
            settles,
            "a DaxPay 2.0 notice ahead of its order's query that nothing would confirm later: not acknowledged"
        );
        return Err(Refusal::Unconfirmed);
    }
    tracing::info!(
        mch_no,
        number,
        claimed,
        queried,
        "a DaxPay 2.0 notice ahead of its order's query (before DaxPay's commit?): acknowledged, confirmed later by the settlement worker"
    );
    Ok(())
}

/// Reads the pay order of `row` again and queues the merchant's notification if its state calls
/// for one (once per order and state). A 2.0.8 notice claiming a final state the query does not
/// show yet is confirmed by asking again, backing off.
async fn pay(
    rt: &Runtime,
    store: &OrderStore,
    merchant: &Merchant,
    upstream: &Upstream,
    row: &PayRow,
    claimed: Option<String>,
) -> Result<(), Refusal> {
    let biz = merchant.daxpay.number(&row.mch_order_no);
    let key = (SettlementKind::Pay, &*row.mch_no, &*row.mch_order_no);
    let behind = |o: &PayOrder| matches!(o.status, PayStatus::Wait | PayStatus::Progress);
    let read = || read_pay(rt, merchant, upstream, &biz);
    let Some(order) = confirm(upstream, claimed.is_some(), read, behind).await? else {
        return unanswered(rt, store, key, claimed.as_deref()).await;
    };
    if let Some(claimed) = claimed.as_deref().filter(|_| behind(&order)) {
        not_yet_committed(rt, store, key, claimed, order.status.as_str()).await?;
    }
    if order.biz_order_no != biz {
        return Err(Refusal::UnknownOrder);
    }
    settle_pay(store, merchant, row, order).await
}

/// DaxPay's record `order` of `row`'s pay order: a pending row is completed with `row`'s fields
/// (those of the request DaxPay accepted when `row` came by a callback's token; the live
/// attempt's when a settlement check read it), and the merchant's notification queued if the
/// state calls for one (once per order and state, however often DaxPay calls or paybridge looks).
pub(crate) async fn settle_pay(
    store: &OrderStore,
    merchant: &Merchant,
    row: &PayRow,
    order: PayOrder,
) -> Result<(), Refusal> {
    let settled;
    let row = match row.state {
        RowState::Pending => {
            settled = settle::record_pay(store, &order.order_no, row.clone())
                .await
                .map_err(store_down)?;
            settled.as_ref().unwrap_or(row)
        }
        RowState::Created => row,
    };
    let Some(state) = pay_state(merchant, &order) else {
        return Ok(());
    };
    let job = match merchant.dialect {
        Dialect::Epay => epay_job_for(store, merchant, row, &order, now_ms())
            .await
            .map_err(store_down)?,
        Dialect::Jeepay => pay_job(merchant, row, order, state, now_ms()),
    };
    enqueue(store, job).await
}

fn store_down(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "order store unavailable: DaxPay's outcome is not recorded");
    Refusal::StoreDown
}

/// Reads the refund of `row` again; the row settled with this request's fields. A 2.0.8 notice
/// claiming a final state the query does not show yet is confirmed by asking again.
async fn refund(
    rt: &Runtime,
    store: &OrderStore,
    merchant: &Merchant,
    upstream: &Upstream,
    row: &RefundRow,
    claimed: Option<String>,
) -> Result<(), Refusal> {
    let key = (SettlementKind::Refund, &*row.mch_no, &*row.mch_refund_no);
    // The row already holds, final, what the notice claims (a notice sent again, the query
    // behind): nothing to confirm and nothing to lower, so it is acknowledged as it is.
    let stored = row.status.filter(|s| *s != RefundOrderStatus::Progress);
    let already = stored.is_some_and(|s| Some(s.as_str()) == claimed.as_deref());
    let behind = |r: &RefundRecord| r.status == RefundOrderStatus::Progress;
    let read = || read_refund(rt, merchant, upstream, row);
    let record = confirm(upstream, claimed.is_some(), read, |r| behind(r) && !already).await?;
    let record = match record {
        Some(record) if !(already && behind(&record)) => record,
        None if !already => return unanswered(rt, store, key, claimed.as_deref()).await,
        _ => {
            tracing::info!(
                mch_no = row.mch_no.as_str(),
                claimed = claimed.as_deref().unwrap_or_default(),
                "a DaxPay 2.0 notice of a refund already final, its query behind: acknowledged, nothing lowered"
            );
            return Ok(());
        }
    };
    if let Some(claimed) = claimed.as_deref().filter(|_| behind(&record)) {
        not_yet_committed(rt, store, key, claimed, record.status.as_str()).await?;
    }
    settle_refund(store, merchant, row, record, Some(row.clone())).await
}

/// DaxPay's record of `row`'s refund: the row settled with the accepted request's fields
/// (`accepted`, when known by a callback's token; else the pending attempt that matches) and
/// DaxPay's status (never lowered), and the notification of a final refund queued once if the
/// row now holds that status.
pub(crate) async fn settle_refund(
    store: &OrderStore,
    merchant: &Merchant,
    row: &RefundRow,
    record: RefundRecord,
    accepted: Option<RefundRow>,
) -> Result<(), Refusal> {
    settle::refund_final(store, merchant, &row.mch_refund_no, record, accepted)
        .await
        .map_err(store_down)?;
    super::wake();
    Ok(())
}

/// The refund of `row`, read again with a signed query (by DaxPay's number when known).
pub(crate) async fn read_refund(
    rt: &Runtime,
    merchant: &Merchant,
    upstream: &Upstream,
    row: &RefundRow,
) -> Result<RefundRecord, Refusal> {
    let biz = merchant.daxpay.number(&row.mch_refund_no);
    let fields = match &row.refund_order_id {
        Some(no) => Fields::default().text("refundNo", Some(no)),
        None => Fields::default().text("bizRefundNo", Some(&biz)),
    };
    let data = read_again(rt, merchant, upstream, DaxCall::RefundQuery, fields).await?;
    let record = refund_record(&data, &source(upstream)).map_err(|e| unverified(&e))?;
    if record.biz_refund_no != biz {
        return Err(Refusal::UnknownOrder);
    }
    Ok(record)
}

/// Writes the job (once per order and state, however often DaxPay calls) and wakes the workers.
pub(crate) async fn enqueue(
    store: &OrderStore,
    job: Option<NewNotification>,
) -> Result<(), Refusal> {
    let Some(job) = job else {
        return Ok(());
    };
    match store.enqueue_notification(&job, now_ms()).await {
        Ok(Inserted::New) => {
            tracing::info!(
                mch_no = job.mch_no.as_str(),
                order_id = job.order_id.as_str(),
                state = job.state,
                "notification queued"
            );
            super::wake();
            Ok(())
        }
        Ok(Inserted::Exists(_)) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "the notification could not be written: not acknowledged");
            Err(Refusal::StoreDown)
        }
    }
}

/// The pay order with DaxPay's merchant number `biz`, read again with a signed query.
pub(crate) async fn read_pay(
    rt: &Runtime,
    merchant: &Merchant,
    upstream: &Upstream,
    biz: &str,
) -> Result<PayOrder, Refusal> {
    let by = OrderRef::new(None, Some(biz));
    let fields = query_fields(&by, upstream.version());
    let data = read_again(rt, merchant, upstream, DaxCall::PayQuery, fields).await?;
    pay_order(&data, &source(upstream)).map_err(|e| unverified(&e))
}

fn source(upstream: &Upstream) -> AnswerSource<'_> {
    AnswerSource {
        name: &upstream.name,
        version: upstream.version(),
        utc_offset: upstream.utc_offset,
    }
}

fn unverified(e: &Failure) -> Refusal {
    tracing::warn!(error = %e, "the order could not be read again: the callback is not acknowledged");
    Refusal::Unverified
}

/// One signed query on DaxPay with the merchant's identity, its verified `data`
/// ([`signed_call`]); a failure worded as the callback's refusal.
pub(crate) async fn read_again(
    rt: &Runtime,
    merchant: &Merchant,
    upstream: &Upstream,
    call: DaxCall,
    fields: Fields<'_>,
) -> Result<Value, Refusal> {
    match signed_call(rt, merchant, upstream, call, fields).await {
        Ok(data) => Ok(data),
        Err(CallError::NoClient(_)) => Err(Refusal::Unverified),
        Err(CallError::Upstream(e)) => Err(unverified(&Failure::Upstream(e))),
        Err(CallError::Refused { code, msg }) => {
            tracing::warn!(
                code,
                msg = msg.as_str(),
                "DaxPay refused to read the order again"
            );
            Err(Refusal::UnknownOrder)
        }
        Err(CallError::Unverified(fault)) => {
            tracing::warn!(fault = %fault, "DaxPay's answer to the order query does not verify");
            Err(Refusal::Unverified)
        }
    }
}
