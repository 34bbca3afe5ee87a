//! `/api/pay/close` and `/api/pay/cancel` translated to DaxPay's close/cancel.
//!
//! Read and verify as Jeepay does → build and sign the DaxPay call → send → verify the answer →
//! answer in Jeepay's words, re-signed with the merchant's key. Nothing is reported as success
//! that DaxPay did not sign. When a close was sent but its outcome is unknown (no answer, an
//! answer that cannot be believed, or DaxPay's 20043 "close in progress"), the order is queried
//! before answering: a merchant is never told "failed" for an order that was closed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use time::OffsetDateTime;

use super::{Call, Runtime};
use crate::config::{LookupError, Merchant, Upstream};
use crate::dialect::daxpay::wire::{fresh_nonce, read_answer};
use crate::dialect::daxpay::{Answer, CloseCall, Version};
use crate::dialect::jeepay::{Params, Reply};
use crate::error::GatewayError;
use crate::operation::{CloseOrder, Endpoint};
use crate::replay::Key;
use crate::upstream::UpstreamError;

/// A verified merchant request, ready to be carried out on DaxPay.
pub(super) struct Prepared {
    pub endpoint: Endpoint,
    pub merchant: Arc<Merchant>,
    pub upstream: Arc<Upstream>,
    pub order_no: Option<String>,
    pub biz_order_no: Option<String>,
    pub cancel: bool,
    pub client_ip: Option<String>,
    /// The request's verified MD5 signature (32 hex digits): with the merchant and the
    /// operation it identifies the request for idempotent replay.
    sign: [u8; 32],
}

/// Reads and verifies the request as Jeepay does (then checks its `reqTime` window), on
/// `upstream` when given, else on the merchant identity's own.
/// `parsed`: the parameters already read for routing (read again here only when they could not
/// be, to report why).
pub(super) fn prepare(
    rt: &Runtime,
    call: &Call,
    parsed: Option<&Params<'_>>,
    endpoint: Endpoint,
    upstream: Option<&Arc<Upstream>>,
) -> Result<Prepared, GatewayError> {
    let params = match parsed {
        Some(p) => p.clone(),
        None => call.params()?,
    };
    let request = params.validate()?;
    if !request.sign_type_supported() {
        return Err(GatewayError::UnsupportedSignType(
            request.sign_type.clone().into_owned(),
        ));
    }
    let merchant = rt
        .config
        .merchants
        .lookup(&request.mch_no, &request.app_id)
        .map_err(|e| match e {
            LookupError::Unknown => GatewayError::UnknownMerchant,
            LookupError::AppOfAnotherMerchant => GatewayError::AppOfAnotherMerchant,
        })?
        .clone();
    if !request.verify(merchant.secret.expose()) {
        return Err(GatewayError::BadSignature);
    }
    if let Some(window) = merchant.req_time_window {
        check_req_time(&request.req_time, window)?;
    }
    let order = CloseOrder::from_jeepay(
        &request,
        endpoint == Endpoint::Cancel || merchant.close_uses_cancel,
    )?;
    let upstream = upstream.unwrap_or(&merchant.daxpay.upstream).clone();
    Ok(Prepared {
        endpoint,
        client_ip: upstream
            .forward_client_ip
            .then(|| call.peer.map(|ip| ip.to_string()))
            .flatten(),
        // A verified signature is an MD5 digest in hex.
        sign: request
            .sign
            .as_bytes()
            .try_into()
            .map_err(|_| GatewayError::BadSignature)?,
        order_no: order.order_no.map(str::to_owned),
        biz_order_no: order.biz_order_no.map(str::to_owned),
        cancel: order.cancel,
        merchant,
        upstream,
    })
}

/// Jeepay SDKs send epoch seconds, milliseconds or microseconds (10, 13 or 16 digits).
fn check_req_time(req_time: &str, window: Duration) -> Result<(), GatewayError> {
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
        _ => return Err(GatewayError::ReqTimeUnreadable(req_time.to_owned())),
    };
    if (now_ms - sent_ms).unsigned_abs() > window.as_millis() {
        let server = OffsetDateTime::from_unix_timestamp_nanos(now_ms * 1_000_000)
            .map(|t| crate::dialect::daxpay::wire::wall_clock(t, time::UtcOffset::UTC))
            .unwrap_or_default();
        return Err(GatewayError::ReqTimeOutside {
            window_secs: window.as_secs(),
            server_time: format!("{server} UTC ({now_ms})"),
        });
    }
    Ok(())
}

