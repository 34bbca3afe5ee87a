//! Refund: one request per merchant refund number, checked here before DaxPay is called (DaxPay
//! would silently run a failed refund again under the same number), and the paid amount that
//! DaxPay's refund answer lacks.

use serde_json::Value;

use super::Recorded;
use super::{contended, down, new_attempt, not_recorded, own_number, store};
use super::{give_up, gives_up, mark_landing, mark_sending, now_ms, Whose};
use crate::dialect::daxpay::answer::Answer;
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::ops::refund_query::refund_record;
use crate::dialect::daxpay::order_query::query_fields;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Refund, RefundRecord, Refunded};
use crate::domain::order::{Fen, RefundOrderStatus};
use crate::domain::{Failure, Operation};
use crate::notify::settle;
use crate::proxy::call::{exchange, probe, Job, Prepared};
use crate::store::{
    Attempt, Inserted, Joined, PaidBy, RefundRow, RefundSettlement, RowState, SettlementKind,
};

impl Recorded for Refund {
    /// A refund number already used is `商户退款订单号[…]已存在` and never reaches DaxPay's
    /// refund. One left by a request whose outcome is unknown is joined and looked up on
    /// DaxPay: found, it was made (what DaxPay holds is recorded, and notified once final);
    /// not found, this request goes on.
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<Option<Refunded>, Failure> {
        let store = store(job)?;
        let relayed = relay(job, p);
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
        let attempt = new_attempt(token)?;
        let taken = || Failure::RefundExists(p.op.mch_refund_no.clone());
        for _ in 0..3 {
            // What the store keeps of the pay order is added by the store, in the same call as
            // the insert (one round trip to its thread instead of two).
            match store
                .insert_refund_of(paid_by, row(p, &attempt))
                .await
                .map_err(down)?
            {
                Inserted::New => {
                    p.attempt = Some(attempt);
                    return Ok(None);
                }
                Inserted::Exists(existing) if existing.state == RowState::Pending => {
                    // A dialect whose refund numbers are idempotency keys: a request meeting
                    // the number in flight waits for it, and is answered as its repeat.
                    if p.merchant.keeps_dialect_orders() {
                        match settled_meanwhile(store, p).await? {
                            Waited::Settled(row) => {
                                return super::repeats::refund_again(p, &row).map(Some)
                            }
                            Waited::Gone => continue,
                            Waited::Pending => {}
                        }
                    }
                    let mut mine = row(p, &attempt);
                    if let Some(by) = paid_by {
                        mine.of_paid(store.pay_by(&p.merchant.mch_no, by).await.map_err(down)?);
                    }
                    match store.join_refund(&mine).await.map_err(down)? {
                        Joined::Joined(_) => {
                            p.attempt = Some(attempt);
                            let joined = match joined(job, p).await {
                                // Marked possibly sent before its call, on every version
                                // ([`joined`]).
                                Ok(()) => mark_sending(
                                    store,
                                    SettlementKind::Refund,
                                    (&p.merchant.mch_no, &p.op.mch_refund_no),
                                    p.attempt.as_ref(),
                                    p.upstream.timeout,
                                )
                                .await
                                .map(|()| None),
                                Err(failure) => Err(failure),
                            };
                            if joined.is_err() {
                                // Nothing will be sent for this attempt: it must not count as
                                // a request that may land, nor keep the row alive.
                                if let Some(attempt) = p.attempt.take() {
                                    let (mch_no, number) =
                                        (&p.merchant.mch_no, &p.op.mch_refund_no);
                                    give_up(
                                        store,
                                        SettlementKind::Refund,
                                        mch_no,
                                        number,
                                        &attempt.id,
                                    )
                                    .await;
                                }
                            }
                            return match joined {
                                // Found on DaxPay (and recorded): a dialect whose numbers are
                                // idempotency keys answers it as the repeat it is.
                                Err(Failure::RefundExists(_))
                                    if p.merchant.keeps_dialect_orders() =>
                                {
                                    repeat_once_settled(store, p).await
                                }
                                joined => joined,
                            };
                        }
                        Joined::Taken(row) if p.merchant.keeps_dialect_orders() => {
                            return super::repeats::refund_again(p, &row).map(Some)
                        }
                        Joined::Taken(_) => return Err(taken()),
                        Joined::Gone => continue,
                    }
                }
                // A dialect whose refund numbers are idempotency keys (epay V2's `out_refund_no`)
                // answers a refund DaxPay made again.
                Inserted::Exists(existing) if p.merchant.keeps_dialect_orders() => {
                    return super::repeats::refund_again(p, &existing).map(Some)
                }
                Inserted::Exists(_) => return Err(taken()),
            }
        }
        Err(contended())
    }

    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Refunded, Failure>,
    ) -> Result<Refunded, Failure> {
        let store = store(job)?;
        let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_refund_no);
        let outcome = accepted_pending(p, outcome);
        // A refund a lookup found that another request of the number asked for (its amount or
        // `attach` not this request's): the number is taken, as Jeepay answers a second request.
        if outcome.is_ok()
            && p.looked_up
                .get()
                .is_some_and(|found| !asked_by_this(p, found))
        {
            if let Some(attempt) = &p.attempt {
                give_up(store, SettlementKind::Refund, mch_no, number, &attempt.id).await;
            }
            return Err(Failure::RefundExists(number.clone()));
        }
        // 2.0's refund query has no `attach` to tell: the store says whose it may be.
        if outcome.is_ok() && p.looked_up.get().is_some() && p.upstream.version() == Version::V2_0 {
            match maker_on_2_0(store, p).await {
                Whose::This => {}
                Whose::Another | Whose::Nobody => {
                    if let Some(attempt) = &p.attempt {
                        give_up(store, SettlementKind::Refund, mch_no, number, &attempt.id).await;
                    }
                    return Err(Failure::RefundExists(number.clone()));
                }
                // This request's attempt, if any, stays: DaxPay's callback, whose token names
                // its request, or the settlement worker completes the row.
                Whose::Unclear => return Err(Failure::EarlierOutcomeUnknown),
            }
        }
        let Some(attempt) = &p.attempt else {
            return outcome;
        };
        if matches!(&outcome, Err(failure) if gives_up(failure)) {
            give_up(store, SettlementKind::Refund, mch_no, number, &attempt.id).await;
            return outcome;
        }
        // A failure is marked at once; a refund DaxPay answered is marked with its settlement,
        // in the same transaction (one call and one commit fewer).
        if outcome.is_err() {
            let key = (mch_no.as_str(), number.as_str(), attempt.id.as_str());
            mark_landing(store, SettlementKind::Refund, key, &outcome).await;
        }
        let mut refunded = outcome?;
        // This attempt as the store holds it: with what the store knew of the pay order.
        let mine = match store.refund_attempts(mch_no, number).await {
            Ok(attempts) => attempts
                .into_iter()
                .find(|a| a.attempt.as_deref() == Some(attempt.id.as_str())),
            Err(e) => {
                not_recorded("refund lookup", e);
                None
            }
        };
        let mut mine = mine.unwrap_or_else(|| row(p, attempt));
        refunded.pay_amount = match mine.pay_amount_fen.and_then(|f| u64::try_from(f).ok()) {
            Some(fen) => Some(Fen(fen)),
            None => paid_amount(job, p).await,
        };
        let pay_amount = refunded.pay_amount.and_then(|f| i64::try_from(f.0).ok());
        mine.pay_amount_fen = pay_amount;
        let settlement = RefundSettlement {
            mch_no: mch_no.clone(),
            mch_refund_no: number.clone(),
            attempt: Some(mine),
            refund_order_id: Some(refunded.refund_no.clone()),
            pay_amount_fen: pay_amount,
            status: Some(refunded.status),
        };
        let row = match settle::record_answered_refund(store, settlement, now_ms()).await {
            Ok(row) => row,
            Err(e) => {
                not_recorded("refund", e);
                None
            }
        };
        // DaxPay sends no callback for a refund that fails at once; Jeepay notifies it (3) —
        // once no other request of the number may still land (DaxPay 3.0 would run the failed
        // refund again): until then the settlement worker keeps it open and notifies it later.
        // Only a failure waits for them: no store read for a refund that did not fail.
        let others = refunded.status == RefundOrderStatus::Fail
            && match store
                .attempt_windows(SettlementKind::Refund, mch_no, number)
                .await
            {
                Ok(attempts) => settle::another_may_land(
                    attempts.as_ref(),
                    Some(&attempt.id),
                    p.upstream.request_expiry,
                ),
                Err(e) => {
                    not_recorded("refund attempts", e);
                    true
                }
            };
        if others {
            tracing::info!(mch_no = mch_no.as_str(), "{}", settle::MAY_STILL_LAND);
        }
        if let (RefundOrderStatus::Fail, Some(row), false) = (refunded.status, row, others) {
            let order_no = pay_order_no(job, p, &row).await;
            // Jeepay's notification always names the pay order: when it cannot be learnt now (the
            // pay query failed too), the settlement worker's refund query, which carries it,
            // queues the notification instead (its entry stays open until it has looked).
            if order_no.is_none() && job.rt.config.settlement.enabled {
                tracing::info!(
                    mch_no = mch_no.as_str(),
                    "refund failure: its pay order's number is not known yet; notified by the settlement worker"
                );
                return Ok(refunded);
            }
            let record = RefundRecord {
                refund_no: refunded.refund_no.clone(),
                biz_refund_no: refunded.biz_refund_no.clone(),
                order_no,
                amount: refunded.refund_amount,
                status: refunded.status,
                out_refund_no: None,
                attach: p.op.ext_param.clone(),
                error_code: refunded.error_code.clone(),
                error_msg: refunded.error_msg.clone(),
                finished_at_ms: None,
                pay_amount: None,
                currency: None,
                created_at_ms: None,
            };
            if let Err(e) = settle::notify_refund(store, &p.merchant, &row, record).await {
                not_recorded("refund failure notification", e);
            }
        }
        Ok(refunded)
    }
}

