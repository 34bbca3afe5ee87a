//! Pay: one request per merchant order number (Jeepay's uniqueness is per merchant, DaxPay's per
//! app), and what DaxPay will never return kept for the query and the notification.

use super::pay_query::{learn_pending, STORED_FAILED};
use super::{
    contended, down, give_up, gives_up, mark_landing, mark_sending, new_attempt, not_recorded,
    now_ms, store, Recorded, Whose,
};
use crate::dialect::daxpay::ops::pay_2_0::CHANNEL_REFUSED_2_0;
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::{Paid, Pay};
use crate::domain::order::PayStatus;
use crate::domain::Failure;
use crate::notify::intake::settle_pay;
use crate::notify::settle::{another_may_land, pay_maker, PayMaker};
use crate::proxy::call::{probe, Job, Prepared};
use crate::store::{
    Attempt, Inserted, Joined, OrderStore, PayRow, RowState, SettlementKind, StoreError,
};

impl Recorded for Pay {
    /// A number already answered is refused with Jeepay's words. A row left by a request whose
    /// outcome is unknown is joined: DaxPay's own uniqueness then decides (it answers 20044,
    /// `已存在`, if the first one created the order), and whichever request DaxPay accepted
    /// gives the row its fields.
    ///
    /// Unlike a refund's, a pay request that joins is sent at once, even while an earlier one
    /// may still land: DaxPay keeps one pay order per `bizOrderNo` and app, under a lock, and
    /// never runs a pay again (lifecycle.md §2.5: any existing order answers 20044 or 20043;
    /// a channel failure leaves the order `progress`, and a later pay of the number is 20044),
    /// so two sends can make at most one order, whichever lands first.
    ///
    /// DaxPay 2.0 is different: it pays a `progress` order of the number again, with the
    /// stored amount and the later request's URLs (lifecycle-2.0.md §3.2 step 6), so there a
    /// joining request is held back as a refund's is ([`joined_on_2_0`]).
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<Option<Paid>, Failure> {
        // Read, not taken: the refusal stays on the order, so `execute` never sends its
        // half-bound request (a retry whose earlier attempt took the number goes on to a lookup).
        if let Some(refused) = p.op.upstream_text.refused {
            return Err(refused_after_duplicate_check(job, p, refused.into()).await);
        }
        let store = store(job)?;
        keep_in_dialect(store, p).await?;
        // Every attempt has its own token: DaxPay's callback then names the request it accepted.
        let attempt = new_attempt(relay(job, p)?)?;
        for _ in 0..3 {
            // By value: moved to the store, not copied (a row is a dozen strings).
            match store
                .insert_pay(row(job, p, &attempt))
                .await
                .map_err(down)?
            {
                Inserted::New => {
                    p.attempt = Some(attempt);
                    return Ok(None);
                }
                Inserted::Exists(existing) if existing.state == RowState::Pending => {
                    match store.join_pay(&row(job, p, &attempt)).await.map_err(down)? {
                        Joined::Joined(_) => {
                            tracing::info!(
                                mch_no = p.merchant.mch_no.as_str(),
                                "an order number whose first request has no known outcome: joined, DaxPay decides"
                            );
                            p.attempt = Some(attempt);
                            if p.upstream.version() != Version::V2_0 {
                                return Ok(None);
                            }
                            let joined = match joined_on_2_0(job, p).await {
                                // Marked possibly sent before its call (F10).
                                Ok(()) => mark_sending(
                                    store,
                                    SettlementKind::Pay,
                                    (&p.merchant.mch_no, &p.op.mch_order_no),
                                    p.attempt.as_ref(),
                                    p.upstream.timeout,
                                )
                                .await
                                .map(|()| None),
                                Err(failure) => Err(failure),
                            };
                            if joined.is_err() {
                                // Nothing is sent for it: it must not count as a request that
                                // may land, nor keep the row alive.
                                if let Some(attempt) = p.attempt.take() {
                                    let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_order_no);
                                    give_up(
                                        store,
                                        SettlementKind::Pay,
                                        mch_no,
                                        number,
                                        &attempt.id,
                                    )
                                    .await;
                                }
                            }
                            return joined;
                        }
                        Joined::Taken(_) => {
                            return Err(Failure::OrderExists(p.op.mch_order_no.clone()))
                        }
                        // Given up meanwhile: the number is free again.
                        Joined::Gone => continue,
                    }
                }
                // A dialect that answers a repeated number again (epay) does so from the store.
                Inserted::Exists(existing) if p.op.in_dialect.is_some() => {
                    return super::repeats::pay_again(job, p, &existing).await.map(Some)
                }
                Inserted::Exists(_) => return Err(Failure::OrderExists(p.op.mch_order_no.clone())),
            }
        }
        Err(contended())
    }

    /// The row completed with this request's fields when DaxPay accepted it. An outcome a
    /// lookup learnt (this request's own answer lost, or a retry) is first matched against
    /// DaxPay's record ([`whose`]): another request's order is no "created" for this one.
    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Paid, Failure>,
    ) -> Result<Paid, Failure> {
        let store = store(job)?;
        let Some(attempt) = &p.attempt else {
            // A retry whose attempt was given up (the number taken meanwhile), answered from a
            // lookup: another request's order is no answer to this one.
            return match (outcome, p.looked_up.get()) {
                (Ok(_), Some(found)) if !asked_by_this(p, found) => {
                    Err(Failure::OrderExists(p.op.mch_order_no.clone()))
                }
                // 2.0's query has no `attach` to tell: the store says whose it may be.
                (Ok(paid), Some(_)) if p.upstream.version() == Version::V2_0 => {
                    match retry_maker_on_2_0(job, p).await {
                        Whose::This => Ok(paid),
                        Whose::Unclear => Err(Failure::EarlierOutcomeUnknown),
                        Whose::Another | Whose::Nobody => {
                            Err(Failure::OrderExists(p.op.mch_order_no.clone()))
                        }
                    }
                }
                (outcome, _) => outcome,
            };
        };
        let (mch_no, number) = (p.merchant.mch_no.as_str(), p.op.mch_order_no.as_str());
        let key = (mch_no, number, attempt.id.as_str());
        let outcome = match (outcome, p.looked_up.get()) {
            (Ok(paid), Some(found)) => match whose(job, p, attempt, found).await {
                Whose::This => Ok(paid),
                // It made nothing and cannot (DaxPay answers 20044 if it still lands). Jeepay:
                // `已存在`; a dialect that answers repeats: what is true of this request.
                Whose::Another => {
                    let answer = super::repeats::made_by_another(store, p, &attempt.id).await;
                    give_up(store, SettlementKind::Pay, mch_no, number, &attempt.id).await;
                    return Err(answer);
                }
                // Not this one's either; its attempt goes only if others hold the row.
                Whose::Nobody => Err(Failure::OrderExists(p.op.mch_order_no.clone())),
                // This request's attempt may be the one: it stays, as one that may have landed.
                Whose::Unclear => {
                    let unknown = Err(Failure::EarlierOutcomeUnknown);
                    mark_landing(store, SettlementKind::Pay, key, &unknown).await;
                    return unknown;
                }
            },
            (outcome, _) => outcome,
        };
        match &outcome {
            Ok(paid) => {
                // The row completed and this attempt's call marked answered in one
                // transaction (one call, one commit; `mark_landing` below was a second). Not
                // written: both are left, the attempt counts as sending until its window ends.
                let recorded = crate::notify::settle::record_answered_pay(
                    store,
                    &paid.order_no,
                    row(job, p, attempt),
                    now_ms(),
                );
                if let Err(e) = recorded.await {
                    not_recorded("pay order", e);
                }
                if let (Some(_), Some(body)) = (&p.op.in_dialect, &paid.pay_body) {
                    if let Err(e) = store.keep_pay_body(mch_no, number, body).await {
                        not_recorded("what the payer needs", e);
                    }
                }
                return outcome;
            }
            Err(failure) if gives_up(failure) => {
                give_up(store, SettlementKind::Pay, mch_no, number, &attempt.id).await;
                return outcome;
            }
            Err(failure) if another_made_it(store, key, failure).await => {
                let answer = super::repeats::made_by_another(store, p, &attempt.id).await;
                give_up(store, SettlementKind::Pay, mch_no, number, &attempt.id).await;
                return Err(answer);
            }
            Err(Failure::Refused {
                code: CHANNEL_REFUSED_2_0,
                ..
            }) if p.upstream.version() == Version::V2_0 => {
                refused_by_channel_2_0(job, p, attempt).await;
            }
            Err(_) => {}
        }
        mark_landing(store, SettlementKind::Pay, key, &outcome).await;
        match outcome {
            // DaxPay holds an order of the number that the row's other request made, and that
            // request has settled the row meanwhile (two requests at once): a dialect that
            // answers repeats tells this one what is true of it (Jeepay: `已存在`, as always).
            Err(Failure::OrderExists(_)) if p.op.in_dialect.is_some() => {
                Err(super::repeats::made_by_another(store, p, &attempt.id).await)
            }
            outcome => outcome,
        }
    }
}

