//! A translated operation's call on DaxPay: the verified request ready to go ([`Prepared`]), the
//! signed exchange, and an unknown outcome settled by reading the order. Nothing is reported as
//! success that DaxPay did not sign.

use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;

use super::runtime::{Routed, Runtime};
use crate::config::{Merchant, Upstream};
use crate::dialect::daxpay::answer::{read_fresh_answer, Answer};
use crate::dialect::daxpay::envelope::{fresh_nonce, Caller, Fields};
use crate::dialect::daxpay::ops::{DaxOp, Upstream as AnswerSource};
use crate::dialect::daxpay::res_time::ResTimeCheck;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::{Failure, OpKind, Unknown};
use crate::replay::landing::{resend, Resend};
use crate::replay::{Earlier, Key, Store};

/// An operation paybridge translates, on its DaxPay side (its merchant side is
/// `MerchantOp<D>` for the request's dialect `D`).
pub(crate) trait Translated: DaxOp {}
impl<T: DaxOp> Translated for T {}

/// A routed request on its way to DaxPay.
pub(crate) struct Job<'a> {
    pub rt: &'a Runtime,
    pub replay: Option<&'a Store>,
    pub routed: &'a Routed<'a>,
    /// Where the request came in (its dialect's endpoint); `op` is its operation.
    pub endpoint: crate::dispatch::Endpoint,
    pub op: OpKind,
    /// The route's DaxPay upstream; `None`: the merchant identity's own.
    pub upstream: Option<&'a Arc<Upstream>>,
}

/// A verified merchant request, ready to be carried out on DaxPay.
pub(crate) struct Prepared<O> {
    pub kind: OpKind,
    /// The operation, its order numbers in DaxPay's terms (a shared identity's prefix added).
    pub op: O,
    pub merchant: Arc<Merchant>,
    pub upstream: Arc<Upstream>,
    pub client_ip: Option<String>,
    /// What identifies the verified request for idempotent replay, with the merchant and the
    /// operation (Jeepay: its MD5 signature); `None`: the request is not claimed.
    pub(super) replay_id: Option<String>,
    /// paybridge's own number for the order, as the request named it (epay's `trade_no`),
    /// until the order store says which order it is.
    pub(super) trade_no: Option<String>,
    /// The order's row in its merchant's dialect, once found (by `trade_no`, or for the
    /// answer).
    pub(crate) dialect_order: Option<crate::store::dialect_orders::DialectOrder>,
    /// The merchant's number of the order the request is about, when only the store knows it
    /// (a refund query's refund row): where the answer's dialect facts are looked up.
    pub(crate) order_hint: Option<String>,
    /// When the request stops passing the `reqTime` check (`None`: the merchant has no
    /// window): its replay entry must live at least until then.
    pub(super) fresh_until: Option<SystemTime>,
    /// This request's attempt in the order store, once recorded (its fields are the row's only
    /// if DaxPay accepts it; its clean-up never removes a row another attempt joined).
    pub(crate) attempt: Option<crate::store::Attempt>,
    /// DaxPay's record, when a lookup (not DaxPay's answer to this request's own call) settled
    /// the outcome: the record may be another request's of the same number (`records`).
    pub(crate) looked_up: std::sync::OnceLock<serde_json::Value>,
}

impl<O: Translated> Prepared<O> {
    /// Identifies this signed request for idempotent replay (computed only when a replay store
    /// asks: it is a SHA-256).
    pub(super) fn replay_key(&self) -> Key {
        Key::new(
            self.kind.as_str(),
            &self.merchant.mch_no,
            &self.merchant.app_id,
            self.replay_id.as_deref().unwrap_or_default(),
        )
    }

    pub(super) fn source(&self) -> AnswerSource<'_> {
        AnswerSource {
            name: &self.upstream.name,
            version: self.upstream.version(),
            utc_offset: self.upstream.utc_offset,
        }
    }

    /// The DaxPay path and signed body of this operation's call.
    pub fn daxpay_request(&self) -> (DaxCall, Vec<u8>) {
        let (call, fields) = self.op.request(self.upstream.version());
        (call, self.caller(&fresh_nonce()).encode(&fields))
    }

    pub(super) fn caller<'a>(&'a self, nonce: &'a str) -> Caller<'a> {
        let identity = &self.merchant.daxpay;
        Caller {
            scheme: self.upstream.scheme,
            secret: identity.secret.expose(),
            mch_no: identity.mch_no.as_deref(),
            app_id: identity.app_id.as_deref(),
            client_ip: self.op.client_ip().or(self.client_ip.as_deref()),
            utc_offset: self.upstream.utc_offset,
            now: OffsetDateTime::now_utc(),
            nonce,
        }
    }
}

