//! DaxPay's close/cancel request as paybridge sends it, and DaxPay's answer as paybridge checks it.
//!
//! Sending: only the fields the version declares, `useCancel` always explicit in 3.x (the server
//! signs its primitive default `false` when it is absent), no empty strings.
//! Receiving: a success counts only when its signature verifies; an unsigned error is still an
//! error (DaxPay answers pre-handler failures unsigned).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::UtcOffset;

use super::sign::{self, Scheme, Version};
use crate::text::{ShortText, StackText};

/// What to close, for whom, and how to sign it.
#[derive(Debug)]
pub struct CloseCall<'a> {
    pub scheme: Scheme,
    pub secret: &'a str,
    pub mch_no: Option<&'a str>,
    pub app_id: Option<&'a str>,
    /// The gateway's order number (`payOrderId` in Jeepay).
    pub order_no: Option<&'a str>,
    /// The merchant's order number (`mchOrderNo` in Jeepay).
    pub biz_order_no: Option<&'a str>,
    pub cancel: bool,
    pub client_ip: Option<&'a str>,
    pub utc_offset: UtcOffset,
    pub now: OffsetDateTime,
    pub nonce: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mch_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<&'a str>,
    nonce_str: &'a str,
    req_time: ReqTime<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_order_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    use_cancel: Option<bool>,
    sign: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ReqTime<'a> {
    Wall(&'a str),
    EpochSeconds(i64),
}

/// `yyyy-MM-dd HH:mm:ss` in the given offset, as DaxPay 3.x sends and expects `reqTime`.
pub fn wall_clock(now: OffsetDateTime, offset: UtcOffset) -> String {
    wall_clock_text(now, offset).as_str().to_owned()
}

/// 16 lower-case hex characters of fresh randomness.
///
/// The bytes come from the OS generator through [`crate::random`]'s per-thread pool (one system
/// call per 32 nonces rather than one per nonce); each byte is handed out once.
pub fn fresh_nonce() -> Nonce {
    let mut bytes = [0u8; 8];
    crate::random::fill(&mut bytes);
    let mut hex_out = [0u8; 16];
    // 8 bytes always fit 16 hex digits.
    let _ = hex::encode_to_slice(bytes, &mut hex_out);
    Nonce(hex_out)
}

/// A nonce from [`fresh_nonce`], held on the stack; it reads as the `&str` it is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; 16]);