/// What waiting for a pending refund number found.
enum Waited {
    /// DaxPay's answer for it is recorded: the row as it now stands.
    Settled(Box<RefundRow>),
    /// Its last attempt gave up: the number is free again.
    Gone,
    /// Still pending when the wait ended.
    Pending,
}

/// How often a request waiting for a refund number in flight reads the store again.
const WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(50);

/// Waits (at most the upstream's timeout, the longest the request in flight can take to be
/// answered) for the refund row of this number to leave `Pending`, reading the store as the
/// replay claim's waiters do. epay V2's `out_refund_no` is an idempotency key: a concurrent
/// request with it must get the same answer as the first, not a refusal that looks final
/// (SDK2 records any `code` other than 0 as a failed refund).
async fn settled_meanwhile(
    store: &crate::store::OrderStore,
    p: &Prepared<Refund>,
) -> Result<Waited, Failure> {
    let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_refund_no);
    let until = tokio::time::Instant::now() + p.upstream.timeout;
    loop {
        match store
            .refund_by_mch_refund_no(mch_no, number)
            .await
            .map_err(down)?
        {
            None => return Ok(Waited::Gone),
            Some(row) if row.state != RowState::Pending => {
                return Ok(Waited::Settled(Box::new(row)))
            }
            Some(_) if tokio::time::Instant::now() >= until => return Ok(Waited::Pending),
            Some(_) => tokio::time::sleep(WAIT_STEP).await,
        }
    }
}

