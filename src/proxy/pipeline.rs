//! The one pipeline every translated operation goes through, written once:
//!
//! read → verify → freshness → replay claim → call DaxPay → resolve an unknown outcome →
//! fall back to the legacy gateway → record for duplicates → render in Jeepay's dialect.
//!
//! Nothing is reported as success that DaxPay did not sign. When a state-changing call was sent
//! but its outcome is unknown (no answer, an answer that cannot be believed, or the operation's
//! own "in progress" refusal), the order is read again before answering: a merchant is never
//! told "failed" for an order that was closed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use time::OffsetDateTime;

use super::call::{contradicts_an_earlier_attempt, execute, resume, Job, Prepared, Translated};
use super::records::Recorded;
use super::replay::{self, Claimed};
use super::runtime::reply_answer;
use super::{ownership, passthrough};
use crate::config::{LegacyUpstream, LookupError};
use crate::dialect::daxpay::ops::Upstream as AnswerSource;
use crate::domain::{Failure, OpKind};
use crate::replay::Earlier;
use crate::telemetry::access::UpstreamName;
use crate::upstream::Answered;

/// Reads and verifies the request as Jeepay does (then checks its `reqTime` window), on the
/// job's upstream when given, else on the merchant identity's own.
pub(crate) fn prepare<O: Translated>(job: &Job<'_>) -> Result<Prepared<O>, Failure> {
    let cx = job.routed.cx;
    // The parameters read for routing are reused; read here only when they could not be.
    let read;
    let params = match job.routed.params {
        Some(p) => p,
        None => {
            read = cx.params(O::FIELDS)?;
            &read
        }
    };
    let request = params.validate()?;
    if !request.sign_type_supported() {
        return Err(Failure::UnsupportedSignType(request.sign_type().to_owned()));
    }
    let merchant = job
        .rt
        .config
        .merchants
        .lookup(request.mch_no(), request.app_id())
        .map_err(|e| match e {
            LookupError::Unknown => Failure::UnknownMerchant,
            LookupError::AppOfAnotherMerchant => Failure::AppOfAnotherMerchant,
        })?
        .clone();
    if !request.verify(merchant.secret.expose()) {
        return Err(Failure::BadSignature);
    }
    let fresh_until = match merchant.req_time_window {
        Some(window) => Some(check_req_time(request.req_time(), window)? + window),
        None => None,
    };
    // The path is not signed: without the merchant's opt-in, a captured close is no cancel.
    if job.op == OpKind::Cancel && !merchant.allow_cancel {
        return Err(Failure::CancelNotAllowed);
    }
    let mut op = O::read(&request, job.op, &merchant)?;
    ownership::prefix(&mut op, &merchant);
    let upstream = job.upstream.unwrap_or(&merchant.daxpay.upstream).clone();
    op.bind(&AnswerSource {
        name: &upstream.name,
        version: upstream.version(),
        utc_offset: upstream.utc_offset,
    })?;
    Ok(Prepared {
        kind: job.op,
        client_ip: upstream
            .forward_client_ip
            .then(|| cx.peer.map(|ip| ip.to_string()))
            .flatten(),
        // A verified signature is an MD5 digest in hex.
        sign: request
            .sign()
            .as_bytes()
            .try_into()
            .map_err(|_| Failure::BadSignature)?,
        fresh_until,
        attempt: None,
        looked_up: Default::default(),
        op,
        merchant,
        upstream,
    })
}

