//! Jeepay's close request as its server binds it, and its answer envelope.
//!
//! Jeepay reads a JSON object body when `Content-Type` contains `application/json` (and the method
//! is not GET); otherwise the query string and a form body. It binds the parameters to the
//! endpoint's request class, so only *declared* fields exist afterwards: the rest is ignored, also
//! by signature verification. Every declared field of close is a string; a JSON number or boolean
//! is bound as its text.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::sign;
use crate::error::GatewayError;
use crate::text::StackText;

/// The declared fields of Jeepay's close request (`ClosePayOrderRQ`), as bound text.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params<'a> {
    #[serde(borrow, default)]
    pub version: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub sign_type: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub sign: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub req_time: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub mch_no: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub app_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub mch_order_no: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub pay_order_id: Option<Text<'a>>,
}

/// A declared string field: JSON strings as they are, numbers as their literal text, booleans as
/// `true`/`false`. Objects and arrays cannot bind to a string field (code 11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            // With serde_json's `arbitrary_precision`, numbers arrive as a map holding their
            // literal text: bind exactly what the client wrote, as Jackson's text binding does.
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let number: serde_json::Number =
                    Deserialize::deserialize(de::value::MapAccessDeserializer::new(&mut map))
                        .map_err(|_| {
                            de::Error::custom("an object cannot bind to a string field")
                        })?;
                Ok(Text(Cow::Owned(number.to_string())))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn text<'v>(value: &'v Option<Text<'_>>) -> &'v str {
    value.as_ref().map_or("", Text::as_str)
}

impl<'a> Params<'a> {
    /// Reads the parameters the way Jeepay's `getReqParamJSON` does.
    /// `json` is true when the content type says JSON and the method is not GET.
    pub fn read(json: bool, query: Option<&'a str>, body: &'a [u8]) -> Result<Self, GatewayError> {
        if json {
            // serde would bind a JSON array positionally; Jeepay only takes an object.
            if body.trim_ascii_start().first() != Some(&b'{') {
                return Err(GatewayError::Conversion(
                    "body is not a JSON object".to_owned(),
                ));
            }
            return serde_json::from_slice(body)
                .map_err(|e| GatewayError::Conversion(e.to_string()));
        }
        let mut params = Params::default();
        if let Some(q) = query {
            params.absorb(q.as_bytes())?;
        }
        params.absorb(body)?;
        Ok(params)
    }

    /// Adds `application/x-www-form-urlencoded` pairs (query string or body).
    fn absorb(&mut self, encoded: &'a [u8]) -> Result<(), GatewayError> {
        for (key, value) in form_urlencoded::parse(encoded) {
            let slot = match key.as_ref() {
                "version" => &mut self.version,
                "signType" => &mut self.sign_type,
                "sign" => &mut self.sign,
                "reqTime" => &mut self.req_time,
                "mchNo" => &mut self.mch_no,
                "appId" => &mut self.app_id,
                "mchOrderNo" => &mut self.mch_order_no,
                "payOrderId" => &mut self.pay_order_id,
                _ => continue,
            };
            if slot.is_some() {
                // A signed parameter given twice is ambiguous: refuse rather than pick one.
                return Err(GatewayError::Conversion(format!(
                    "parameter `{key}` given twice"
                )));
            }
            *slot = Some(Text(value));
        }
        Ok(())
    }

    /// Jeepay's `@NotBlank` checks, in declaration order, with its own messages.
    pub fn validate(self) -> Result<CloseRequest<'a>, GatewayError> {
        let required = [
            (&self.version, "版本号不能为空"),
            (&self.sign_type, "签名类型不能为空"),
            (&self.sign, "签名值不能为空"),
            (&self.req_time, "时间戳不能为空"),
            (&self.mch_no, "商户号不能为空"),
            (&self.app_id, "商户应用ID不能为空"),
        ];
        for (value, message) in required {
            if text(value).trim().is_empty() {
                return Err(GatewayError::Required(message));
            }
        }
        let take = |v: Option<Text<'a>>| v.map(|t| t.0).unwrap_or_default();
        Ok(CloseRequest {
            version: take(self.version),
            sign_type: take(self.sign_type),
            sign: take(self.sign),
            req_time: take(self.req_time),
            mch_no: take(self.mch_no),
            app_id: take(self.app_id),
            mch_order_no: take(self.mch_order_no),
            pay_order_id: take(self.pay_order_id),
        })
    }
}

/// A close (or cancel) request whose required fields are present. Absent optional fields are "".
#[derive(Debug)]
pub struct CloseRequest<'a> {
    pub version: Cow<'a, str>,
    pub sign_type: Cow<'a, str>,
    pub sign: Cow<'a, str>,
    pub req_time: Cow<'a, str>,
    pub mch_no: Cow<'a, str>,
    pub app_id: Cow<'a, str>,
    pub mch_order_no: Cow<'a, str>,
    pub pay_order_id: Cow<'a, str>,
}

impl CloseRequest<'_> {
    /// Jeepay signs the bound request object: declared fields only, empty ones left out.
    pub fn verify(&self, secret: &str) -> bool {
        let mut fields: [(&str, &str); 7] = [
            ("version", &self.version),
            ("signType", &self.sign_type),
            ("reqTime", &self.req_time),
            ("mchNo", &self.mch_no),
            ("appId", &self.app_id),
            ("mchOrderNo", &self.mch_order_no),
            ("payOrderId", &self.pay_order_id),
        ];
        let mut n = 0;
        for i in 0..fields.len() {
            if sign::signable(fields[i].0, fields[i].1) {
                fields.swap(n, i);
                n += 1;
            }
        }
        sign::sign(&mut fields[..n], secret).matches(&self.sign)
    }

    /// Only `MD5` exists in this dialect (compared case-insensitively).
    pub fn sign_type_supported(&self) -> bool {
        self.sign_type.eq_ignore_ascii_case("MD5")
    }
}

