//! DaxPay's callbacks (lifecycle.md §6.2): what DaxPay posts to an order's `notifyUrl` when the
//! order or a refund changes, checked before anything in it is believed.
//!
//! 3.0 posts `{mchNo, appId, code, msg, data, sign, resTime, traceId}` (nulls left out) signed
//! like an answer, but its `data` is a map there, so DaxPay's signer sorts the map's keys
//! (case-insensitively) inside the signed string while the wire keeps the declaration order.
//! The SDK's own example verifies only with the declared order, so both are tried, sorted first,
//! and which one matched is reported. 3.0-beta posts `{code, msg, data, sign}`; 2.0 a flat signed
//! notice. A callback is only a hint: the receiver reads the order again before acting on it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::render::{case_insensitive, check_renderable, fields_of, render};
use super::sign::{Scheme, Version};
use crate::domain::AnswerFault;

/// Which key order of `data` the signature matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOrder {
    /// `data`'s keys sorted case-insensitively, as DaxPay 3.0.0's server signs a map.
    Sorted,
    /// As received (the declaration order), as DaxPay's SDK example signs it.
    Declared,
}

impl SignOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SignOrder::Sorted => "sorted",
            SignOrder::Declared => "declared",
        }
    }
}

/// A verified callback: the order or refund as DaxPay reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The `PayOrderResult` / `RefundOrderResult` fields (2.0: the flat notice itself).
    pub data: Map<String, Value>,
    pub order: SignOrder,
}