/// A refund of this number a lookup found on DaxPay (and recorded): answered as a repeat once
/// the row says so; still pending, it is in progress (never a refusal that looks final).
async fn repeat_once_settled(
    store: &crate::store::OrderStore,
    p: &Prepared<Refund>,
) -> Result<Option<Refunded>, Failure> {
    match settled_meanwhile(store, p).await? {
        Waited::Settled(row) => super::repeats::refund_again(p, &row).map(Some),
        Waited::Gone | Waited::Pending => Err(Failure::DuplicateInProgress),
    }
}

/// DaxPay 2.0's verified refund answer named the refund it made (`refundNo`), and the refund
/// query that tells its outcome failed: the refund exists for certain, so it is answered as
/// Jeepay answers a refund the channel is still carrying out (code 0, state 1, that
/// `refundOrderId`), recorded in progress, and finished by the settlement worker, which
/// notifies the merchant once it is final (lifecycle-2.0.md §5.3). An answer that did not name
/// it stays an unknown outcome.
fn accepted_pending(
    p: &Prepared<Refund>,
    outcome: Result<Refunded, Failure>,
) -> Result<Refunded, Failure> {
    let Err(Failure::RefundOutcomePending {
        refund_no: Some(refund_no),
        ..
    }) = outcome
    else {
        return outcome;
    };
    tracing::info!(
        mch_no = p.merchant.mch_no.as_str(),
        "DaxPay 2.0 took the refund, its query failed: answered in progress, settled later"
    );
    Ok(Refunded {
        refund_no,
        biz_refund_no: p.op.biz_refund_no.clone(),
        status: RefundOrderStatus::Progress,
        error_code: None,
        error_msg: None,
        pay_amount: None,
        refund_amount: p.op.amount,
        channel_refund_no: None,
        repeated: false,
    })
}