/// Sends one signed call and verifies the answer.
pub(super) async fn exchange<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
    call: DaxCall,
    fields: &Fields<'_>,
) -> Result<Answer, Failure> {
    let cx = job.routed.cx;
    let client = job
        .rt
        .upstreams
        .daxpay(&p.upstream.name)
        .ok_or(Failure::Internal)?;
    let body = p.caller(&fresh_nonce()).encode(fields);
    let answer_body = client
        .post_json(call, body, cx.request_id(), cx.traceparent())
        .await?;
    // A signed success must be recent: an old one replayed (on a plain-HTTP link) would
    // otherwise report a close that never happened.
    let fresh = p.upstream.res_time_window.map(|window| ResTimeCheck {
        now: OffsetDateTime::now_utc(),
        utc_offset: p.upstream.utc_offset,
        window,
    });
    read_fresh_answer(
        &p.upstream.scheme,
        p.merchant.daxpay.secret.expose(),
        &answer_body,
        fresh.as_ref(),
    )
    .map_err(|fault| Failure::Unverified {
        upstream: p.upstream.name.clone(),
        fault,
    })
}

/// The operation's call on DaxPay, its answer in canonical terms.
pub(super) async fn call<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
) -> Result<O::Outcome, Failure> {
    let cx = job.routed.cx;
    // An attempt's call is signed within its send window or not at all: what lets another
    // request of the number know when this one can no longer land (`replay::landing`).
    if let Some(attempt) = &p.attempt {
        if !crate::replay::landing::may_send(
            attempt.created_at_ms,
            crate::replay::landing::now_ms(),
        ) {
            tracing::warn!(
                mch_no = p.merchant.mch_no.as_str(),
                operation = p.kind.as_str(),
                "the attempt's send window is over: not sent"
            );
            return Err(Failure::Upstream(
                crate::upstream::UpstreamError::Exhausted {
                    upstream: p.upstream.name.clone(),
                    open: 0,
                },
            ));
        }
    }
    let (call, fields) = p.op.request(p.upstream.version());
    match exchange(job, p, call, &fields).await? {
        Answer::Done { trace_id, data } => {
            tracing::info!(
                mch_no = p.merchant.mch_no.as_str(),
                operation = p.kind.as_str(),
                upstream = p.upstream.name.as_str(),
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "DaxPay answered"
            );
            cx.note(|r| r.trace_id = trace_id);
            p.op.outcome(&data, &p.source())
        }
        Answer::Refused {
            code,
            msg,
            signed,
            trace_id,
        } => {
            tracing::debug!(
                mch_no = p.merchant.mch_no.as_str(),
                operation = p.kind.as_str(),
                upstream = p.upstream.name.as_str(),
                code,
                msg = msg.as_str(),
                signed,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "DaxPay refused"
            );
            cx.note(|r| r.trace_id = trace_id);
            // DaxPay 2.0 never signs an error, so its refusals are as verified as they can be.
            let verified = signed || p.upstream.version() == Version::V2_0;
            let mut refused = p.op.refusal(code, msg, verified, &p.upstream.name);
            if let Failure::Rejected { signed: s, .. } = &mut refused {
                *s = signed;
            }
            Err(refused)
        }
    }
}

/// The call, its unknown outcome resolved by reading the order.
pub(super) async fn execute<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
) -> Result<O::Outcome, Failure> {
    // A refusal held back until after the order store's duplicate check (`DaxOp::defer`) means
    // the request was never fully bound: it is answered, never sent.
    if let Some(refusal) = p.op.deferred() {
        return Err(refusal);
    }
    match call(job, p).await {
        Err(cause) if O::CHANGES_STATE && p.op.settled_by_query(&cause) => {
            resolve(job, p, cause).await
        }
        outcome => outcome,
    }
}

