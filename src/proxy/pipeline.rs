//! The one pipeline every translated operation goes through, written once:
//!
//! read → verify → freshness (the dialect's, [`MerchantDialect::verify`]) → the operation read
//! ([`MerchantOp::read`]) → replay claim → call DaxPay → resolve an unknown outcome → fall back
//! to the legacy gateway → record for duplicates → rendered in the request's dialect
//! ([`MerchantOp::answer`]). No dialect is named here.
//!
//! Nothing is reported as success that DaxPay did not sign. When a state-changing call was sent
//! but its outcome is unknown (no answer, an answer that cannot be believed, or the operation's
//! own "in progress" refusal), the order is read again before answering: a merchant is never
//! told "failed" for an order that was closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::call::{contradicts_an_earlier_attempt, execute, resume, Job, Prepared, Translated};
use super::records::Recorded;
use super::replay::{self, Claimed};
use super::runtime::reply_answer;
use super::{ownership, passthrough, records};
use crate::config::LegacyUpstream;
use crate::dialect::daxpay::ops::Upstream as AnswerSource;
use crate::dialect::merchant::{MerchantDialect, MerchantOp};
use crate::domain::Failure;
use crate::replay::Earlier;
use crate::telemetry::access::UpstreamName;
use crate::upstream::Answered;

/// Reads and verifies the request as its dialect does, on the job's upstream when given, else
/// on the merchant identity's own. `params`: as read for routing (`None`: read here).
pub(crate) fn prepare<D, O>(
    job: &Job<'_>,
    params: Option<&D::Params<'_>>,
) -> Result<(Prepared<O>, D::Answering), Failure>
where
    D: MerchantDialect,
    O: Translated + MerchantOp<D>,
{
    // The parameters read for routing are reused; read here only when they could not be.
    match params {
        Some(params) => prepare_from::<D, O>(job, params),
        None => {
            let read = job.routed.cx.params::<D>(Some(job.endpoint), O::FIELDS)?;
            prepare_from::<D, O>(job, &read)
        }
    }
}

fn prepare_from<D, O>(
    job: &Job<'_>,
    params: &D::Params<'_>,
) -> Result<(Prepared<O>, D::Answering), Failure>
where
    D: MerchantDialect,
    O: Translated + MerchantOp<D>,
{
    let cx = job.routed.cx;
    let checked = D::verify(params, job.endpoint, &job.rt.config)?;
    let merchant = checked.merchant;
    let mut op = O::read(&checked.request, job.op, &merchant)?;
    let trade_no = O::trade_no(&checked.request);
    ownership::prefix(&mut op, &merchant);
    let upstream = job.upstream.unwrap_or(&merchant.daxpay.upstream).clone();
    op.bind(&AnswerSource {
        name: &upstream.name,
        version: upstream.version(),
        utc_offset: upstream.utc_offset,
    })?;
    let prepared = Prepared {
        kind: job.op,
        // The caller's address only when the operator forwards it, or when the call cannot
        // do without a payer IP (WeChat H5 on 3.x, lifecycle.md §2.7).
        client_ip: (upstream.forward_client_ip || op.needs_payer_ip(upstream.version()))
            .then(|| cx.peer.map(|ip| ip.to_string()))
            .flatten(),
        replay_id: checked.replay_id,
        trade_no,
        dialect_order: None,
        order_hint: None,
        fresh_until: checked.fresh_until,
        attempt: None,
        looked_up: Default::default(),
        op,
        merchant,
        upstream,
    };
    Ok((prepared, checked.answering))
}

/// The success answer, in the request's dialect, with what the store keeps of the order in it
/// (`MerchantDialect::learnt`).
async fn success<D: MerchantDialect, O: Translated + MerchantOp<D>>(
    job: &Job<'_>,
    p: &Prepared<O>,
    mut answering: D::Answering,
    outcome: &O::Outcome,
) -> Answered {
    if let Some(facts) = records::dialect_facts(job, p).await {
        D::learnt(&mut answering, facts);
    }
    let answer = p.op.answer(outcome, &answering, &p.merchant);
    job.routed.cx.note(|r| r.code = answer.code);
    reply_answer(answer)
}