/// A request that joined a number left pending by one whose outcome is unknown: DaxPay is asked
/// first. A refund it holds was made by an earlier request (what DaxPay holds is recorded and,
/// once final, notified: it sends no callback for a refund that failed at once). None: that is
/// proof only once no earlier request of the number can land any more (`replay::landing`: a
/// held request that lands after this one failed would make DaxPay 3.0 run the refund again,
/// and a failed one re-run after its state 3 was notified); until then this request is answered
/// unknown and nothing is sent. Any error here: the caller gives this attempt up.
///
/// Let through, the attempt is marked possibly sent before its call (`mark_sending`), on every
/// DaxPay version: this probe runs on every version, so a joined refund that stands unmarked
/// provably never reached DaxPay on any, and the settlement rule leaves it out
/// (`notify::settle::never_sent`) rather than keeping its row open for good when DaxPay's only
/// callback is lost (2.0.8 makes one attempt; 3.0's retries may all fail too). Were 3.0 left
/// unmarked, one killed during its call would be read as never sent, and its refund settled
/// with an earlier request's fields.
async fn joined(job: &Job<'_>, p: &mut Prepared<Refund>) -> Result<(), Failure> {
    let store = store(job)?;
    if let Some(found) = probe(job, p).await? {
        // This request sent nothing: it is no candidate for what DaxPay made, so it gives up
        // before what was found is recorded (else the row would look joined by several).
        if let Some(attempt) = p.attempt.take() {
            let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_refund_no);
            give_up(store, SettlementKind::Refund, mch_no, number, &attempt.id).await;
        }
        learnt(job, p, &found).await;
        return Err(Failure::RefundExists(p.op.mch_refund_no.clone()));
    }
    let mine = p.attempt.as_ref().map(|a| a.id.as_str());
    let attempts = store
        .attempt_windows(
            SettlementKind::Refund,
            &p.merchant.mch_no,
            &p.op.mch_refund_no,
        )
        .await
        .map_err(down)?;
    // The row went away meanwhile: nothing to join; the merchant tries again.
    if attempts.is_none()
        || settle::another_may_land(attempts.as_ref(), mine, p.upstream.request_expiry)
    {
        tracing::info!(
            mch_no = p.merchant.mch_no.as_str(),
            "a refund number whose earlier request may still land: answered unknown, nothing sent"
        );
        metrics::counter!("paybridge_retries_unknown_total").increment(1);
        return Err(Failure::EarlierOutcomeUnknown);
    }
    Ok(())
}

/// Whether DaxPay's refund `found` is the one this request asked for: its amount and `attach`
/// are this request's (a failed refund run again takes the later request's `attach`). DaxPay
/// 2.0's refund query has no `attach`: the amount alone.
fn asked_by_this(p: &Prepared<Refund>, found: &Value) -> bool {
    let Ok(record) = refund_record(found, &p.source()) else {
        return true;
    };
    let blank = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
    record.amount == p.op.amount
        && (p.upstream.version() == Version::V2_0
            || blank(record.attach.as_deref()) == blank(p.op.ext_param.as_deref()))
}

