//! Whether a legacy gateway's answer is an epay answer to the endpoint asked, before a fallback
//! relays it to an epay merchant.
//!
//! A fallback (paybridge has no such order, so the legacy gateway is asked) relays what the
//! legacy gateway says. The gateway configured may not speak epay, or not this version of it:
//! a Jeepay gateway on the same host answers `{"code":9999,"msg":"版本号不能为空"}`, an epay build
//! without V2 a Spring or web server 404. Relaying those would hand an epay merchant another
//! dialect's bytes; the pipeline answers its own "does not exist" instead.
//!
//! The shapes, from the gateway's source (epay.md §2, §6, §7): HTTP 200 (PHP's default), a JSON
//! object whose `code` is one of epay's (1 and 0 for success, -1 to -5 for refusals; Jeepay's
//! are 0, 9999, 10, 11) and whose `msg`, when present, is text. V1 answers carry no `sign`
//! (Jeepay's do); `act=order` succeeds with 1 and a `trade_no`, `act=refund` with 0; a V2
//! success (0) is signed as V2 signs (`timestamp`, `sign_type` `RSA`, `sign`). The signature is
//! not checked here: the legacy gateway signs with its own platform key, which the merchant
//! verifies.

use http::StatusCode;
use serde_json::{Map, Value};

use super::request::Endpoint;

/// `true` when `body` (with `status`) is an epay answer of `endpoint`'s version.
pub fn is_epay(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> bool {
    if status != StatusCode::OK {
        return false;
    }
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let Some(code) = answer.get("code").and_then(Value::as_i64) else {
        return false;
    };
    if !(-5..=1).contains(&code) || answer.get("msg").is_some_and(|m| !m.is_string()) {
        return false;
    }
    let text = |key: &str| answer.get(key).and_then(Value::as_str);
    if endpoint.is_v2() {
        return match code {
            0 => signed_v2(&answer),
            1 => false,
            _ => true,
        };
    }
    if answer.contains_key("sign") {
        return false;
    }
    match (endpoint, code) {
        (Endpoint::ApiOrder, 1) => text("trade_no").is_some(),
        (Endpoint::ApiOrder, 0) | (Endpoint::ApiRefund, 1) => false,
        (Endpoint::ApiRefund, 0) => answer.contains_key("money"),
        _ => true,
    }
}

/// A V2 success as `ApiHelper::load_api` writes it: `timestamp`, `sign_type` `RSA`, `sign`.
fn signed_v2(answer: &Map<String, Value>) -> bool {
    let text = |key: &str| answer.get(key).and_then(Value::as_str);
    text("timestamp").is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        && text("sign_type") == Some("RSA")
        && text("sign").is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: StatusCode = StatusCode::OK;

    #[test]
    fn epay_answers_are_recognised() {
        let cases: &[(Endpoint, &str)] = &[
            (
                Endpoint::ApiOrder,
                r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#,
            ),
            (
                Endpoint::ApiOrder,
                r#"{"code":1,"msg":"succ","trade_no":"2024070112000012345","status":1}"#,
            ),
            (
                Endpoint::ApiRefund,
                r#"{"code":0,"uid":1001,"money":"1.00","reducemoney":"1.00","msg":"ok"}"#,
            ),
            (
                Endpoint::ApiRefund,
                r#"{"code":-1,"msg":"当前订单不存在！"}"#,
            ),
            (Endpoint::V2Query, r#"{"code":-1,"msg":"订单号不存在"}"#),
            (
                Endpoint::V2RefundQuery,
                r#"{"code":-1,"msg":"退款记录不存在"}"#,
            ),
            (
                Endpoint::V2Query,
                r#"{"code":0,"trade_no":"1","status":1,"timestamp":"1721206073","sign_type":"RSA","sign":"x=="}"#,
            ),
            (
                Endpoint::V2Refund,
                r#"{"code":-1,"msg":"该订单已全额退款！","timestamp":"1721206073","sign_type":"RSA","sign":"x"}"#,
            ),
        ];
        for (endpoint, body) in cases {
            assert!(
                is_epay(*endpoint, OK, body.as_bytes()),
                "{endpoint:?} {body}"
            );
        }
    }

    #[test]
    fn other_gateways_bytes_are_not() {
        let spring = r#"{"timestamp":"2026-12-07T00:00:00.000+00:00","status":404,"error":"Not Found","path":"/api/pay/refundquery"}"#;
        let cases: &[(Endpoint, StatusCode, &str)] = &[
            (
                Endpoint::V2Query,
                OK,
                r#"{"code":9999,"msg":"版本号不能为空"}"#,
            ),
            (
                Endpoint::ApiOrder,
                OK,
                r#"{"code":11,"msg":"参数有误[转换异常]"}"#,
            ),
            (Endpoint::V2RefundQuery, StatusCode::NOT_FOUND, spring),
            (Endpoint::V2RefundQuery, OK, spring),
            (
                Endpoint::V2Query,
                OK,
                r#"{"code":0,"data":{"state":2},"msg":"SUCCESS","sign":"ABC"}"#,
            ),
            (
                Endpoint::ApiRefund,
                OK,
                r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"ABC"}"#,
            ),
            // A V1 answer where V2 was asked, and the reverse.
            (
                Endpoint::V2Query,
                OK,
                r#"{"code":1,"msg":"succ","trade_no":"1"}"#,
            ),
            (
                Endpoint::ApiOrder,
                OK,
                r#"{"code":-1,"msg":"x","timestamp":"1","sign_type":"RSA","sign":"s"}"#,
            ),
            (Endpoint::ApiOrder, OK, r#"{"code":"1","msg":"succ"}"#),
            (Endpoint::ApiOrder, OK, r#"{"code":-1,"msg":7}"#),
            (Endpoint::ApiOrder, StatusCode::INTERNAL_SERVER_ERROR, ""),
            (Endpoint::ApiOrder, OK, "<html>502 Bad Gateway</html>"),
            (Endpoint::ApiOrder, OK, "[1]"),
        ];
        for (endpoint, status, body) in cases {
            assert!(
                !is_epay(*endpoint, *status, body.as_bytes()),
                "{endpoint:?} {status} {body}"
            );
        }
    }
}
