//! `/api/pay/close` and `/api/pay/cancel` translated to DaxPay's close/cancel.
//!
//! Read and verify as Jeepay does → build and sign the DaxPay call → send → verify the answer →
//! answer in Jeepay's words, re-signed with the merchant's key. Nothing is reported as success
//! that DaxPay did not sign.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{Call, Runtime};
use crate::config::{LookupError, Merchant, Upstream};
use crate::dialect::daxpay::wire::{fresh_nonce, read_answer};
use crate::dialect::daxpay::{Answer, CloseCall, Version};
use crate::dialect::jeepay::Reply;
use crate::error::GatewayError;
use crate::operation::{CloseOrder, Endpoint};
use crate::upstream::UpstreamError;

/// A verified merchant request, turned into a signed DaxPay call ready to send.
pub(super) struct Prepared {
    pub merchant: Arc<Merchant>,
    pub upstream: Arc<Upstream>,
    pub order_no: Option<String>,
    pub biz_order_no: Option<String>,
    pub cancel: bool,
    pub path: &'static str,
    pub body: Vec<u8>,
}

/// Reads and verifies the request as Jeepay does and builds the DaxPay call, on `upstream`
/// when given, else on the merchant identity's own.
pub(super) fn prepare(
    rt: &Runtime,
    call: &Call,
    endpoint: Endpoint,
    upstream: Option<&Arc<Upstream>>,
) -> Result<Prepared, GatewayError> {
    let request = call.params()?.validate()?;
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
    let order = CloseOrder::from_jeepay(
        &request,
        endpoint == Endpoint::Cancel || merchant.close_uses_cancel,
    )?;

    let identity = &merchant.daxpay;
    let upstream = upstream.unwrap_or(&identity.upstream).clone();
    let peer_ip = upstream
        .forward_client_ip
        .then(|| call.peer.map(|ip| ip.to_string()))
        .flatten();
    let nonce = fresh_nonce();
    let (path, body) = CloseCall {
        scheme: upstream.scheme,
        secret: identity.secret.expose(),
        mch_no: identity.mch_no.as_deref(),
        app_id: identity.app_id.as_deref(),
        order_no: order.order_no,
        biz_order_no: order.biz_order_no,
        cancel: order.cancel,
        client_ip: peer_ip.as_deref(),
        utc_offset: upstream.utc_offset,
        now: OffsetDateTime::now_utc(),
        nonce: &nonce,
    }
    .encode();
    Ok(Prepared {
        order_no: order.order_no.map(str::to_owned),
        biz_order_no: order.biz_order_no.map(str::to_owned),
        cancel: order.cancel,
        merchant,
        upstream,
        path,
        body,
    })
}

/// The whole translation: verify, send, verify the answer, answer in Jeepay's words.
pub(super) async fn run(
    rt: &Runtime,
    call: &Call,
    endpoint: Endpoint,
    upstream: Option<&Arc<Upstream>>,
) -> Result<Reply, GatewayError> {
    let prepared = prepare(rt, call, endpoint, upstream)?;
    let Prepared {
        merchant,
        upstream,
        cancel,
        path,
        body,
        ..
    } = prepared;
    let client = rt
        .upstreams
        .daxpay(&upstream.name)
        .ok_or(GatewayError::Internal)?;
    let secret = merchant.daxpay.secret.expose();
    let answer_body = client.post_json(path, body, call.request_id()).await?;
    let answer = read_answer(&upstream.scheme, secret, &answer_body).map_err(|error| {
        UpstreamError::Unverified {
            upstream: upstream.name.clone(),
            error,
        }
    })?;
    match answer {
        Answer::Done { trace_id } => {
            tracing::info!(
                mch_no = %merchant.mch_no,
                operation = endpoint.as_str(),
                cancel,
                upstream = %upstream.name,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "order closed on DaxPay"
            );
            Ok(Reply::empty_success(
                merchant.success.code,
                &merchant.success.msg,
                merchant.secret.expose(),
            ))
        }
        Answer::Refused {
            code,
            msg,
            signed,
            trace_id,
        } => {
            tracing::info!(
                mch_no = %merchant.mch_no,
                operation = endpoint.as_str(),
                upstream = %upstream.name,
                code,
                msg = %msg,
                signed,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "DaxPay refused"
            );
            // DaxPay 2.0 never signs an error, so its refusals are as verified as they can be.
            let verified = signed || upstream.version() == Version::V2_0;
            Err(refusal(code, msg, verified, &upstream.name))
        }
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
}