impl Nonce {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for Nonce {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Nonce {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`wall_clock`] without the heap (digits written directly: this runs on every request).
fn wall_clock_text(now: OffsetDateTime, offset: UtcOffset) -> ShortText {
    let t = now.to_offset(offset);
    if let Ok(year @ 0..=9999) = u32::try_from(t.year()) {
        let mut digits = *b"0000-00-00 00:00:00";
        let mut put = |at: usize, value: u32, count: u32| {
            for i in 0..count {
                digits[at + i as usize] = b'0' + (value / 10u32.pow(count - 1 - i) % 10) as u8;
            }
        };
        put(0, year, 4);
        put(5, u32::from(u8::from(t.month())), 2);
        put(8, u32::from(t.day()), 2);
        put(11, u32::from(t.hour()), 2);
        put(14, u32::from(t.minute()), 2);
        put(17, u32::from(t.second()), 2);
        let mut out = StackText::new();
        out.push(&digits);
        return ShortText::Stack(out);
    }
    ShortText::format(format_args!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

impl CloseCall<'_> {
    /// The request path and JSON body for this call's version.
    pub fn encode(&self) -> (&'static str, Vec<u8>) {
        self.encode_for(false)
    }

    /// The `/unipay/query/payOrder` call for the same order (used to resolve unknown outcomes).
    pub fn encode_query(&self) -> (&'static str, Vec<u8>) {
        self.encode_for(true)
    }

    fn encode_for(&self, query: bool) -> (&'static str, Vec<u8>) {
        let version = self.scheme.version;
        let seconds = self.now.unix_timestamp();
        let req_time_text = match version {
            Version::V2_0 => ShortText::format(format_args!("{seconds}")),
            _ => wall_clock_text(self.now, self.utc_offset),
        };
        let req_time = match version {
            Version::V2_0 => ReqTime::EpochSeconds(seconds),
            _ => ReqTime::Wall(req_time_text.as_str()),
        };
        let (mch_no, app_id, mut use_cancel, mut path) = match version {
            Version::V3_0 => (self.mch_no, self.app_id, Some(self.cancel), "/unipay/close"),
            Version::V3_0Beta => (None, self.app_id, Some(self.cancel), "/unipay/close"),
            Version::V2_0 if self.cancel => (None, None, None, "/unipay/cancel"),
            Version::V2_0 => (None, None, None, "/unipay/close"),
        };
        if query {
            use_cancel = None;
            path = "/unipay/query/payOrder";
        }
        let order_no = non_empty(self.order_no);
        let biz_order_no = non_empty(self.biz_order_no);
        let client_ip = non_empty(self.client_ip);

        // At most 8 fields: signed from the stack.
        let mut fields: [(&str, Cow<'_, str>); 8] = Default::default();
        let mut n = 0;
        let optional = [
            ("mchNo", mch_no),
            ("appId", app_id),
            ("clientIp", client_ip),
            ("nonceStr", Some(self.nonce)),
            ("orderNo", order_no),
            ("bizOrderNo", biz_order_no),
            ("reqTime", Some(req_time_text.as_str())),
            (
                "useCancel",
                use_cancel.map(|c| if c { "true" } else { "false" }),
            ),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                fields[n] = (key, Cow::Borrowed(v));
                n += 1;
            }
        }
        let signature = self.scheme.signature(&mut fields[..n], self.secret);
        let signature = signature.as_str();
        let capacity =
            160 + fields[..n].iter().map(|(_, v)| v.len()).sum::<usize>() + signature.len();

        let body = CloseBody {
            mch_no,
            app_id,
            client_ip,
            nonce_str: self.nonce,
            req_time,
            order_no,
            biz_order_no,
            use_cancel,
            sign: signature,
        };
        let mut out = Vec::with_capacity(capacity);
        // Serialising plain strings, numbers and booleans into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &body);
        (path, out)
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.is_empty())
}

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

/// Why an answer cannot be believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("answer is not a DaxPay JSON envelope: {0}")]
    Malformed(String),
    #[error("success answer carries no signature")]
    UnsignedSuccess,
    #[error("answer signature does not verify")]
    BadSignature,
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

/// Checks an answer body from a DaxPay upstream signing with `scheme` and `secret`.
pub fn read_answer(scheme: &Scheme, secret: &str, body: &[u8]) -> Result<Answer, AnswerError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| AnswerError::Malformed(e.to_string()))?;
    match scheme.version {
        Version::V3_0 | Version::V3_0Beta => read_envelope_signed(scheme, secret, envelope),
        Version::V2_0 => read_data_signed(scheme, secret, envelope),
    }
}

fn owned(text: Option<Str<'_>>) -> Option<String> {
    text.map(|t| t.0.into_owned())
}

fn read_envelope_signed(
    scheme: &Scheme,
    secret: &str,
    e: Envelope<'_>,
) -> Result<Answer, AnswerError> {
    let Some(given) = e.sign.as_deref().filter(|s| !s.is_empty()) else {
        return if e.code == 0 {
            Err(AnswerError::UnsignedSuccess)
        } else {
            Ok(refused(
                e.code,
                owned(e.msg).unwrap_or_default(),
                false,
                owned(e.trace_id),
            ))
        };
    };
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
        return Err(AnswerError::BadSignature);
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

fn read_data_signed(scheme: &Scheme, secret: &str, e: Envelope<'_>) -> Result<Answer, AnswerError> {
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
        return Err(AnswerError::UnsignedSuccess);
    };
    let code = data
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| AnswerError::Malformed("data.code is not a number".to_owned()))?;
    let msg = data.get("msg").and_then(Value::as_str).unwrap_or_default();
    let Some(given) = data
        .get("sign")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return if code == 0 {
            Err(AnswerError::UnsignedSuccess)
        } else {
            Ok(refused(code, msg.to_owned(), false, trace_id))
        };
    };
    // 2.0 signs its result model inside `data`: every non-null field but `sign`.
    let mut fields = sign::fields_of(&data);
    if !scheme.verify(&mut fields, secret, given) {
        return Err(AnswerError::BadSignature);
    }
    drop(fields);
    Ok(if code == 0 {
        Answer::Done {
            trace_id,
            data: Value::Object(data),
        }
    } else {
        let msg = msg.to_owned();
        refused(code, msg, true, trace_id)
    })
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

