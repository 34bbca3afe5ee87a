//! The requests sent and the check of each answer, in Jeepay's terms (jeepay.md): a pay
//! (`/api/pay/unifiedOrder`) with a merchant order number never sent before, a refund
//! (`/api/refund/refundOrder`) with a refund number never sent before; an answer counts as a
//! success only with code 0, its `data` signed with the merchant's secret, and the numbers
//! and states a created pay or an accepted refund has.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use crate::sign::{sign_fields, verify_data};

/// The merchant the load is sent as (a Jeepay app).
#[derive(Clone, Debug)]
pub struct Merchant {
    pub mch_no: String,
    pub app_id: String,
    pub secret: String,
}

/// A request body, signed.
pub fn body(m: &Merchant, own: &[(&str, &str)]) -> Bytes {
    let req_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
        .to_string();
    let mut fields: Vec<(&str, &str)> = vec![
        ("mchNo", &m.mch_no),
        ("appId", &m.app_id),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", &req_time),
    ];
    fields.extend_from_slice(own);
    let sign = sign_fields(&fields, &m.secret);
    let mut map = serde_json::Map::new();
    for (k, v) in fields {
        map.insert(k.to_owned(), Value::from(v));
    }
    map.insert("sign".to_owned(), Value::from(sign));
    Bytes::from(Value::Object(map).to_string())
}

/// A pay of `amount_fen` with a new `mch_order_no` (WeChat native: DaxPay creates the order
/// and answers a QR code link).
pub fn pay(m: &Merchant, mch_order_no: &str, amount_fen: u64) -> Bytes {
    let amount = amount_fen.to_string();
    body(
        m,
        &[
            ("mchOrderNo", mch_order_no),
            ("wayCode", "WX_NATIVE"),
            ("amount", &amount),
            ("currency", "cny"),
            ("subject", "loadgen"),
            ("body", "loadgen"),
        ],
    )
}

/// A refund of `amount_fen` of the order paid as `pay_order_id`, with a new `mch_refund_no`.
pub fn refund(m: &Merchant, pay_order_id: &str, mch_refund_no: &str, amount_fen: u64) -> Bytes {
    let amount = amount_fen.to_string();
    body(
        m,
        &[
            ("payOrderId", pay_order_id),
            ("mchRefundNo", mch_refund_no),
            ("refundAmount", &amount),
            ("currency", "cny"),
            ("refundReason", "loadgen"),
        ],
    )
}

/// Why an answer is not the success asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSuccess {
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("not a JSON object")]
    NotJson,
    #[error("code {code}: {msg}")]
    Code { code: String, msg: String },
    #[error("code 0 without a data object or sign")]
    Unsigned,
    #[error("signature does not verify")]
    BadSignature,
    #[error("{0}")]
    Unexpected(String),
}

/// A verified success's `data`.
pub type Data = serde_json::Map<String, Value>;

/// The answer's `data`, when it is a success signed with `secret`.
pub fn verified(status: u16, body: &[u8], secret: &str) -> Result<Data, NotSuccess> {
    if status != 200 {
        return Err(NotSuccess::Status(status));
    }
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(body) else {
        return Err(NotSuccess::NotJson);
    };
    let code = answer.get("code").map(Value::to_string).unwrap_or_default();
    if code != "0" {
        let msg = answer
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(NotSuccess::Code {
            code,
            msg: msg.to_owned(),
        });
    }
    let (Some(Value::Object(data)), Some(Value::String(sign))) =
        (answer.remove("data"), answer.remove("sign"))
    else {
        return Err(NotSuccess::Unsigned);
    };
    if !verify_data(&data, secret, &sign) {
        return Err(NotSuccess::BadSignature);
    }
    Ok(data)
}

fn text<'d>(data: &'d Data, key: &str) -> &'d str {
    data.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A created pay: its own number back, a pay order id, state created (0), paying (1) or paid
/// (2). Returns the pay order id.
pub fn created_pay(data: &Data, mch_order_no: &str) -> Result<String, NotSuccess> {
    let state = data.get("orderState").map(Value::to_string);
    let id = text(data, "payOrderId");
    if text(data, "mchOrderNo") != mch_order_no || id.is_empty() {
        return Err(NotSuccess::Unexpected(format!(
            "pay answer names another order: {data:?}"
        )));
    }
    match state.as_deref() {
        Some("0" | "1" | "2") => Ok(id.to_owned()),
        other => Err(NotSuccess::Unexpected(format!("pay order state {other:?}"))),
    }
}

/// An accepted refund: its own number back, a refund order id, state refunding (1) or
/// refunded (2).
pub fn accepted_refund(data: &Data, mch_refund_no: &str) -> Result<(), NotSuccess> {
    let state = data.get("state").map(Value::to_string);
    if text(data, "mchRefundNo") != mch_refund_no || text(data, "refundOrderId").is_empty() {
        return Err(NotSuccess::Unexpected(format!(
            "refund answer names another refund: {data:?}"
        )));
    }
    match state.as_deref() {
        Some("1" | "2") => Ok(()),
        other => Err(NotSuccess::Unexpected(format!("refund state {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant() -> Merchant {
        Merchant {
            mch_no: "M1".into(),
            app_id: "A1".into(),
            secret: "S".into(),
        }
    }

    #[test]
    fn a_signed_success_is_verified_and_a_failure_is_not() {
        let data: Data =
            serde_json::from_str(r#"{"mchOrderNo":"O1","orderState":1,"payOrderId":"P1"}"#)
                .unwrap();
        let sign = crate::sign::sign_data(&data, "S");
        let body = format!(
            r#"{{"code":0,"data":{},"msg":"SUCCESS","sign":"{sign}"}}"#,
            Value::Object(data.clone())
        );
        let got = verified(200, body.as_bytes(), "S").unwrap();
        assert_eq!(created_pay(&got, "O1").unwrap(), "P1");
        assert!(created_pay(&got, "O2")
            .unwrap_err()
            .to_string()
            .contains("another"));
        assert_eq!(
            verified(200, body.as_bytes(), "T"),
            Err(NotSuccess::BadSignature)
        );
        let refused = br#"{"code":9999,"msg":"x"}"#;
        assert!(matches!(
            verified(200, refused, "S"),
            Err(NotSuccess::Code { .. })
        ));
        assert_eq!(verified(502, refused, "S"), Err(NotSuccess::Status(502)));
    }

    #[test]
    fn a_request_body_carries_a_verifiable_sign() {
        let body = pay(&merchant(), "O1", 5);
        let mut map: Data = serde_json::from_slice(&body).unwrap();
        let sign = map.remove("sign").unwrap();
        assert_eq!(sign.as_str().unwrap(), crate::sign::sign_data(&map, "S"));
        assert_eq!(map["amount"], "5");
    }
}