/// A request DaxPay's wire form refuses (`DaxOp::defer`: a way the upstream cannot serve, a
/// value over its limits, what its channel would refuse) is answered as Jeepay answers it: a
/// number the merchant already used is `商户订单[…]已存在` first (lifecycle.md §2.1 step 3),
/// else the refusal. Nothing is written and nothing sent. The store only makes the answer more
/// precise: one that cannot be read leaves the refusal, which holds either way. A dialect that
/// answers a repeated number from the store (epay) keeps its refusal first, as before.
async fn refused_after_duplicate_check(
    job: &Job<'_>,
    p: &Prepared<Pay>,
    refusal: Failure,
) -> Failure {
    let Ok(store) = store(job) else {
        return refusal;
    };
    if p.op.in_dialect.is_some() {
        return refusal;
    }
    match store
        .pay_by_mch_order_no(&p.merchant.mch_no, &p.op.mch_order_no)
        .await
    {
        Ok(Some(_)) => Failure::OrderExists(p.op.mch_order_no.clone()),
        Ok(None) => refusal,
        Err(e) => {
            tracing::warn!(error = %e, "order store unreadable: the request's own refusal is answered");
            metrics::counter!("paybridge_store_errors_total").increment(1);
            refusal
        }
    }
}

/// The order's number in its merchant's dialect (epay's `trade_no`), kept before anything else:
/// a merchant order that has one already keeps it (a repeated `out_trade_no` is answered with
/// the first request's number, as epay does); a number another order holds is renewed.
async fn keep_in_dialect(store: &OrderStore, p: &mut Prepared<Pay>) -> Result<(), Failure> {
    let Some(in_dialect) = p.op.in_dialect.as_mut() else {
        return Ok(());
    };
    for _ in 0..5 {
        let row = crate::store::dialect_orders::DialectOrder {
            mch_no: p.merchant.mch_no.clone(),
            mch_order_no: p.op.mch_order_no.clone(),
            dialect: in_dialect.dialect.to_owned(),
            trade_no: in_dialect.trade_no.clone(),
            origin: in_dialect.origin.to_owned(),
            pay_type: in_dialect.pay_type.clone(),
            pay_body: None,
            created_at_ms: super::now_ms(),
        };
        match store.keep_dialect_order(&row).await.map_err(down)? {
            crate::store::dialect_orders::Kept::Row(kept) => {
                in_dialect.trade_no = kept.trade_no;
                return Ok(());
            }
            crate::store::dialect_orders::Kept::TradeNoTaken => {
                in_dialect.trade_no = (in_dialect.renew)()
            }
        }
    }
    Err(contended())
}