/// DaxPay 2.0's refund query has no `attach` (lifecycle-2.0.md §6), so a refund of this
/// request's amount may be another request's of the number, with another `extParam` or
/// `notifyUrl` (the 2.0 lifecycle soak's finding: a retry with another notifyUrl told
/// "refunding" for the refund its earlier request made, which is notified to that request's
/// URL). The requests that may have made it are those the store holds for the number (a
/// completed row's, else its standing attempts): all alike this one, it is this one's; none,
/// another's (the number is taken, as Jeepay answers a second request); some, unclear. A store
/// that cannot say: the amount alone, as before.
async fn maker_on_2_0(store: &crate::store::OrderStore, p: &Prepared<Refund>) -> Whose {
    let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_refund_no);
    // A completed row names its request; a pending one has its standing attempts.
    let candidates = async {
        let row = store.refund_by_mch_refund_no(mch_no, number).await?;
        if let Some(row) = row.filter(|r| r.state != RowState::Pending) {
            return Ok(vec![row]);
        }
        store.refund_attempts(mch_no, number).await
    };
    let candidates = match candidates.await {
        Ok(candidates) => candidates,
        Err(e) => {
            not_recorded("refund lookup", e);
            return Whose::This;
        }
    };
    let blank = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
    let alike = |r: &RefundRow| {
        u64::try_from(r.refund_amount_fen).ok() == Some(p.op.amount.0)
            && blank(r.ext_param.as_deref()) == blank(p.op.ext_param.as_deref())
            && blank(r.notify_url.as_deref()) == blank(p.op.notify_url.as_deref())
    };
    Whose::among(&candidates, alike)
}

/// What a lookup found of this number's refund, recorded (a failure to is logged: the answer
/// stands).
pub(super) async fn learnt(job: &Job<'_>, p: &Prepared<Refund>, data: &Value) {
    let Some(store) = job.rt.orders.as_ref() else {
        return;
    };
    let record = match refund_record(data, &p.source()) {
        Ok(record) if record.biz_refund_no == p.merchant.daxpay.number(&p.op.mch_refund_no) => {
            record
        }
        _ => return,
    };
    let settled = settle::refund_final(store, &p.merchant, &p.op.mch_refund_no, record, None);
    match settled.await {
        Ok(settle::Settled::Done) => {}
        Ok(settle::Settled::LeftOpen(why)) => {
            tracing::info!(
                mch_no = p.merchant.mch_no.as_str(),
                why,
                "refund learnt by lookup left open"
            )
        }
        Err(e) => not_recorded("refund learnt by lookup", e),
    }
}

/// paybridge's callback URL in the merchant's stead, under a new token, when the merchant gave
/// a notify URL; the token.
fn relay(job: &Job<'_>, p: &mut Prepared<Refund>) -> Result<Option<String>, Failure> {
    if p.op.notify_url.is_none() {
        return Ok(None);
    }
    let (token, notify, _) = super::pay::relay_urls(job)?;
    p.op.relay_notify_url = Some(notify);
    Ok(Some(token))
}

/// This request's attempt, as its row (the store adds what it keeps of the pay order).
fn row(p: &Prepared<Refund>, attempt: &Attempt) -> RefundRow {
    RefundRow {
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
        created_at_ms: attempt.created_at_ms,
        state: RowState::Pending,
        token: attempt.token.clone(),
        attempt: Some(attempt.id.clone()),
        status: None,
    }
}

/// The refunded pay order's DaxPay number, for the notification (Jeepay's carries
/// `payOrderId`): the request's, the row's, else read by a pay query, the pay row having had
/// no DaxPay number yet (its creating answer was lost; what the query learnt is recorded, as a
/// pay query records it). `None` if it cannot be learnt.
async fn pay_order_no(job: &Job<'_>, p: &Prepared<Refund>, row: &RefundRow) -> Option<String> {
    if let Some(known) = p.op.order.order_no.clone().or(row.pay_order_id.clone()) {
        return Some(known);
    }
    let fields = query_fields(p.op.order(), p.upstream.version());
    let Ok(Answer::Done { data, .. }) = exchange(job, p, DaxCall::PayQuery, &fields).await else {
        return None;
    };
    let order = pay_order(&data, &p.source()).ok()?;
    if let Some(store) = job.rt.orders.as_ref() {
        let number = own_number(p, &order.biz_order_no);
        let version = p.upstream.version();
        let learnt = super::pay_query::learn_pending(store, &p.merchant, version, number, &order);
        if let Err(e) = learnt.await {
            not_recorded("pay order learnt by a refund", e);
        }
    }
    Some(order.order_no)
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
