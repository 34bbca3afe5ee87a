//! One signed call on DaxPay made outside a merchant's request — the queries that confirm a
//! callback ([`super::intake`]) and the settlement worker's syncs (`settle::expiry`) — with the
//! merchant's DaxPay identity, and its answer verified as a request's would be (signature, and
//! `resTime` where the upstream declares a window). Each caller words the failures its own way.

use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{Merchant, Upstream};
use crate::dialect::daxpay::answer::{read_fresh_answer, Answer};
use crate::dialect::daxpay::envelope::{fresh_nonce, Caller, Fields};
use crate::dialect::daxpay::res_time::ResTimeCheck;
use crate::dispatch::DaxCall;
use crate::domain::AnswerFault;
use crate::proxy::runtime::Runtime;
use crate::upstream::error::UpstreamError;

/// Why a signed call brought no verified `data`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("no client for upstream `{0}`")]
    NoClient(String),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("refused: {code} {msg}")]
    Refused { code: i64, msg: String },
    #[error("the answer does not verify: {0}")]
    Unverified(#[from] AnswerFault),
}

/// `call` with `fields`, signed with `merchant`'s DaxPay identity: DaxPay's verified `data`.
pub(crate) async fn signed_call(
    rt: &Runtime,
    merchant: &Merchant,
    upstream: &Upstream,
    call: DaxCall,
    fields: Fields<'_>,
) -> Result<Value, CallError> {
    let client = rt
        .upstreams
        .daxpay(&upstream.name)
        .ok_or_else(|| CallError::NoClient(upstream.name.clone()))?;
    let identity = &merchant.daxpay;
    let nonce = fresh_nonce();
    let body = Caller {
        scheme: upstream.scheme,
        secret: identity.secret.expose(),
        mch_no: identity.mch_no.as_deref(),
        app_id: identity.app_id.as_deref(),
        client_ip: None,
        utc_offset: upstream.utc_offset,
        now: OffsetDateTime::now_utc(),
        nonce: nonce.as_str(),
    }
    .encode(&fields);
    let traceparent = crate::telemetry::trace_context::child_of(&http::HeaderMap::new());
    let answer = client.post_json(call, body, None, &traceparent).await?;
    let fresh = upstream.res_time_window.map(|window| ResTimeCheck {
        now: OffsetDateTime::now_utc(),
        utc_offset: upstream.utc_offset,
        window,
    });
    match read_fresh_answer(
        &upstream.scheme,
        identity.secret.expose(),
        &answer,
        fresh.as_ref(),
    )? {
        Answer::Done { data, .. } => Ok(data),
        Answer::Refused { code, msg, .. } => Err(CallError::Refused { code, msg }),
    }
}