/// A request that joined a pending number on DaxPay 2.0, which would pay an order of the
/// number again with its stored amount: DaxPay is asked first. An order there (made by an
/// earlier request, or left `progress` by a channel refusal) takes the number:
/// `商户订单[…]已存在`, and what was found is recorded. None: proof only once no earlier request
/// of the number can land any more (`replay::landing`, 2.0's `req_timeout`); until then the
/// request is answered unknown and nothing is sent. Any error: the caller gives the attempt up.
async fn joined_on_2_0(job: &Job<'_>, p: &mut Prepared<Pay>) -> Result<(), Failure> {
    let store = store(job)?;
    let (mch_no, number) = (p.merchant.mch_no.clone(), p.op.mch_order_no.clone());
    if let Some(found) = probe(job, p).await? {
        let answer = match &p.attempt {
            Some(attempt) => super::repeats::made_by_another(store, p, &attempt.id).await,
            None => Failure::OrderExists(number.clone()),
        };
        // It sent nothing: no candidate for what DaxPay made (it gives up before the record).
        if let Some(attempt) = p.attempt.take() {
            give_up(store, SettlementKind::Pay, &mch_no, &number, &attempt.id).await;
        }
        if let Ok(order) = pay_order(&found, &p.source()) {
            let learnt = learn_pending(store, &p.merchant, Version::V2_0, &number, &order);
            if let Err(e) = learnt.await {
                not_recorded("pay order learnt by a joining request", e);
            }
        }
        return Err(answer);
    }
    let mine = p.attempt.as_ref().map(|a| a.id.as_str());
    let attempts = store
        .attempt_windows(SettlementKind::Pay, &mch_no, &number)
        .await
        .map_err(down)?;
    if attempts.is_none() || another_may_land(attempts.as_ref(), mine, p.upstream.request_expiry) {
        tracing::info!(
            mch_no = mch_no.as_str(),
            "a pay number whose earlier request may still land on DaxPay 2.0: answered unknown, nothing sent"
        );
        metrics::counter!("paybridge_retries_unknown_total").increment(1);
        return Err(Failure::EarlierOutcomeUnknown);
    }
    Ok(())
}