/// Checks a callback body from an identity signing with `scheme` and `secret`.
pub fn read_callback(scheme: &Scheme, secret: &str, body: &[u8]) -> Result<Callback, AnswerFault> {
    let Value::Object(envelope) =
        serde_json::from_slice::<Value>(body).map_err(|e| AnswerFault::Malformed(e.to_string()))?
    else {
        return Err(AnswerFault::Malformed("not a JSON object".to_owned()));
    };
    let given = envelope
        .get("sign")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(AnswerFault::UnsignedSuccess)?
        .to_owned();
    if envelope.get("code").and_then(Value::as_i64) != Some(0) {
        return Err(AnswerFault::Malformed(
            "a callback whose code is not 0".to_owned(),
        ));
    }
    // Before anything is rendered for the signature: `1e99999999999` must not expand.
    check_renderable(envelope.values())?;
    if scheme.version == Version::V2_0 {
        // Flat: every non-null field but `sign`, keys sorted by the signer itself.
        let mut fields = fields_of(&envelope);
        if !scheme.verify(&mut fields, secret, &given) {
            return Err(AnswerFault::BadSignature);
        }
        drop(fields);
        return Ok(Callback {
            data: envelope,
            order: SignOrder::Declared,
        });
    }
    let Some(Value::Object(data)) = envelope.get("data") else {
        return Err(AnswerFault::Malformed("a callback without data".to_owned()));
    };
    for order in [SignOrder::Sorted, SignOrder::Declared] {
        let rendered = match order {
            SignOrder::Sorted => render(&Value::Object(sorted(data))).map(Cow::into_owned),
            SignOrder::Declared => render(&Value::Object(data.clone())).map(Cow::into_owned),
        };
        let mut fields: Vec<(&str, Cow<'_, str>)> = envelope
            .iter()
            .filter(|(k, _)| k.as_str() != "sign" && k.as_str() != "data")
            .filter_map(|(k, v)| render(v).map(|v| (k.as_str(), v)))
            .collect();
        if let Some(d) = rendered {
            fields.push(("data", Cow::Owned(d)));
        }
        if scheme.verify(&mut fields, secret, &given) {
            return Ok(Callback {
                data: data.clone(),
                order,
            });
        }
    }
    Err(AnswerFault::BadSignature)
}

/// `data` with its keys in `String.CASE_INSENSITIVE_ORDER`, as hutool writes a map DaxPay sorted.
fn sorted(data: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = data.iter().collect();
    entries.sort_by(|a, b| case_insensitive(a.0, b.0));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::SignType;

    /// lifecycle.md §10's callback: the SDK example's payload, HMAC secret `123456`. DaxPay's
    /// server signs it sorted (`fa7d74df…`); the SDK example carries the declared-order digest.
    const NOTICE: &str = r#"{"mchNo":"M1723635576766","appId":"M8088873888246277","code":0,"msg":"success",
        "data":{"bizOrderNo":"20250221230917","orderNo":"DEV_P2025022123091870000001","title":"扫码支付",
        "allocation":false,"autoAllocation":false,"channel":"ali_pay","method":"barcode","amount":0.01,
        "refundableBalance":0.01,"status":"close","refundStatus":"no_refund","closeTime":"2025-02-21 23:40:00",
        "expiredTime":"2025-02-21 23:39:18","errorMsg":"ERR"},
        "resTime":"2025-04-10 23:45:42","traceId":"BGSPILOLSRBX","noticeType":"pay","sign":"SIGN"}"#;

    fn signed(order: SignOrder) -> String {
        let mut value: Value = serde_json::from_str(NOTICE).unwrap();
        let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
        let data = value["data"].as_object().unwrap().clone();
        let rendered = match order {
            SignOrder::Sorted => render(&Value::Object(sorted(&data))).unwrap().into_owned(),
            SignOrder::Declared => render(&Value::Object(data)).unwrap().into_owned(),
        };
        let object = value.as_object().unwrap();
        let mut fields: Vec<(&str, Cow<'_, str>)> = object
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "sign" | "data"))
            .filter_map(|(k, v)| render(v).map(|v| (k.as_str(), v)))
            .collect();
        fields.push(("data", Cow::Owned(rendered)));
        let sign = scheme.sign(&mut fields, "123456");
        value["sign"] = Value::String(sign);
        value.to_string()
    }

    #[test]
    fn sorted_and_declared_orders_both_verify_and_say_which() {
        let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
        for order in [SignOrder::Sorted, SignOrder::Declared] {
            let body = signed(order);
            let callback = read_callback(&scheme, "123456", body.as_bytes()).unwrap();
            assert_eq!(callback.order, order);
            assert_eq!(callback.data["status"], "close");
        }
        let tampered = signed(SignOrder::Sorted).replace("\"close\"", "\"success\"");
        assert_eq!(
            read_callback(&scheme, "123456", tampered.as_bytes()),
            Err(AnswerFault::BadSignature)
        );
        assert_eq!(
            read_callback(&scheme, "wrong", signed(SignOrder::Sorted).as_bytes()),
            Err(AnswerFault::BadSignature)
        );
    }

    #[test]
    fn java_case_insensitive_order() {
        let mut keys = vec![
            "refundStatus",
            "ALLOCATION",
            "amount",
            "autoAllocation",
            "bizOrderNo",
        ];
        keys.sort_by(|a, b| case_insensitive(a, b));
        assert_eq!(
            keys,
            [
                "ALLOCATION",
                "amount",
                "autoAllocation",
                "bizOrderNo",
                "refundStatus"
            ]
        );
    }

    #[test]
    fn unsigned_or_unreadable_callbacks_are_not_believed() {
        let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
        assert_eq!(
            read_callback(&scheme, "k", br#"{"code":0,"data":{}}"#),
            Err(AnswerFault::UnsignedSuccess)
        );
        assert!(matches!(
            read_callback(&scheme, "k", b"[]"),
            Err(AnswerFault::Malformed(_))
        ));
        assert!(matches!(
            read_callback(&scheme, "k", br#"{"code":1,"sign":"x","data":{}}"#),
            Err(AnswerFault::Malformed(_))
        ));
    }

    #[test]
    fn a_number_too_long_to_render_is_refused_before_rendering() {
        for version in [Version::V3_0, Version::V2_0] {
            let scheme = Scheme::new(version, SignType::HmacSha256);
            for number in [
                "1e99999999999",
                "1e9223372036854775807",
                "-1e-99999999999999999999",
            ] {
                for body in [
                    format!(r#"{{"code":0,"sign":"x","amount":{number},"data":{{}}}}"#),
                    format!(r#"{{"code":0,"sign":"x","data":{{"amount":[{number}]}}}}"#),
                ] {
                    assert!(
                        matches!(
                            read_callback(&scheme, "k", body.as_bytes()),
                            Err(AnswerFault::Malformed(m)) if m.contains("plain form")
                        ),
                        "{version} {body}"
                    );
                }
            }
        }
    }
}
