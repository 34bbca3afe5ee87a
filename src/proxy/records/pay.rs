//! Pay: one request per merchant order number (Jeepay's uniqueness is per merchant, DaxPay's per
//! app), and what DaxPay will never return kept for the query and the notification.

use super::{
    contended, down, give_up, gives_up, mark_landing, new_attempt, not_recorded, store, Recorded,
};
use crate::domain::ops::{Paid, Pay};
use crate::domain::Failure;
use crate::proxy::call::{Job, Prepared};
use crate::store::{Attempt, Inserted, Joined, PayRow, RowState, SettlementKind};

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
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<(), Failure> {
        let store = store(job)?;
        // Jeepay keeps the caller's address when the merchant gives none.
        if p.op.client_ip.is_none() {
            p.op.client_ip = job.routed.cx.peer.map(|ip| ip.to_string());
        }
        // Every attempt has its own token: DaxPay's callback then names the request it accepted.
        let attempt = new_attempt(relay(job, p)?)?;
        for _ in 0..3 {
            // By value: moved to the store, not copied (a row is a dozen strings).
            match store.insert_pay(row(p, &attempt)).await.map_err(down)? {
                Inserted::New => {
                    p.attempt = Some(attempt);
                    return Ok(());
                }
                Inserted::Exists(existing) if existing.state == RowState::Pending => {
                    match store.join_pay(&row(p, &attempt)).await.map_err(down)? {
                        Joined::Joined(_) => {
                            tracing::info!(
                                mch_no = p.merchant.mch_no.as_str(),
                                "an order number whose first request has no known outcome: joined, DaxPay decides"
                            );
                            p.attempt = Some(attempt);
                            return Ok(());
                        }
                        Joined::Taken(_) => {
                            return Err(Failure::OrderExists(p.op.mch_order_no.clone()))
                        }
                        // Given up meanwhile: the number is free again.
                        Joined::Gone => continue,
                    }
                }
                Inserted::Exists(_) => return Err(Failure::OrderExists(p.op.mch_order_no.clone())),
            }
        }
        Err(contended())
    }

    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Paid, Failure>,
    ) -> Result<Paid, Failure> {
        let store = store(job)?;
        let Some(attempt) = &p.attempt else {
            return outcome;
        };
        match &outcome {
            Ok(paid) => {
                let recorded =
                    crate::notify::settle::record_pay(store, &paid.order_no, row(p, attempt));
                if let Err(e) = recorded.await {
                    not_recorded("pay order", e);
                }
            }
            Err(failure) if gives_up(failure) => {
                let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_order_no);
                give_up(store, SettlementKind::Pay, mch_no, number, &attempt.id).await;
                return outcome;
            }
            Err(_) => {}
        }
        let key = (
            p.merchant.mch_no.as_str(),
            p.op.mch_order_no.as_str(),
            attempt.id.as_str(),
        );
        mark_landing(store, SettlementKind::Pay, key, &outcome).await;
        outcome
    }
}

/// paybridge's callback and return URLs in the merchant's stead, under a new token, when the
/// merchant gave URLs of its own; the token.
fn relay(job: &Job<'_>, p: &mut Prepared<Pay>) -> Result<Option<String>, Failure> {
    if p.op.notify_url.is_none() && p.op.return_url.is_none() {
        return Ok(None);
    }
    let (token, notify, back) = relay_urls(job)?;
    p.op.relay.notify_url = p.op.notify_url.is_some().then_some(notify);
    p.op.relay.return_url = p.op.return_url.is_some().then_some(back);
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

/// This request's attempt, as its row.
fn row(p: &Prepared<Pay>, attempt: &Attempt) -> PayRow {
    let op = &p.op;
    PayRow {
        mch_no: p.merchant.mch_no.clone(),
        app_id: p.merchant.app_id.clone(),
        mch_order_no: op.mch_order_no.clone(),
        pay_order_id: None,
        way_code: op.way_code.clone(),
        currency: op.currency.clone(),
        client_ip: op.client_ip.clone(),
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
