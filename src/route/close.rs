//! `/api/pay/close` and `/api/pay/cancel` translated to DaxPay's close/cancel.
//!
//! Read and verify as Jeepay does → build and sign the DaxPay call → send → verify the answer →
//! answer in Jeepay's words, re-signed with the merchant's key. Nothing is reported as success
//! that DaxPay did not sign.

use http::request::Parts;
use time::OffsetDateTime;

use super::{Inbound, Shared};
use crate::dialect::daxpay::wire::{fresh_nonce, read_answer};
use crate::dialect::daxpay::{Answer, CloseCall};
use crate::dialect::jeepay::{Params, Reply};
use crate::error::GatewayError;
use crate::operation::{CloseOrder, Endpoint};
use crate::server::PeerAddr;
use crate::upstream::UpstreamError;

pub(super) async fn translate(
    shared: &Shared,
    endpoint: Endpoint,
    parts: &Parts,
    inbound: Inbound<'_>,
) -> Result<Reply, GatewayError> {
    let request = Params::read(inbound.json, inbound.query, inbound.body)?.validate()?;
    if !request.sign_type_supported() {
        return Err(GatewayError::UnsupportedSignType(
            request.sign_type.clone().into_owned(),
        ));
    }
    let merchant = shared
        .config
        .merchants
        .lookup(&request.mch_no, &request.app_id)
        .map_err(|e| match e {
            crate::config::LookupError::Unknown => GatewayError::UnknownMerchant,
            crate::config::LookupError::AppOfAnotherMerchant => GatewayError::AppOfAnotherMerchant,
        })?;
    if !request.verify(merchant.secret.expose()) {
        return Err(GatewayError::BadSignature);
    }
    let order = CloseOrder::from_jeepay(
        &request,
        endpoint == Endpoint::Cancel || merchant.close_uses_cancel,
    )?;

    let identity = &merchant.daxpay;
    let upstream = &identity.upstream;
    let client = shared
        .upstreams
        .get(&upstream.name)
        .ok_or(GatewayError::Internal)?;
    let peer_ip = upstream
        .forward_client_ip
        .then(|| {
            parts
                .extensions
                .get::<PeerAddr>()
                .map(|p| p.0.ip().to_string())
        })
        .flatten();
    let nonce = fresh_nonce();
    let call = CloseCall {
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
    };
    let (path, body) = call.encode();
    let answer_body = client
        .post_json(path, body, parts.headers.get("x-request-id"))
        .await?;
    let answer =
        read_answer(&upstream.scheme, identity.secret.expose(), &answer_body).map_err(|error| {
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
                cancel = order.cancel,
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
            trace_id,
            ..
        } => {
            tracing::info!(
                mch_no = %merchant.mch_no,
                operation = endpoint.as_str(),
                upstream = %upstream.name,
                code,
                msg = %msg,
                trace_id = trace_id.as_deref().unwrap_or("-"),
                "DaxPay refused"
            );
            Err(refusal(code, msg, &upstream.name))
        }
    }
}

/// DaxPay's refusal in Jeepay's words (translation.md): the merchant's business errors as 9999,
/// the operator's faults as `系统异常`.
fn refusal(code: i64, msg: String, upstream: &str) -> GatewayError {
    let said = |m: &'static str| GatewayError::Refused(m.to_owned());
    match code {
        20041 => said("订单不存在"),
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

    #[test]
    fn refusals_use_jeepay_words() {
        assert_eq!(refusal(20041, "x".into(), "u").to_string(), "订单不存在");
        assert_eq!(
            refusal(20044, "x".into(), "u").to_string(),
            "当前订单不可关闭"
        );
        assert_eq!(
            refusal(20042, "x".into(), "u").to_string(),
            "当前订单不可关闭"
        );
        assert_eq!(
            refusal(20043, "x".into(), "u").to_string(),
            "当前订单正在关闭中，请稍后查询"
        );
        assert_eq!(
            refusal(20080, "通道失败".into(), "u").to_string(),
            "通道失败"
        );
        assert_eq!(refusal(20052, "签名".into(), "u").code(), 10);
        assert_eq!(refusal(10506, "过期".into(), "u").code(), 10);
        assert_eq!(refusal(30000, "".into(), "u").code(), 10);
        assert_eq!(refusal(1, "".into(), "u").to_string(), "上游处理失败[1]");
    }
}
