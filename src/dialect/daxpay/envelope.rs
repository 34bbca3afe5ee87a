//! DaxPay's envelope, for every operation: a request signed with the caller's DaxPay identity,
//! and an answer checked before anything in it is believed.
//!
//! Sending: the version's identity fields, `nonceStr`, `reqTime` in the version's format, the
//! operation's own fields ([`super::ops`]), no empty strings, then `sign`.
//! Receiving: a success counts only when its signature verifies; an unsigned error is still an
//! error (DaxPay answers pre-handler failures unsigned). A non-null `data` is verified from the
//! JSON as received (its key order kept: see [`super::sign::render`]), never by re-serialising a
//! model that may lack fields.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::UtcOffset;

use super::sign::{self, Scheme, Version};
use crate::domain::AnswerFault;
use crate::text::{ShortText, StackText};

/// Who calls DaxPay, and when: the identity and clock every request of one call is signed with.
#[derive(Debug)]
pub struct Caller<'a> {
    pub scheme: Scheme,
    pub secret: &'a str,
    pub mch_no: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub utc_offset: UtcOffset,
    pub now: OffsetDateTime,
    pub nonce: &'a str,
}

/// A value of an operation's own request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Text(&'a str),
    Bool(bool),
    /// A JSON number, written and signed as this literal text.
    Number(&'a str),
}

/// An operation's own request fields, in the order they are written.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    items: [(&'static str, Option<Field<'a>>); 8],
    len: usize,
}

impl<'a> Fields<'a> {
    /// Adds a text field; `None` and empty strings are not sent (DaxPay would look `""` up).
    pub fn text(mut self, key: &'static str, value: Option<&'a str>) -> Self {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.push(key, Field::Text(v));
        }
        self
    }

    pub fn bool(mut self, key: &'static str, value: bool) -> Self {
        self.push(key, Field::Bool(value));
        self
    }

    fn push(&mut self, key: &'static str, value: Field<'a>) {
        // Operations declare a handful of fields; more would be a programming error, dropped.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = (key, Some(value));
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Field<'a>)> + '_ {
        self.items[..self.len]
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
    }

    /// The text of a field, if it is sent.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
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

impl Caller<'_> {
    /// The JSON body of a request with the operation's `fields`, signed.
    pub fn encode(&self, fields: &Fields<'_>) -> Vec<u8> {
        let version = self.scheme.version;
        let req_time_text = match version {
            Version::V2_0 => ShortText::format(format_args!("{}", self.now.unix_timestamp())),
            _ => wall_clock_text(self.now, self.utc_offset),
        };
        let req_time = match version {
            // 2.0 sends epoch seconds as a JSON number.
            Version::V2_0 => Field::Number(req_time_text.as_str()),
            _ => Field::Text(req_time_text.as_str()),
        };
        let (mch_no, app_id) = match version {
            Version::V3_0 => (self.mch_no, self.app_id),
            Version::V3_0Beta => (None, self.app_id),
            Version::V2_0 => (None, None),
        };
        let common = Fields::default()
            .text("mchNo", mch_no)
            .text("appId", app_id)
            .text("clientIp", self.client_ip)
            .text("nonceStr", Some(self.nonce));
        let all = || {
            common
                .iter()
                .chain(std::iter::once(("reqTime", req_time)))
                .chain(fields.iter())
        };
        // At most 13 fields: signed from the stack.
        let mut signed: [(&str, Cow<'_, str>); 13] = Default::default();
        let mut n = 0;
        for (key, value) in all().take(signed.len()) {
            signed[n] = (key, Cow::Borrowed(value.text()));
            n += 1;
        }
        let signature = self.scheme.signature(&mut signed[..n], self.secret);
        let capacity = 160
            + signed[..n].iter().map(|(_, v)| v.len()).sum::<usize>()
            + signature.as_bytes().len();

        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        for (key, value) in all().chain(std::iter::once(("sign", Field::Text(signature.as_str()))))
        {
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                // Serialising a string into a Vec cannot fail.
                Field::Text(t) => drop(serde_json::to_writer(&mut out, t)),
                other => out.extend_from_slice(other.text().as_bytes()),
            }
        }
        out.push(b'}');
        out
    }
}

impl<'a> Field<'a> {
    /// The value as it is signed.
    pub fn text(self) -> &'a str {
        match self {
            Field::Text(t) | Field::Number(t) => t,
            Field::Bool(true) => "true",
            Field::Bool(false) => "false",
        }
    }
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
pub fn read_answer(scheme: &Scheme, secret: &str, body: &[u8]) -> Result<Answer, AnswerFault> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| AnswerFault::Malformed(e.to_string()))?;
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

fn read_data_signed(scheme: &Scheme, secret: &str, e: Envelope<'_>) -> Result<Answer, AnswerFault> {
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
    // 2.0 signs its result model inside `data`: every non-null field but `sign`.
    let mut fields = sign::fields_of(&data);
    if !scheme.verify(&mut fields, secret, given) {
        return Err(AnswerFault::BadSignature);
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

    fn encode(version: Version, fields: &Fields<'_>) -> Value {
        let caller = Caller {
            scheme: Scheme::new(version, SignType::HmacSha256),
            secret: "dax_secret_Key123",
            mch_no: Some("M1"),
            app_id: Some("A1"),
            client_ip: Some(""),
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
            now: OffsetDateTime::from_unix_timestamp(1_756_180_800).unwrap(),
            nonce: "a8f5f167f44f4964",
        };
        serde_json::from_slice(&caller.encode(fields)).unwrap()
    }

    #[test]
    fn each_version_sends_its_identity_and_clock() {
        let fields = Fields::default()
            .text("orderNo", Some("O1"))
            .text("bizOrderNo", Some(""))
            .bool("useCancel", false);
        let v = encode(Version::V3_0, &fields);
        assert_eq!(v["mchNo"], "M1");
        assert_eq!(v["appId"], "A1");
        assert_eq!(v["useCancel"], false);
        assert_eq!(v["reqTime"], "2025-08-26 12:00:00");
        assert!(
            v.get("bizOrderNo").is_none(),
            "empty strings are never sent"
        );
        assert!(v.get("clientIp").is_none());
        let v = encode(Version::V3_0Beta, &fields);
        assert!(v.get("mchNo").is_none());
        assert_eq!(v["appId"], "A1");
        let v = encode(Version::V2_0, &fields);
        assert_eq!(v["reqTime"], 1_756_180_800);
        assert!(v.get("appId").is_none() && v.get("mchNo").is_none());
    }

    #[test]
    fn the_signature_covers_what_is_sent() {
        for version in Version::ALL {
            let fields = Fields::default()
                .text("orderNo", Some("O\"1"))
                .bool("useCancel", true);
            let v = encode(version, &fields);
            let object = v.as_object().unwrap();
            let mut signed = sign::fields_of(object);
            let scheme = Scheme::new(version, SignType::HmacSha256);
            assert!(
                scheme.verify(
                    &mut signed,
                    "dax_secret_Key123",
                    v["sign"].as_str().unwrap()
                ),
                "{version}"
            );
        }
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