impl Prepared {
    /// Identifies this signed request for idempotent replay (computed only when a replay store
    /// asks: it is a SHA-256).
    pub fn replay_key(&self) -> Key {
        Key::new(
            self.endpoint.as_str(),
            &self.merchant.mch_no,
            &self.merchant.app_id,
            std::str::from_utf8(&self.sign).unwrap_or_default(),
        )
    }

    fn daxpay_call<'a>(&'a self, nonce: &'a str) -> CloseCall<'a> {
        let identity = &self.merchant.daxpay;
        CloseCall {
            scheme: self.upstream.scheme,
            secret: identity.secret.expose(),
            mch_no: identity.mch_no.as_deref(),
            app_id: identity.app_id.as_deref(),
            order_no: self.order_no.as_deref(),
            biz_order_no: self.biz_order_no.as_deref(),
            cancel: self.cancel,
            client_ip: self.client_ip.as_deref(),
            utc_offset: self.upstream.utc_offset,
            now: OffsetDateTime::now_utc(),
            nonce,
        }
    }

    /// The DaxPay path and signed body of the close (or cancel).
    pub fn close_request(&self) -> (&'static str, Vec<u8>) {
        self.daxpay_call(&fresh_nonce()).encode()
    }

    fn success(&self) -> Reply {
        let m = &self.merchant;
        Reply::empty_success(m.success.code, m.success.msg.clone(), m.secret.expose())
    }
}

/// Sends one signed call and verifies the answer.
async fn exchange(
    rt: &Runtime,
    call: &Call,
    p: &Prepared,
    path: &str,
    body: Vec<u8>,
) -> Result<Answer, GatewayError> {
    let client = rt
        .upstreams
        .daxpay(&p.upstream.name)
        .ok_or(GatewayError::Internal)?;
    let answer_body = client
        .post_json(path, body, call.request_id(), call.traceparent())
        .await?;
    read_answer(
        &p.upstream.scheme,
        p.merchant.daxpay.secret.expose(),
        &answer_body,
    )
    .map_err(|error| {
        GatewayError::Upstream(UpstreamError::Unverified {
            upstream: p.upstream.name.clone(),
            error,
        })
    })
}

/// The close on DaxPay, answered in Jeepay's words; unknown outcomes resolved by a query.
pub(super) async fn execute(
    rt: &Runtime,
    call: &Call,
    p: &Prepared,
) -> Result<Reply, GatewayError> {
    let (path, body) = p.close_request();
    match exchange(rt, call, p, path, body).await {
        Ok(Answer::Done { trace_id, .. }) => {
            tracing::info!(
                mch_no = %p.merchant.mch_no,
                operation = p.endpoint.as_str(),
                cancel = p.cancel,
                upstream = %p.upstream.name,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "order closed on DaxPay"
            );
            call.note(|r| r.trace_id = trace_id);
            Ok(p.success())
        }
        Ok(Answer::Refused { code: 20043, .. }) => {
            resolve(
                rt,
                call,
                p,
                GatewayError::Refused("当前订单正在关闭中，请稍后查询".to_owned()),
            )
            .await
        }
        Ok(Answer::Refused {
            code,
            msg,
            signed,
            trace_id,
        }) => {
            tracing::debug!(
                mch_no = %p.merchant.mch_no,
                operation = p.endpoint.as_str(),
                upstream = %p.upstream.name,
                code,
                msg = %msg,
                signed,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "DaxPay refused"
            );
            call.note(|r| r.trace_id = trace_id);
            // DaxPay 2.0 never signs an error, so its refusals are as verified as they can be.
            let verified = signed || p.upstream.version() == Version::V2_0;
            Err(refusal(code, msg, verified, &p.upstream.name))
        }
        Err(GatewayError::Upstream(e)) if e.maybe_sent() => {
            resolve(rt, call, p, GatewayError::Upstream(e)).await
        }
        Err(e) => Err(e),
    }
}

/// A retry of a request whose first attempt ended with an unknown outcome: find out first,
/// close again only if the order is still open.
pub(super) async fn resume(rt: &Runtime, call: &Call, p: &Prepared) -> Result<Reply, GatewayError> {
    match query_status(rt, call, p).await {
        Ok(Some(status)) if is_open(&status) => execute(rt, call, p).await,
        Ok(Some(status)) => settle(p, &status),
        Ok(None) | Err(_) => execute(rt, call, p).await,
    }
}