/// A Jeepay answer body. HTTP status is 200 for all of them, as Jeepay does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `{"code":<code>,"data":{},"msg":"<msg>","sign":"<MD5 of key=secret>"}`.
    ClosedEmptyData {
        code: i64,
        msg: Arc<str>,
        sign: sign::Signature,
    },
    /// `{"code":<code>,"msg":"<msg>"}`.
    Error { code: i64, msg: String },
}

impl Reply {
    /// A success whose `data` is `{}`, signed with the caller's app secret.
    pub fn empty_success(code: i64, msg: impl Into<Arc<str>>, secret: &str) -> Reply {
        Reply::ClosedEmptyData {
            code,
            msg: msg.into(),
            sign: sign::sign(&mut [], secret),
        }
    }

    /// Compact JSON, keys in Jeepay's (alphabetical) order.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        // Writing into a Vec cannot fail.
        let _ = self.write_json(&mut out);
        out
    }

    /// [`Reply::to_json`] in one allocation of the exact size.
    pub fn to_bytes(&self) -> Bytes {
        json_bytes(|out| self.write_json(out))
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Reply::ClosedEmptyData { code, msg, sign } => {
                write!(out, "{{\"code\":{code},\"data\":{{}},\"msg\":")?;
                serde_json::to_writer(&mut *out, &**msg)?;
                write!(out, ",\"sign\":\"{}\"}}", sign.as_str())
            }
            Reply::Error { code, msg } => write_error(out, *code, msg),
        }
    }
}

/// `Reply::Error { code, msg: msg.to_string() }.to_bytes()`, without the two intermediate
/// `String`s when the message is short (every error paybridge writes itself is).
pub fn error_bytes(code: i64, msg: &dyn std::fmt::Display) -> Bytes {
    match StackText::<384>::format(format_args!("{msg}")) {
        Ok(text) => json_bytes(|out| write_error(out, code, text.as_str())),
        Err(text) => json_bytes(|out| write_error(out, code, &text)),
    }
}

fn write_error(out: &mut dyn Write, code: i64, msg: &str) -> io::Result<()> {
    write!(out, "{{\"code\":{code},\"msg\":")?;
    serde_json::to_writer(&mut *out, msg)?;
    out.write_all(b"}")
}

/// What `write` produces, rendered on the stack and copied out once (on the heap if too long).
fn json_bytes(write: impl Fn(&mut dyn Write) -> io::Result<()>) -> Bytes {
    let mut stack = StackText::<1024>::new();
    if write(&mut stack).is_ok() {
        return Bytes::copy_from_slice(stack.as_bytes());
    }
    let mut heap = Vec::with_capacity(2048);
    let _ = write(&mut heap);
    Bytes::from(heap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_and_booleans_bind_as_text() {
        let p = Params::read(
            true,
            None,
            br#"{"reqTime":1622016572190,"version":1.0,"mchNo":true,"x":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(text(&p.req_time), "1622016572190");
        assert_eq!(text(&p.version), "1.0");
        assert_eq!(text(&p.mch_no), "true");
    }

    #[test]
    fn objects_do_not_bind_to_declared_fields() {
        let err = Params::read(true, None, br#"{"mchNo":{"a":1}}"#).unwrap_err();
        assert!(matches!(err, GatewayError::Conversion(_)));
        assert!(Params::read(true, None, b"[1]").is_err());
        assert!(Params::read(true, None, br#"["1.0","MD5"]"#).is_err());
        assert!(Params::read(true, None, b"").is_err());
    }

    #[test]
    fn form_and_query_merge_and_refuse_duplicates() {
        let p = Params::read(false, Some("mchNo=M1&x=1"), b"appId=A%201&sign=s").unwrap();
        assert_eq!(text(&p.mch_no), "M1");
        assert_eq!(text(&p.app_id), "A 1");
        assert!(Params::read(false, Some("mchNo=M1"), b"mchNo=M2").is_err());
    }

    #[test]
    fn replies_render_like_jeepay() {
        let ok = Reply::empty_success(0, "SUCCESS", "EWEFD123RGSRETYDFNGFGFGSHDFGH");
        assert_eq!(
            String::from_utf8(ok.to_json()).unwrap(),
            r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
        );
        let err = Reply::Error {
            code: 9999,
            msg: "验签失败".into(),
        };
        assert_eq!(
            String::from_utf8(err.to_json()).unwrap(),
            r#"{"code":9999,"msg":"验签失败"}"#
        );
    }

    #[test]
    fn bytes_and_error_bytes_are_the_json_whatever_the_length() {
        for msg in [
            String::new(),
            "订单不存在".to_owned(),
            "quote \" backslash \\ newline \n control \u{1} del \u{7f}".to_owned(),
            "字".repeat(127),
            "字".repeat(128),
            "x".repeat(383),
            "x".repeat(384),
            "x".repeat(3000),
        ] {
            let error = Reply::Error {
                code: 9999,
                msg: msg.clone(),
            };
            assert_eq!(error.to_bytes(), error.to_json(), "{msg}");
            assert_eq!(error_bytes(9999, &msg), error.to_json(), "{msg}");
            let success = Reply::empty_success(200, msg.as_str(), "secret");
            assert_eq!(success.to_bytes(), success.to_json(), "{msg}");
        }
    }
}
