//! Passthrough: the merchant's request forwarded unchanged to a legacy Jeepay gateway, and its
//! answer returned unchanged, status and body.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::context::Context;
use super::runtime::Runtime;
use crate::config::LegacyUpstream;
use crate::dialect::jeepay::failure::code;
use crate::domain::Failure;
use crate::upstream::Answered;

pub(super) async fn forward(
    rt: &Runtime,
    cx: &Context,
    upstream: &Arc<LegacyUpstream>,
) -> Result<Answered, Failure> {
    let client = rt
        .upstreams
        .legacy(&upstream.name)
        .ok_or(Failure::Internal)?;
    let p = &cx.parts;
    Ok(client
        .forward(&p.method, &p.uri, &p.headers, cx.body.clone(), cx.peer)
        .await?)
}

pub(super) fn into_response(answer: Answered) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}

/// A clean Jeepay "order does not exist": HTTP 200, `{"code":9999,"msg":"订单不存在"}`.
/// Anything else (another error, an empty body, a success) is not a reason to fall back.
pub(super) fn says_no_such_order(answer: &Answered) -> bool {
    #[derive(serde::Deserialize)]
    struct Verdict<'a> {
        code: i64,
        #[serde(borrow)]
        msg: Option<std::borrow::Cow<'a, str>>,
    }
    answer.status == StatusCode::OK
        && serde_json::from_slice::<Verdict<'_>>(&answer.body).is_ok_and(|v| {
            // A refund of an unknown order is `退款订单不存在` (sic) in Jeepay.
            v.code == code::BUSINESS
                && matches!(v.msg.as_deref(), Some("订单不存在" | "退款订单不存在"))
        })
}
