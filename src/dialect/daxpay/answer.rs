//! DaxPay's answer envelope, checked before anything in it is believed.
//!
//! A success counts only when its signature verifies; an unsigned error is still an error
//! (DaxPay answers pre-handler failures unsigned). A non-null `data` is verified from the JSON as
//! received (its key order kept: see [`super::sign::render`]), never by re-serialising a model
//! that may lack fields. On the request path a success must also be recent ([`read_fresh_answer`],
//! [`super::res_time`]).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::render::check_renderable;
use super::res_time::ResTimeCheck;
use super::sign::{self, Scheme, Version};
use crate::domain::AnswerFault;
use crate::text::ShortText;

/// A verified DaxPay answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A signed, verified success, with its `data` (null for close; the order for a query).
    Done {
        trace_id: Option<String>,
        data: Value,
    },
    /// The upstream refused. `signed` is false for DaxPay's unsigned pre-handler failures.
    Refused {
        code: i64,
        msg: String,
        signed: bool,
        trace_id: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    code: i64,
    #[serde(borrow, default)]
    msg: Option<Str<'a>>,
    #[serde(default)]
    data: Value,
    #[serde(borrow, default)]
    sign: Option<Str<'a>>,
    #[serde(borrow, default)]
    res_time: Option<Loose<'a>>,
    #[serde(borrow, default)]
    trace_id: Option<Str<'a>>,
}

/// A JSON string, borrowed from the answer unless it has escapes. (serde's own `Cow<str>`
/// borrows only as a bare field, never inside an `Option`.)
struct Str<'a>(Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, Visitor};
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// A JSON value that stays borrowed from the answer when it is a plain string (as `resTime`
/// is); anything else is read as a [`Value`]. Rendered for signing exactly as the `Value` is.
enum Loose<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'a> Loose<'a> {
    fn render(&self) -> Option<Cow<'_, str>> {
        match self {
            Loose::Text(s) => Some(Cow::Borrowed(s)),
            Loose::Other(v) => sign::render(v),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, value, Visitor};
        struct LooseVisitor;
        impl<'de> Visitor<'de> for LooseVisitor {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose::Other(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Other(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Loose::Other(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Value::deserialize(value::F64Deserializer::<E>::new(v)).map(Loose::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose::Other(Value::Null))
            }
            // Objects, arrays, and numbers (which `arbitrary_precision` hands over as a map
            // holding their literal text): exactly what `Value` makes of them.
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(value::MapAccessDeserializer::new(map)).map(Loose::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(value::SeqAccessDeserializer::new(seq)).map(Loose::Other)
            }
        }
        deserializer.deserialize_any(LooseVisitor)
    }
}

/// Checks an answer body from a DaxPay upstream signing with `scheme` and `secret` (its
/// `resTime` is not checked: see [`read_fresh_answer`]).
pub fn read_answer(scheme: &Scheme, secret: &str, body: &[u8]) -> Result<Answer, AnswerFault> {
    read_fresh_answer(scheme, secret, body, None)
}

/// [`read_answer`], and a signed success whose `resTime` is absent or outside `fresh`'s window
/// is not believed ([`AnswerFault::Stale`]). `None`: the time is not checked.
pub fn read_fresh_answer(
    scheme: &Scheme,
    secret: &str,
    body: &[u8],
    fresh: Option<&ResTimeCheck>,
) -> Result<Answer, AnswerFault> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| AnswerFault::Malformed(e.to_string()))?;
    match scheme.version {
        Version::V3_0 | Version::V3_0Beta => read_envelope_signed(scheme, secret, envelope, fresh),
        Version::V2_0 => read_data_signed(scheme, secret, envelope, fresh),
    }
}

fn owned(text: Option<Str<'_>>) -> Option<String> {
    text.map(|t| t.0.into_owned())
}