/// DaxPay 2.0 answered that the channel refused this pay (lifecycle-2.0.md §3.2 step 5, §3.6):
/// it keeps its order `progress` and would pay it again on a repeat of the number, and nothing
/// will move it by itself (2.0.8 ships its expiry job stopped). So the order is stored failed
/// at once: the row completed with DaxPay's number (read back, as 2.0.8's failure answer has
/// none) and this request's fields, and its settlement entry final as `fail`. A repeat is then
/// refused from the store alone, and the settlement worker does not poll an order that cannot
/// move. If DaxPay's number cannot be read back, the entry is still final: a repeat then finds
/// the order by a lookup, as before.
async fn refused_by_channel_2_0(job: &Job<'_>, p: &Prepared<Pay>, attempt: &Attempt) {
    let Ok(store) = store(job) else {
        return;
    };
    let (mch_no, number) = (p.merchant.mch_no.as_str(), p.op.mch_order_no.as_str());
    let found = match probe(job, p).await {
        Ok(Some(found)) => pay_order(&found, &p.source()).map_err(|e| e.to_string()),
        Ok(None) => Err("DaxPay has no order of the number".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    match found {
        Ok(order) if matches!(order.status, PayStatus::Wait | PayStatus::Progress) => {
            let recorded = crate::notify::settle::record_pay(store, &order.order_no, row(job, p, attempt));
            if let Err(e) = recorded.await {
                not_recorded("pay order refused by the channel", e);
            }
        }
        // Moved on meanwhile (paid after all?): the settlement worker follows it as any other.
        Ok(order) => {
            tracing::warn!(
                mch_no,
                dax_state = order.status.as_str(),
                "DaxPay 2.0 answered a channel refusal, but its order is no longer in progress: left to settlement"
            );
            return;
        }
        Err(why) => tracing::warn!(
            mch_no,
            why = why.as_str(),
            "DaxPay's number of a pay the channel refused was not read back: the row stays pending, final"
        ),
    }
    let recorded = store.record_final(SettlementKind::Pay, mch_no, number, STORED_FAILED, now_ms());
    if let Err(e) = recorded.await {
        not_recorded("pay refused by the channel, final", e);
    }
    tracing::info!(
        mch_no,
        "a pay the channel refused on DaxPay 2.0 is stored failed (DaxPay keeps it in progress)"
    );
}

/// Matches DaxPay's record `found` against the number's requests (`notify::settle::pay_maker`);
/// a row already completed names its request. DaxPay's order made from another request is
/// recorded there and then, with that request's fields, as the settlement worker would.
async fn whose(
    job: &Job<'_>,
    p: &Prepared<Pay>,
    attempt: &Attempt,
    found: &serde_json::Value,
) -> Whose {
    // DaxPay 2.0 repeats a pay on its `progress` order with the later request's notifyUrl and
    // attach (lifecycle-2.0.md §3.2 step 6), and its query has no attach: what it holds is the
    // last request that landed, as before.
    let version = p.upstream.version();
    if version == Version::V2_0 {
        return Whose::This;
    }
    let Ok(order) = pay_order(found, &p.source()) else {
        return Whose::Unclear;
    };
    let (mch_no, number) = (p.merchant.mch_no.as_str(), p.op.mch_order_no.as_str());
    let Ok(store) = store(job) else {
        return Whose::Unclear;
    };
    let this = row(job, p, attempt);
    let looked = async {
        let attempts = store
            .attempt_windows(SettlementKind::Pay, mch_no, number)
            .await?;
        if let Some(carried) = attempts.filter(|a| !a.pending).and_then(|a| a.carried) {
            // Completed meanwhile (a callback, a query, the worker): its request decides.
            return Ok(match store.pay_by_mch_order_no(mch_no, number).await? {
                Some(row) if carried == attempt.id || told_alike(&row, &this) => Whose::This,
                _ => Whose::Another,
            });
        }
        Ok::<_, StoreError>(
            match pay_maker(store, (mch_no, number), &order, version).await? {
                PayMaker::Attempt(maker) if told_alike(&maker, &this) => Whose::This,
                PayMaker::Attempt(maker) => {
                    if let Err(why) = settle_pay(store, &p.merchant, &maker, order.clone()).await {
                        tracing::warn!(
                            why = why.label(),
                            "another request's order is not recorded: the settlement worker will"
                        );
                    }
                    Whose::Another
                }
                PayMaker::Unclear => Whose::Unclear,
                // Made from no request paybridge keeps: this one's fields are not DaxPay's.
                PayMaker::NoMatch => Whose::Nobody,
            },
        )
    };
    looked.await.unwrap_or_else(|e| {
        not_recorded("pay order lookup", e);
        Whose::Unclear
    })
}

/// A retry whose attempt was given up, answered from a lookup on DaxPay 2.0, whose query has no
/// `attach` (the 2.0 lifecycle soak's finding, seed 1002: a retry with another notifyUrl told
/// "created" for the order its earlier request made, notified to that request's URL). The
/// requests that may have made the order are those the store holds for the number (a completed
/// row's, else its standing attempts): all told alike this one, it is this one's; none, another's;
/// some, unclear. A store that cannot say: the amount alone, as before.
async fn retry_maker_on_2_0(job: &Job<'_>, p: &Prepared<Pay>) -> Whose {
    let Ok(store) = store(job) else {
        return Whose::This;
    };
    let (mch_no, number) = (p.merchant.mch_no.as_str(), p.op.mch_order_no.as_str());
    // A completed row names its request; a pending one has its standing attempts.
    let candidates = async {
        let row = store.pay_by_mch_order_no(mch_no, number).await?;
        if let Some(row) = row.filter(|r| r.state != RowState::Pending) {
            return Ok::<_, StoreError>(vec![row]);
        }
        store.pay_attempts(mch_no, number).await
    };
    let candidates: Vec<PayRow> = match candidates.await {
        Ok(candidates) => candidates,
        Err(e) => {
            not_recorded("pay order lookup", e);
            return Whose::This;
        }
    };
    // This request as a row (no attempt of its own stands).
    let unattempted = Attempt {
        id: String::new(),
        token: None,
        created_at_ms: 0,
    };
    let this = row(job, p, &unattempted);
    Whose::among(&candidates, |c| told_alike(c, &this))
}

/// Whether DaxPay's order `found` was made from a request with this one's amount and
/// `extParam` (DaxPay 2.0's query has no `attach`, and its repeats overwrite it: the amount).
fn asked_by_this(p: &Prepared<Pay>, found: &serde_json::Value) -> bool {
    let Ok(order) = pay_order(found, &p.source()) else {
        return true;
    };
    let blank = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
    order.amount == p.op.amount
        && (p.upstream.version() == Version::V2_0
            || blank(order.attach.as_deref()) == blank(p.op.ext_param.as_deref()))
}

/// `a` tells the merchant what `b` does (the same amount, `extParam` and URLs).
fn told_alike(a: &PayRow, b: &PayRow) -> bool {
    a.amount_fen == b.amount_fen
        && a.ext_param.as_deref().unwrap_or_default() == b.ext_param.as_deref().unwrap_or_default()
        && crate::notify::settle::told_alike(a, b)
}

/// DaxPay refused this request because the number's order exists, while other requests joined
/// the row: one of them made it, and this attempt, which made nothing, gives up (so that the
/// row is theirs alone). The only request of a row keeps it (DaxPay has an order paybridge
/// never saw made).
async fn another_made_it(
    store: &OrderStore,
    (mch_no, number, _): (&str, &str, &str),
    failure: &Failure,
) -> bool {
    if !matches!(failure, Failure::OrderExists(_)) {
        return false;
    }
    match store
        .attempt_windows(SettlementKind::Pay, mch_no, number)
        .await
    {
        Ok(attempts) => attempts.is_some_and(|a| a.pending && a.live > 1),
        Err(e) => {
            not_recorded("pay attempts", e);
            false
        }
    }
}

/// paybridge's callback and return URLs in the merchant's stead, under a new token, when the
/// merchant gave URLs of its own (the return URL also when the payer pays on paybridge's page:
/// `Relay::pay_page`); the token.
fn relay(job: &Job<'_>, p: &mut Prepared<Pay>) -> Result<Option<String>, Failure> {
    let page = p.op.relay.pay_page;
    if p.op.notify_url.is_none() && p.op.return_url.is_none() && !page {
        return Ok(None);
    }
    let (token, notify, back) = relay_urls(job)?;
    p.op.relay.notify_url = p.op.notify_url.is_some().then_some(notify);
    p.op.relay.return_url = (p.op.return_url.is_some() || page).then_some(back);
    Ok(Some(token))
}

/// A new token and its callback and return URLs under `public_url`; no `public_url`: the
/// merchant's URLs cannot be relayed, and nothing is sent.
pub(super) fn relay_urls(job: &Job<'_>) -> Result<(String, String, String), Failure> {
    let public = job
        .rt
        .config
        .server
        .public_url
        .as_deref()
        .ok_or(Failure::NotifyUnconfigured)?;
    let token = crate::notify::token().ok_or(Failure::Internal)?;
    let (notify, back) = crate::notify::relay_urls(public, &token);
    Ok((token, notify, back))
}

/// This request's attempt, as its row. Its `clientIp` is the merchant's, else (as Jeepay
/// stores it) the caller's address: kept for the query's answer, but sent to DaxPay only with
/// `forward_client_ip` (`proxy::call`).
fn row(job: &Job<'_>, p: &Prepared<Pay>, attempt: &Attempt) -> PayRow {
    let op = &p.op;
    let client_ip = op
        .client_ip
        .clone()
        .or_else(|| job.routed.cx.peer.map(|ip| ip.to_string()));
    PayRow {
        mch_no: p.merchant.mch_no.clone(),
        app_id: p.merchant.app_id.clone(),
        mch_order_no: op.mch_order_no.clone(),
        pay_order_id: None,
        way_code: op.way_code.clone(),
        currency: op.currency.clone(),
        client_ip,
        amount_fen: i64::try_from(op.amount.0).unwrap_or(i64::MAX),
        subject: op.subject.clone(),
        body: op.body.clone(),
        ext_param: op.ext_param.clone(),
        notify_url: op.notify_url.clone(),
        return_url: op.return_url.clone(),
        upstream: p.upstream.name.clone(),
        created_at_ms: attempt.created_at_ms,
        state: RowState::Pending,
        token: attempt.token.clone(),
        attempt: Some(attempt.id.clone()),
    }
}
