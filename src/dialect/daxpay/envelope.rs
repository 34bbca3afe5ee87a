//! DaxPay's request envelope, for every operation: signed with the caller's DaxPay identity.
//!
//! Sending: the version's identity fields, `nonceStr`, `reqTime` in the version's format, the
//! operation's own fields ([`super::ops`]), no empty strings, then `sign`.
//! Receiving is [`super::answer`]'s.

use std::borrow::Cow;

use time::OffsetDateTime;
use time::UtcOffset;

use super::sign::{Scheme, Version};
use crate::text::{ShortText, StackText};

/// Who calls DaxPay, and when: the identity and clock every request of one call is signed with.
/// Its `Debug` never shows the secret.
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

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("scheme", &self.scheme)
            .field("secret", &"***")
            .field("mch_no", &self.mch_no)
            .field("app_id", &self.app_id)
            .field("client_ip", &self.client_ip)
            .field("utc_offset", &self.utc_offset)
            .field("now", &self.now)
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// A value of an operation's own request field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Text(&'a str),
    Bool(bool),
    /// A JSON number, written and signed as this literal text.
    Number(&'a str),
    /// A JSON object, written as this text and signed as it (2.0's map `extraParam`, written
    /// the way DaxPay's signer renders it: see [`super::render::sorted_map`]).
    Json(&'a str),
}

/// An operation's own request fields, in the order they are written.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    items: [(&'static str, Option<Field<'a>>); 16],
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

    /// Adds a JSON number, written and signed as `literal`.
    pub fn number(mut self, key: &'static str, literal: &'a str) -> Self {
        self.push(key, Field::Number(literal));
        self
    }

    /// Adds a JSON object, written and signed as `json` (`None`: not sent).
    pub fn json(mut self, key: &'static str, json: Option<&'a str>) -> Self {
        if let Some(json) = json {
            self.push(key, Field::Json(json));
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
        // At most 21 fields (5 common, 16 of the operation): signed from the stack.
        let mut signed: [(&str, Cow<'_, str>); 21] = Default::default();
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
            Field::Text(t) | Field::Number(t) | Field::Json(t) => t,
            Field::Bool(true) => "true",
            Field::Bool(false) => "false",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::sign;
    use crate::dialect::daxpay::SignType;
    use serde_json::Value;

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
    fn the_secret_never_reaches_debug_output() {
        let caller = Caller {
            scheme: Scheme::new(Version::V2_0, SignType::Md5),
            secret: "dax_secret_Key123",
            mch_no: Some("M1"),
            app_id: None,
            client_ip: None,
            utc_offset: UtcOffset::UTC,
            now: OffsetDateTime::UNIX_EPOCH,
            nonce: "n",
        };
        for shown in [format!("{caller:?}"), format!("{caller:#?}")] {
            assert!(!shown.contains("dax_secret"), "{shown}");
            assert!(
                shown.contains("secret: \"***\"") && shown.contains("M1"),
                "{shown}"
            );
        }
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
}