fn read_envelope_signed(
    scheme: &Scheme,
    secret: &str,
    e: Envelope<'_>,
    fresh: Option<&ResTimeCheck>,
) -> Result<Answer, AnswerFault> {
    let Some(given) = e.sign.as_deref().filter(|s| !s.is_empty()) else {
        return if e.code == 0 {
            Err(AnswerFault::UnsignedSuccess)
        } else {
            Ok(refused(
                e.code,
                owned(e.msg).unwrap_or_default(),
                false,
                owned(e.trace_id),
            ))
        };
    };
    // Nothing is rendered for the signature that could expand (`1e99999999999`).
    let res_time = match &e.res_time {
        Some(Loose::Other(value)) => Some(value),
        _ => None,
    };
    check_renderable(std::iter::once(&e.data).chain(res_time))?;
    // DaxPay signs its result model: code, msg, data, resTime, traceId, nulls left out.
    let code = ShortText::format(format_args!("{}", e.code));
    let code = code.as_str();
    let mut fields: [(&str, Cow<'_, str>); 5] = Default::default();
    let mut n = 0;
    let mut push = |key, value| {
        fields[n] = (key, value);
        n += 1;
    };
    push("code", Cow::Borrowed(code));
    if let Some(m) = &e.msg {
        push("msg", Cow::Borrowed(&**m));
    }
    if let Some(d) = sign::render(&e.data) {
        push("data", d);
    }
    if let Some(t) = e.res_time.as_ref().and_then(Loose::render) {
        push("resTime", t);
    }
    if let Some(t) = &e.trace_id {
        push("traceId", Cow::Borrowed(&**t));
    }
    if !scheme.verify(&mut fields[..n], secret, given) {
        return Err(AnswerFault::BadSignature);
    }
    if let (0, Some(fresh)) = (e.code, fresh) {
        let res_time = e.res_time.as_ref().and_then(Loose::render);
        fresh.verify(scheme.version, res_time.as_deref())?;
    }
    Ok(if e.code == 0 {
        Answer::Done {
            trace_id: owned(e.trace_id),
            data: e.data,
        }
    } else {
        refused(
            e.code,
            owned(e.msg).unwrap_or_default(),
            true,
            owned(e.trace_id),
        )
    })
}

fn read_data_signed(
    scheme: &Scheme,
    secret: &str,
    e: Envelope<'_>,
    fresh: Option<&ResTimeCheck>,
) -> Result<Answer, AnswerFault> {
    let trace_id = owned(e.trace_id);
    if e.code != 0 {
        return Ok(refused(
            e.code,
            owned(e.msg).unwrap_or_default(),
            false,
            trace_id,
        ));
    }
    let Value::Object(data) = e.data else {
        return Err(AnswerFault::UnsignedSuccess);
    };
    let code = data
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| AnswerFault::Malformed("data.code is not a number".to_owned()))?;
    let msg = data.get("msg").and_then(Value::as_str).unwrap_or_default();
    let Some(given) = data
        .get("sign")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return if code == 0 {
            Err(AnswerFault::UnsignedSuccess)
        } else {
            Ok(refused(code, msg.to_owned(), false, trace_id))
        };
    };
    // 2.0 signs its result model inside `data`: every non-null field but `sign`, none of
    // which may expand when rendered (`1e99999999999`).
    check_renderable(data.values())?;
    let mut fields = sign::fields_of(&data);
    if !scheme.verify(&mut fields, secret, given) {
        return Err(AnswerFault::BadSignature);
    }
    drop(fields);
    if let (0, Some(fresh)) = (code, fresh) {
        let res_time = data.get("resTime").and_then(sign::render);
        fresh.verify(scheme.version, res_time.as_deref())?;
    }
    Ok(if code == 0 {
        Answer::Done {
            trace_id,
            data: Value::Object(data),
        }
    } else {
        refused(code_of_2_0(code, msg), msg.to_owned(), true, trace_id)
    })
}

/// 2.0.8 answers every refusal from inside its handler as `data {code: 1, msg}`: the specific
/// code (20041, 20044, ...) is replaced by 1 and the message is the only discriminator
/// (lifecycle-2.0.md §2.6, §2.7). The code is given back from the message for the texts whose
/// meaning the operations rely on (the messages of `PayCloseService`, `PayCancelService`,
/// `RefundAssistService`, the query services and `PayService`'s limit check); any other
/// message stays code 1 (a business refusal in DaxPay's words).
pub fn code_of_2_0(code: i64, msg: &str) -> i64 {
    if code != 1 {
        return code;
    }
    const NOT_FOUND: i64 = 20041;
    const PROCESSING: i64 = 20043;
    const STATE: i64 = 20044;
    const OVER_LIMIT: i64 = 20060;
    match msg {
        "支付订单不存在" | "退款订单不存在" => NOT_FOUND,
        "支付订单已在关闭中，请勿重复发起" | "支付订单已在撤销中，请勿重复发起" => {
            PROCESSING
        }
        "只有失败状态的才可以重新发起退款" => STATE,
        "支付金额超过限额" => OVER_LIMIT,
        // `订单不是支付中, 无法进行关闭订单` / `…撤销订单`; `当前支付单订状态[…]` (sic) and
        // `当前支付单退款状态[…]不允许发起退款操作`.
        m if m.starts_with("订单不是支付中") => STATE,
        m if m.starts_with("当前支付单") && m.ends_with("不允许发起退款操作") => {
            STATE
        }
        _ => code,
    }
}