/// A translated request: verified, claimed in the replay store, carried out on DaxPay
/// (falling back once to the legacy gateway for an order DaxPay verifiably does not have), and
/// its outcome recorded for duplicates.
pub(super) async fn translate<O: Recorded>(
    job: &Job<'_>,
    fallback: Option<&Arc<LegacyUpstream>>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let (rt, cx) = (job.rt, job.routed.cx);
    cx.note(|r| r.action = Some("translate"));
    let mut prepared = prepare::<O>(job)?;
    cx.note(|r| r.upstream = Some(UpstreamName::DaxPay(prepared.upstream.clone())));
    let (ticket, retry) = match claim(job, &prepared).await? {
        Claimed::Replay { stored, code } => return Ok(replayed(job, &prepared, stored, code)),
        Claimed::Go { ticket, retry } => (ticket, retry),
    };
    let outcome = carry_out(job, &mut prepared, retry).await;
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
            passthrough::forward(rt, cx, legacy).await
        }
        (outcome, _) => outcome.map(|outcome| {
            cx.note(|r| r.code = Some(prepared.merchant.success.code));
            reply_answer(prepared.success(&outcome))
        }),
    };
    replay::record(cx, ticket, answer).await
}

/// The legacy gateway does not know the order: translated once instead. A request paybridge
/// cannot translate (no merchant key, a bad signature...) keeps the legacy gateway's answer.
pub(super) async fn fallback<O: Recorded>(
    job: &Job<'_>,
    legacy_answer: Answered,
) -> Result<Response<Full<Bytes>>, Failure> {
    let cx = job.routed.cx;
    let mut prepared = match prepare::<O>(job) {
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
    // Claimed and recorded like a direct translation (the same key): a replay of the request
    // that fell back is answered from the store, not closed on DaxPay again.
    let (ticket, retry) = match claim(job, &prepared).await? {
        Claimed::Replay { stored, code } => return Ok(replayed(job, &prepared, stored, code)),
        Claimed::Go { ticket, retry } => (ticket, retry),
    };
    let outcome = carry_out(job, &mut prepared, retry).await;
    let answer = outcome.map(|outcome| reply_answer(prepared.success(&outcome)));
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
        Ok(()) => {}
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
    if !O::CHANGES_STATE {
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
pub(super) fn shadow<O: Translated>(job: &Job<'_>) {
    let rule = job.routed.rule;
    match prepare::<O>(job) {
        Ok(p) => {
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

/// Jeepay SDKs send epoch seconds, milliseconds or microseconds (10, 13 or 16 digits). A
/// `reqTime` within `window` of now is the time the request says it was sent.
fn check_req_time(req_time: &str, window: Duration) -> Result<SystemTime, Failure> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i128);
    let digits = req_time.trim();
    let value: Option<i128> = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten();
    let sent_ms = match (digits.len(), value) {
        (10, Some(v)) => v * 1000,
        (13, Some(v)) => v,
        (16, Some(v)) => v / 1000,
        _ => return Err(Failure::ReqTimeUnreadable(req_time.to_owned())),
    };
    if (now_ms - sent_ms).unsigned_abs() > window.as_millis() {
        let server = OffsetDateTime::from_unix_timestamp_nanos(now_ms * 1_000_000)
            .map(|t| crate::dialect::daxpay::envelope::wall_clock(t, time::UtcOffset::UTC))
            .unwrap_or_default();
        return Err(Failure::ReqTimeOutside {
            window_secs: window.as_secs(),
            server_time: format!("{server} UTC ({now_ms})"),
        });
    }
    // Digits only, at most 16 of them: a few centuries' worth of milliseconds.
    Ok(UNIX_EPOCH + Duration::from_millis(u64::try_from(sent_ms).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_time_accepts_seconds_millis_and_micros() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let w = Duration::from_secs(300);
        assert!(check_req_time(&now.as_secs().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_millis().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_micros().to_string(), w).is_ok());
        let old = (now.as_millis() - 301_000).to_string();
        let err = check_req_time(&old, w).unwrap_err();
        assert!(
            matches!(
                err,
                Failure::ReqTimeOutside {
                    window_secs: 300,
                    ..
                }
            ),
            "{err}"
        );
        assert!(check_req_time("20190723141000", w).is_err());
        assert!(check_req_time("12345678901x3", w).is_err());
    }
}