/// The order's status after an unknown outcome decides the answer; if it cannot be learnt,
/// `cause` (which says the outcome is unknown) is the answer.
async fn resolve(
    rt: &Runtime,
    call: &Call,
    p: &Prepared,
    cause: GatewayError,
) -> Result<Reply, GatewayError> {
    tracing::warn!(
        mch_no = %p.merchant.mch_no,
        upstream = %p.upstream.name,
        cause = %cause,
        "close outcome unknown: querying the order"
    );
    metrics::counter!("paybridge_outcome_resolutions_total").increment(1);
    match query_status(rt, call, p).await {
        Ok(Some(status)) if is_open(&status) => Err(cause),
        Ok(Some(status)) => settle(p, &status),
        Ok(None) => Err(GatewayError::OrderNotFound { verified: false }),
        Err(query_error) => {
            tracing::warn!(error = %query_error, "order query failed; the outcome stays unknown");
            Err(cause)
        }
    }
}

fn is_open(status: &str) -> bool {
    matches!(status, "wait" | "progress")
}

/// A final status: closed or cancelled is what the merchant asked for; anything else means the
/// order can no longer be closed.
fn settle(p: &Prepared, status: &str) -> Result<Reply, GatewayError> {
    tracing::info!(mch_no = %p.merchant.mch_no, status, "close outcome resolved by query");
    match status {
        "close" | "cancel" => Ok(p.success()),
        _ => Err(GatewayError::Refused("当前订单不可关闭".to_owned())),
    }
}

/// The order's DaxPay status (`None`: DaxPay has no such order).
async fn query_status(
    rt: &Runtime,
    call: &Call,
    p: &Prepared,
) -> Result<Option<String>, GatewayError> {
    let nonce = fresh_nonce();
    let (path, body) = p.daxpay_call(&nonce).encode_query();
    match exchange(rt, call, p, path, body).await? {
        Answer::Done { data, .. } => match data.get("status").and_then(Value::as_str) {
            Some(status) => Ok(Some(status.to_owned())),
            None => Err(GatewayError::Upstream(UpstreamError::Unverified {
                upstream: p.upstream.name.clone(),
                error: crate::dialect::daxpay::AnswerError::Malformed(
                    "query answer has no status".to_owned(),
                ),
            })),
        },
        Answer::Refused { code: 20041, .. } => Ok(None),
        Answer::Refused { code, msg, .. } => Err(rejected(code, msg, &p.upstream.name)),
    }
}

/// DaxPay's refusal in Jeepay's words (translation.md): the merchant's business errors as 9999,
/// the operator's faults as `系统异常`.
fn refusal(code: i64, msg: String, verified: bool, upstream: &str) -> GatewayError {
    let said = |m: &'static str| GatewayError::Refused(m.to_owned());
    match code {
        20041 => GatewayError::OrderNotFound { verified },
        20042 | 20044 => said("当前订单不可关闭"),
        20043 => said("当前订单正在关闭中，请稍后查询"),
        // Our signature rejected, or our DaxPay app unknown: configuration, not the merchant.
        20052 | 20023 => rejected(code, msg, upstream),
        // Channel failures and other business refusals (2.0 reports them as code 1).
        1 | 20000..=29999 => GatewayError::Refused(if msg.trim().is_empty() {
            format!("上游处理失败[{code}]")
        } else {
            msg
        }),
        _ => rejected(code, msg, upstream),
    }
}

fn rejected(code: i64, msg: String, upstream: &str) -> GatewayError {
    GatewayError::Upstream(UpstreamError::Rejected {
        upstream: upstream.to_owned(),
        code,
        msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(code: i64, msg: &str) -> String {
        refusal(code, msg.into(), true, "u").to_string()
    }

    #[test]
    fn refusals_use_jeepay_words() {
        assert_eq!(said(20041, "x"), "订单不存在");
        assert_eq!(said(20044, "x"), "当前订单不可关闭");
        assert_eq!(said(20042, "x"), "当前订单不可关闭");
        assert_eq!(said(20043, "x"), "当前订单正在关闭中，请稍后查询");
        assert_eq!(said(20080, "通道失败"), "通道失败");
        assert_eq!(refusal(20052, "签名".into(), true, "u").code(), 10);
        assert_eq!(refusal(10506, "过期".into(), true, "u").code(), 10);
        assert_eq!(refusal(30000, "".into(), true, "u").code(), 10);
        assert_eq!(said(1, ""), "上游处理失败[1]");
    }

    #[test]
    fn req_time_accepts_seconds_millis_and_micros() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let w = Duration::from_secs(300);
        assert!(check_req_time(&now.as_secs().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_millis().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_micros().to_string(), w).is_ok());
        let old = (now.as_millis() - 301_000).to_string();
        let err = check_req_time(&old, w).unwrap_err().to_string();
        assert!(
            err.starts_with("请求时间超出允许范围[±300秒]，服务器时间"),
            "{err}"
        );
        assert!(check_req_time("20190723141000", w).is_err());
        assert!(check_req_time("12345678901x3", w).is_err());
    }
}