/// A translated request: verified, claimed in the replay store, carried out on DaxPay
/// (falling back once to the legacy gateway for an order DaxPay verifiably does not have), and
/// its outcome recorded for duplicates.
pub(super) async fn translate<D, O>(
    job: &Job<'_>,
    params: Option<&D::Params<'_>>,
    fallback: Option<&Arc<LegacyUpstream>>,
) -> Result<Response<Full<Bytes>>, Failure>
where
    D: MerchantDialect,
    O: Recorded + MerchantOp<D>,
{
    let (rt, cx) = (job.rt, job.routed.cx);
    cx.note(|r| r.action = Some("translate"));
    let (mut prepared, answering) = prepare::<D, O>(job, params)?;
    // An order named by paybridge's own number that the store does not know is "not found":
    // the legacy gateway may know it (fallback, below).
    // Only epay names orders so: boxed where it is needed, so that its store lookup does not
    // weigh on every translated request's future.
    let named = match prepared.trade_no {
        Some(_) => Box::pin(records::name_by_trade_no(job, &mut prepared)).await,
        None => Ok(()),
    };
    cx.note(|r| r.upstream = Some(UpstreamName::DaxPay(prepared.upstream.clone())));
    let (ticket, retry) = match claim(job, &prepared).await? {
        Claimed::Replay { stored, code } => return Ok(replayed(job, &prepared, stored, code)),
        Claimed::Go { ticket, retry } => (ticket, retry),
    };
    let outcome = match named {
        Ok(()) => carry_out(job, &mut prepared, retry).await,
        Err(e) => Err(e),
    };
    let answer = match (outcome, fallback) {
        (Err(e), Some(legacy))
            if e.verified_not_found() && prepared.op.falls_back_when_not_found() =>
        {
            fallback_taken(
                "daxpay_to_legacy",
                job.routed.rule,
                &prepared.merchant.mch_no,
            );
            cx.note(|r| {
                r.fallback = true;
                r.upstream = Some(UpstreamName::Legacy(legacy.clone()));
            });
            match passthrough::forward(rt, cx, legacy).await {
                // Not the dialect's answer (another gateway's on that host): this side's own
                // "does not exist", in the merchant's words, rather than foreign bytes.
                Ok(answer) if !D::answers_in_dialect(job.endpoint, answer.status, &answer.body) => {
                    tracing::warn!(
                        rule = job.routed.rule,
                        upstream = legacy.name.as_str(),
                        status = answer.status.as_u16(),
                        "fallback: the legacy gateway's answer is not in the merchant's dialect; \
                         answered that the order does not exist"
                    );
                    Err(e)
                }
                forwarded => forwarded,
            }
        }
        (Ok(outcome), _) => Ok(success(job, &prepared, answering, &outcome).await),
        (Err(e), _) => Err(e),
    };
    replay::record(cx, ticket, answer).await
}

/// The legacy gateway does not know the order: translated once instead. A request paybridge
/// cannot translate (no merchant key, a bad signature...) keeps the legacy gateway's answer.
pub(super) async fn fallback<D, O>(
    job: &Job<'_>,
    params: Option<&D::Params<'_>>,
    legacy_answer: Answered,
) -> Result<Response<Full<Bytes>>, Failure>
where
    D: MerchantDialect,
    O: Recorded + MerchantOp<D>,
{
    let cx = job.routed.cx;
    let prepared = prepare::<D, O>(job, params);
    let (mut prepared, answering) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::info!(
                rule = job.routed.rule,
                reason = crate::telemetry::text(&e).as_str(),
                "no fallback to DaxPay: the request cannot be translated"
            );
            return Ok(passthrough::into_response(legacy_answer));
        }
    };
    fallback_taken(
        "legacy_to_daxpay",
        job.routed.rule,
        &prepared.merchant.mch_no,
    );
    cx.note(|r| r.fallback = true);
    records::name_by_trade_no(job, &mut prepared).await?;
    // Claimed and recorded like a direct translation (the same key): a replay of the request
    // that fell back is answered from the store, not closed on DaxPay again.
    let (ticket, retry) = match claim(job, &prepared).await? {
        Claimed::Replay { stored, code } => return Ok(replayed(job, &prepared, stored, code)),
        Claimed::Go { ticket, retry } => (ticket, retry),
    };
    let outcome = carry_out(job, &mut prepared, retry).await;
    let answer = match outcome {
        Ok(outcome) => Ok(success(job, &prepared, answering, &outcome).await),
        Err(e) => Err(e),
    };
    replay::record(cx, ticket, answer).await
}

