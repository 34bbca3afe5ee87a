//! Shadow (dry run): on a passthrough route, build and sign the DaxPay request that a
//! translation *would* send, and log it. Nothing is sent: a close there would close a real order.

use super::{Call, Runtime};
use crate::config::DaxTarget;
use crate::dialect::jeepay::Params;
use crate::operation::Endpoint;

pub(super) fn log(
    rt: &Runtime,
    call: &Call,
    parsed: Option<&Params<'_>>,
    endpoint: Endpoint,
    target: &DaxTarget,
    rule: &str,
) {
    match super::translate::prepare(rt, call, parsed, endpoint, target.upstream()) {
        Ok(p) => {
            let identity = &p.merchant.daxpay;
            let (path, body) = p.close_request();
            tracing::info!(
                rule,
                mch_no = %p.merchant.mch_no,
                app_id = %p.merchant.app_id,
                operation = endpoint.as_str(),
                daxpay_upstream = %p.upstream.name,
                daxpay_version = %p.upstream.version(),
                daxpay_path = path,
                daxpay_mch_no = identity.mch_no.as_deref().unwrap_or("-"),
                daxpay_app_id = identity.app_id.as_deref().unwrap_or("-"),
                order_no = p.order_no.as_deref().unwrap_or("-"),
                biz_order_no = p.biz_order_no.as_deref().unwrap_or("-"),
                use_cancel = p.cancel,
                body_bytes = body.len(),
                "shadow: would send this DaxPay request (not sent)"
            );
            metrics::counter!("paybridge_shadow_total", "outcome" => "translatable").increment(1);
        }
        Err(error) => {
            tracing::info!(
                rule,
                operation = endpoint.as_str(),
                reason = %error,
                kind = error.kind(),
                "shadow: this request would not be translated"
            );
            metrics::counter!("paybridge_shadow_total", "outcome" => "refused").increment(1);
        }
    }
}