fn refused(code: i64, msg: String, signed: bool, trace_id: Option<String>) -> Answer {
    Answer::Refused {
        code,
        msg,
        signed,
        trace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::SignType;

    #[test]
    fn res_time_of_any_json_type_is_signed_as_rendered() {
        let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
        for res_time in [
            r#""2025-08-26 12:00:00""#,
            r#""with \"quote\" and \u00e9""#,
            "1756180800",
            "1.50",
            "true",
            r#"{"b":1,"a":null}"#,
            "[1,null]",
        ] {
            let value: Value = serde_json::from_str(res_time).unwrap();
            let rendered = sign::render(&value).unwrap();
            let sign = scheme.sign(
                &mut [
                    ("code", Cow::Borrowed("0")),
                    ("msg", Cow::Borrowed("ok")),
                    ("resTime", rendered),
                    ("traceId", Cow::Borrowed("t\"1")),
                ],
                "k",
            );
            let body = format!(
                r#"{{"code":0,"msg":"ok","data":null,"sign":"{sign}","resTime":{res_time},"traceId":"t\"1"}}"#
            );
            assert_eq!(
                read_answer(&scheme, "k", body.as_bytes()),
                Ok(Answer::Done {
                    trace_id: Some("t\"1".to_owned()),
                    data: Value::Null
                }),
                "{res_time}"
            );
        }
    }

    /// A number written to expand (`1e99999999999`) or to overflow its exponent, anywhere a
    /// signed answer is rendered for its signature: refused before it is rendered.
    #[test]
    fn a_number_too_long_to_render_is_refused_before_rendering() {
        for number in [
            "1e99999999999",
            "1e9223372036854775807",
            "1e99999999999999999999",
        ] {
            for (version, body) in [
                (
                    Version::V3_0,
                    format!(r#"{{"code":0,"sign":"x","data":{{"a":{number}}}}}"#),
                ),
                (
                    Version::V3_0,
                    format!(r#"{{"code":0,"sign":"x","resTime":{number}}}"#),
                ),
                (
                    Version::V3_0Beta,
                    format!(r#"{{"code":0,"sign":"x","data":[{number}]}}"#),
                ),
                (
                    Version::V2_0,
                    format!(r#"{{"code":0,"data":{{"code":0,"sign":"x","amount":{number}}}}}"#),
                ),
            ] {
                let scheme = Scheme::new(version, SignType::Md5);
                assert!(
                    matches!(
                        read_answer(&scheme, "k", body.as_bytes()),
                        Err(AnswerFault::Malformed(m)) if m.contains("plain form")
                    ),
                    "{version} {body}"
                );
            }
        }
    }

    /// lifecycle-2.0.md §2.6 shape B: a refusal from inside 2.0.8's handler is `data {code: 1}`,
    /// signed; the meaning is in the message, and the code is given back from it.
    #[test]
    fn version_2_refusals_get_their_code_back_from_the_message() {
        let scheme = Scheme::new(Version::V2_0, SignType::HmacSha256);
        for (msg, code) in [
            ("支付订单不存在", 20041),
            ("退款订单不存在", 20041),
            ("订单不是支付中, 无法进行关闭订单", 20044),
            ("订单不是支付中, 无法进行撤销订单", 20044),
            ("支付订单已在关闭中，请勿重复发起", 20043),
            ("当前支付单订状态[支付中]不允许发起退款操作", 20044),
            ("当前支付单退款状态[全部退款]不允许发起退款操作", 20044),
            ("只有失败状态的才可以重新发起退款", 20044),
            ("支付金额超过限额", 20060),
            ("关闭订单失败", 1),
        ] {
            let sign = scheme.sign(
                &mut [
                    ("code", Cow::Borrowed("1")),
                    ("msg", Cow::Borrowed(msg)),
                    ("resTime", Cow::Borrowed("1719815401")),
                ],
                "k",
            );
            let body = format!(
                r#"{{"msg":"success","code":0,"data":{{"code":1,"msg":"{msg}","resTime":1719815401,"sign":"{sign}"}},"traceId":"t"}}"#
            );
            assert_eq!(
                read_answer(&scheme, "k", body.as_bytes()),
                Ok(Answer::Refused {
                    code,
                    msg: msg.to_owned(),
                    signed: true,
                    trace_id: Some("t".to_owned())
                }),
                "{msg}"
            );
        }
        // Shape A (unsigned, envelope code) keeps its own code.
        let body = r#"{"msg":"验证参数错误\n请求已过期，请重新发送！","code":10006,"data":null,"traceId":"t"}"#;
        assert!(matches!(
            read_answer(&scheme, "k", body.as_bytes()),
            Ok(Answer::Refused {
                code: 10006,
                signed: false,
                ..
            })
        ));
    }

    #[test]
    fn unsigned_success_is_never_believed() {
        let scheme = Scheme::new(Version::V3_0, SignType::Md5);
        let body =
            br#"{"code":0,"msg":"success","data":null,"sign":null,"resTime":null,"traceId":"t"}"#;
        assert_eq!(
            read_answer(&scheme, "k", body),
            Err(AnswerFault::UnsignedSuccess)
        );
        let body = br#"{"code":20052,"msg":"bad sign","data":null,"traceId":"t"}"#;
        assert!(matches!(
            read_answer(&scheme, "k", body),
            Ok(Answer::Refused {
                code: 20052,
                signed: false,
                ..
            })
        ));
    }
}