    fn call(version: Version, cancel: bool) -> (&'static str, Value) {
        let c = CloseCall {
            scheme: Scheme::new(version, SignType::HmacSha256),
            secret: "dax_secret_Key123",
            mch_no: Some("M1"),
            app_id: Some("A1"),
            order_no: Some("O1"),
            biz_order_no: Some(""),
            cancel,
            client_ip: None,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
            now: OffsetDateTime::from_unix_timestamp(1_756_180_800).unwrap(),
            nonce: "a8f5f167f44f4964",
        };
        let (path, body) = c.encode();
        (path, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn version_3_sends_identity_and_explicit_use_cancel() {
        let (path, v) = call(Version::V3_0, false);
        assert_eq!(path, "/unipay/close");
        assert_eq!(v["mchNo"], "M1");
        assert_eq!(v["appId"], "A1");
        assert_eq!(v["useCancel"], false);
        assert_eq!(v["reqTime"], "2025-08-26 12:00:00");
        assert!(
            v.get("bizOrderNo").is_none(),
            "empty strings are never sent"
        );
        assert!(v.get("clientIp").is_none());
    }

    #[test]
    fn beta_sends_app_only_and_2_0_cancels_on_its_own_path() {
        let (_, v) = call(Version::V3_0Beta, true);
        assert!(v.get("mchNo").is_none());
        assert_eq!(v["useCancel"], true);
        let (path, v) = call(Version::V2_0, true);
        assert_eq!(path, "/unipay/cancel");
        assert_eq!(v["reqTime"], 1_756_180_800);
        assert!(v.get("useCancel").is_none() && v.get("appId").is_none());
    }

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

    #[test]
    fn nonces_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            assert!(seen.insert(fresh_nonce().as_str().to_owned()));
        }
    }

    #[test]
    fn nonce_and_clock_read_as_text() {
        let nonce = fresh_nonce();
        assert_eq!(nonce.len(), 16);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let t = OffsetDateTime::from_unix_timestamp(1_756_180_800).unwrap();
        assert_eq!(
            wall_clock(t, UtcOffset::from_hms(8, 0, 0).unwrap()),
            "2025-08-26 12:00:00"
        );
        for (secs, expected) in [
            (0, "1970-01-01 00:00:00"),
            (951_868_799, "2000-02-29 23:59:59"),
            (253_402_300_799, "9999-12-31 23:59:59"),
            (-62_135_596_800, "0001-01-01 00:00:00"),
            (-62_198_755_200, "-001-01-01 00:00:00"),
        ] {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            assert_eq!(wall_clock(t, UtcOffset::UTC), expected, "{secs}");
        }
        assert_eq!(
            ShortText::format(format_args!("{}", "x".repeat(40))).as_str(),
            "x".repeat(40)
        );
    }

    #[test]
    fn unsigned_success_is_never_believed() {
        let scheme = Scheme::new(Version::V3_0, SignType::Md5);
        let body =
            br#"{"code":0,"msg":"success","data":null,"sign":null,"resTime":null,"traceId":"t"}"#;
        assert_eq!(
            read_answer(&scheme, "k", body),
            Err(AnswerError::UnsignedSuccess)
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