/// A retry of a request whose earlier attempt ended with an unknown outcome. The truth first:
///
/// 1. a lookup (the operation's probe); what it definitively finds (the order closed, the
///    refund there in any state, ...) is the answer;
/// 2. a lookup that fails (an HTTP 500, a timeout, an answer that cannot be believed) answers
///    unknown again: nothing is sent on a guess;
/// 3. a lookup that finds nothing definitive ("not found yet", the order still open) is no
///    proof while the earlier attempt may still land on DaxPay (`replay::landing`): unknown again;
/// 4. once it provably cannot land, the request is sent again with a fresh signature; DaxPay's
///    "not closable" / "number taken" then is resolved by a lookup, not answered as a refusal
///    (the earlier attempt, or another, may have done it).
pub(super) async fn resume<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
    earlier: &Earlier,
) -> Result<O::Outcome, Failure> {
    let still_unknown = |why: &str| {
        tracing::info!(
            mch_no = p.merchant.mch_no.as_str(),
            operation = p.kind.as_str(),
            upstream = p.upstream.name.as_str(),
            why,
            "retry of an unknown outcome: answered unknown again, nothing sent"
        );
        metrics::counter!("paybridge_retries_unknown_total").increment(1);
        Err(Failure::EarlierOutcomeUnknown)
    };
    match probe(job, p).await {
        Ok(found) => match p.op.settle(found.as_ref(), &p.source()) {
            Ok(Unknown::Settled(outcome)) => return learnt(p, found, outcome),
            Ok(Unknown::StillUnknown) => {}
            Err(e) => {
                tracing::warn!(
                    error = crate::telemetry::text(&e).as_str(),
                    "lookup unreadable"
                );
                return still_unknown("the lookup's answer could not be read");
            }
        },
        Err(e) => {
            tracing::warn!(error = crate::telemetry::text(&e).as_str(), "lookup failed");
            return still_unknown("the lookup failed");
        }
    }
    let now = crate::replay::landing::now_ms();
    match resend(earlier.sent_until_ms, p.upstream.request_expiry, now) {
        Resend::Never => still_unknown("the upstream declares no request expiry"),
        Resend::NotBefore(_) => still_unknown("the earlier attempt may still land"),
        Resend::Now => {
            earlier.resending();
            metrics::counter!("paybridge_retries_resent_total").increment(1);
            match execute(job, p).await {
                Err(refusal) if contradicts_an_earlier_attempt(&refusal) => {
                    resolve(job, p, Failure::EarlierOutcomeUnknown).await
                }
                outcome => outcome,
            }
        }
    }
}

/// A refusal that an earlier attempt of the same request may have caused (DaxPay's "not
/// closable", "number taken", "in progress"): on a resumed request, the order decides.
pub(super) fn contradicts_an_earlier_attempt(refusal: &Failure) -> bool {
    matches!(
        refusal,
        Failure::NotClosable
            | Failure::CloseInProgress
            | Failure::OrderExists(_)
            | Failure::RefundExists(_)
            | Failure::RefundInProgress
    )
}

/// The order as it now stands decides the answer; if it cannot be learnt, `cause` (which says
/// the outcome is unknown) is the answer.
pub(super) async fn resolve<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
    cause: Failure,
) -> Result<O::Outcome, Failure> {
    tracing::warn!(
        mch_no = p.merchant.mch_no.as_str(),
        operation = p.kind.as_str(),
        upstream = p.upstream.name.as_str(),
        cause = crate::telemetry::text(&cause).as_str(),
        "outcome unknown: querying the order"
    );
    metrics::counter!("paybridge_outcome_resolutions_total").increment(1);
    let settled = match probe(job, p).await {
        Ok(found) => p.op.settle(found.as_ref(), &p.source()).map(|s| (s, found)),
        Err(e) => Err(e),
    };
    match settled {
        Ok((Unknown::Settled(outcome), found)) => {
            tracing::info!(
                mch_no = p.merchant.mch_no.as_str(),
                operation = p.kind.as_str(),
                "outcome resolved by query"
            );
            learnt(p, found, outcome)
        }
        Ok((Unknown::StillUnknown, _)) => Err(cause),
        Err(query_error) => {
            tracing::warn!(
                error = crate::telemetry::text(&query_error).as_str(),
                "order query failed; the outcome stays unknown"
            );
            Err(cause)
        }
    }
}

/// An outcome a lookup settled: the record it read is kept beside the request, for its
/// records to tell whose request it is.
fn learnt<O: Translated, T>(
    p: &Prepared<O>,
    found: Option<serde_json::Value>,
    outcome: Result<T, Failure>,
) -> Result<T, Failure> {
    if let Some(found) = found {
        // Set once per request: a later lookup of the same request reads the same order.
        let _ = p.looked_up.set(found);
    }
    outcome
}

/// What the operation's probe finds, as DaxPay verifiably holds it (`None`: nothing).
pub(super) async fn probe<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
) -> Result<Option<serde_json::Value>, Failure> {
    let (call, fields) = p.op.probe(p.upstream.version());
    match exchange(job, p, call, &fields).await? {
        Answer::Done { data, .. } => Ok(Some(data)),
        Answer::Refused { code: 20041, .. } => Ok(None),
        Answer::Refused {
            code, msg, signed, ..
        } => Err(Failure::Rejected {
            signed,
            upstream: p.upstream.name.clone(),
            code,
            msg,
        }),
    }
}