/// The call on DaxPay between the order store's hooks: the row written before (a store that
/// cannot be reached stops everything here), the call (or, for a retry whose first outcome
/// is unknown, a lookup first), the row completed after; then the answer in the merchant's
/// terms.
async fn carry_out<O: Recorded>(
    job: &Job<'_>,
    p: &mut Prepared<O>,
    retry: Option<Earlier>,
) -> Result<O::Outcome, Failure> {
    match O::before(job, p).await {
        Ok(None) => {}
        // Answered from the store: nothing was sent, no attempt to complete.
        Ok(Some(outcome)) => return ownership::strip(p, outcome),
        // An exact retry finds the number its own earlier attempt took: the lookup decides.
        Err(taken) if retry.is_some() && contradicts_an_earlier_attempt(&taken) => {}
        Err(e) => return Err(e),
    }
    let outcome = match (ownership::check(job, p).await, retry) {
        (Ok(()), Some(earlier)) => resume(job, p, &earlier).await,
        (Ok(()), None) => execute(job, p).await,
        (Err(e), _) => Err(e),
    };
    O::after(job, p, outcome)
        .await
        .and_then(|outcome| ownership::strip(p, outcome))
}

/// A state-changing request claimed in the replay store (others are not stored).
async fn claim<O: Translated>(job: &Job<'_>, p: &Prepared<O>) -> Result<Claimed, Failure> {
    if !O::CHANGES_STATE || p.replay_id.is_none() {
        return Ok(Claimed::Go {
            ticket: None,
            retry: None,
        });
    }
    // Long enough for the first request's call, and its resolution by query.
    let wait = p.upstream.timeout * 2 + Duration::from_secs(1);
    replay::claim(job.rt, job.replay, || p.replay_key(), p.fresh_until, wait).await
}

/// A duplicate answered from the replay store.
fn replayed<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
    stored: Response<Full<Bytes>>,
    code: Option<i64>,
) -> Response<Full<Bytes>> {
    job.routed.cx.note(|r| {
        r.action = Some("replay");
        r.code = code;
    });
    metrics::counter!("paybridge_replays_total").increment(1);
    tracing::info!(
        mch_no = p.merchant.mch_no.as_str(),
        "duplicate request: the first answer is replayed"
    );
    stored
}

/// Shadow (dry run): the DaxPay request a translation *would* send, built, signed and logged.
/// Nothing is sent: a close there would close a real order.
pub(super) fn shadow<D, O>(job: &Job<'_>, params: Option<&D::Params<'_>>)
where
    D: MerchantDialect,
    O: Translated + MerchantOp<D>,
{
    let rule = job.routed.rule;
    // A refusal kept for after the duplicate check would be answered all the same.
    let prepared = prepare::<D, O>(job, params).and_then(|(p, answering)| match p.op.deferred() {
        Some(refusal) => Err(refusal),
        None => Ok((p, answering)),
    });
    match prepared {
        Ok((p, _)) => {
            let identity = &p.merchant.daxpay;
            let (call, body) = p.daxpay_request();
            let order = p.op.order();
            tracing::info!(
                rule,
                mch_no = p.merchant.mch_no.as_str(),
                app_id = p.merchant.app_id.as_str(),
                operation = job.op.as_str(),
                daxpay_upstream = p.upstream.name.as_str(),
                daxpay_version = %p.upstream.version(),
                daxpay_path = call.path(),
                daxpay_mch_no = identity.mch_no.as_deref().unwrap_or("-"),
                daxpay_app_id = identity.app_id.as_deref().unwrap_or("-"),
                order_no = order.order_no.as_deref().unwrap_or("-"),
                biz_order_no = order.biz_order_no.as_deref().unwrap_or("-"),
                body_bytes = body.len(),
                "shadow: would send this DaxPay request (not sent)"
            );
            metrics::counter!("paybridge_shadow_total", "outcome" => "translatable").increment(1);
        }
        Err(error) => {
            tracing::info!(
                rule,
                operation = job.op.as_str(),
                reason = crate::telemetry::text(&error).as_str(),
                kind = error.kind(),
                "shadow: this request would not be translated"
            );
            metrics::counter!("paybridge_shadow_total", "outcome" => "refused").increment(1);
        }
    }
}

fn fallback_taken(direction: &'static str, rule: &str, mch_no: &str) {
    tracing::info!(
        direction,
        rule,
        mch_no,
        "fallback: order does not exist, trying the other gateway"
    );
    metrics::counter!("paybridge_fallbacks_total", "direction" => direction).increment(1);
}
