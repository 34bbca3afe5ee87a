//! Pay: one request per merchant order number (Jeepay's uniqueness is per merchant, DaxPay's per
//! app), and what DaxPay will never return kept for the query and the notification.

use super::{down, not_recorded, nothing_created, now_ms, store, Recorded};
use crate::domain::ops::{Paid, Pay};
use crate::domain::Failure;
use crate::proxy::call::{Job, Prepared};
use crate::store::{Inserted, PayRow, RowState};

impl Recorded for Pay {
    /// A number already answered is refused with Jeepay's words. A row left by a request whose
    /// outcome is unknown lets this one through: DaxPay's own uniqueness then decides (it
    /// answers 20044, `已存在`, if the first one created the order).
    async fn before(job: &Job<'_>, p: &mut Prepared<Self>) -> Result<(), Failure> {
        let store = store(job)?;
        // Jeepay keeps the caller's address when the merchant gives none.
        if p.op.client_ip.is_none() {
            p.op.client_ip = job.routed.cx.peer.map(|ip| ip.to_string());
        }
        let token = relay(job, p, None)?;
        let mut new = row(p);
        new.token = token;
        // By value: moved to the store, not copied (a row is a dozen strings).
        match store.insert_pay(new).await.map_err(down)? {
            Inserted::New => {
                p.wrote_row = true;
                Ok(())
            }
            Inserted::Exists(existing) if existing.state == RowState::Pending => {
                tracing::info!(
                    mch_no = p.merchant.mch_no.as_str(),
                    "an order number whose first request has no known outcome: DaxPay decides"
                );
                // DaxPay may already hold the first request's URLs: keep its token (or give
                // the row this request's, which DaxPay is about to get).
                let had = existing.token.clone();
                if let (None, Some(token)) = (had.as_ref(), relay(job, p, had.clone())?) {
                    store
                        .adopt_pay_token(&p.merchant.mch_no, &p.op.mch_order_no, &token)
                        .await
                        .map_err(down)?;
                }
                Ok(())
            }
            Inserted::Exists(_) => Err(Failure::OrderExists(p.op.mch_order_no.clone())),
        }
    }

    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<Paid, Failure>,
    ) -> Result<Paid, Failure> {
        let store = store(job)?;
        let (mch_no, number) = (&p.merchant.mch_no, &p.op.mch_order_no);
        match &outcome {
            Ok(paid) => {
                if let Err(e) = store
                    .complete_pay(mch_no, number, &paid.order_no, row(p))
                    .await
                {
                    not_recorded("pay order", e);
                }
            }
            Err(failure) if p.wrote_row && nothing_created(failure) => {
                if let Err(e) = store.remove_pending_pay(mch_no, number).await {
                    not_recorded("pay order removal", e);
                }
            }
            Err(_) => {}
        }
        outcome
    }
}

/// paybridge's callback and return URLs in the merchant's stead (under `token`, else a new
/// one), when the merchant gave URLs of its own; its token.
fn relay(
    job: &Job<'_>,
    p: &mut Prepared<Pay>,
    token: Option<String>,
) -> Result<Option<String>, Failure> {
    if p.op.notify_url.is_none() && p.op.return_url.is_none() {
        return Ok(None);
    }
    let (token, notify, back) = relay_urls(job, token)?;
    p.op.relay.notify_url = p.op.notify_url.is_some().then_some(notify);
    p.op.relay.return_url = p.op.return_url.is_some().then_some(back);
    Ok(Some(token))
}

/// The token (`given`, else a new one) and its callback and return URLs under `public_url`; no
/// `public_url`: the merchant's URLs cannot be relayed, and nothing is sent.
pub(super) fn relay_urls(
    job: &Job<'_>,
    given: Option<String>,
) -> Result<(String, String, String), Failure> {
    let public = job
        .rt
        .config
        .server
        .public_url
        .as_deref()
        .ok_or(Failure::NotifyUnconfigured)?;
    let token = match given {
        Some(token) => token,
        None => crate::notify::token().ok_or(Failure::Internal)?,
    };
    let (notify, back) = crate::notify::relay_urls(public, &token);
    Ok((token, notify, back))
}

/// The row of this request, as written before DaxPay is called.
fn row(p: &Prepared<Pay>) -> PayRow {
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
        created_at_ms: now_ms(),
        state: RowState::Pending,
        token: None,
    }
}
