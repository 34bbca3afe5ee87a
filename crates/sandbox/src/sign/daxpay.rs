//! DaxPay's signature: keys sorted by Java `String` order (UTF-16 code units), joined
//! `k=v&k=v`, every `"` and `\` removed, `&key=<secret>` appended, the whole string upper-cased
//! for version `3.0`, then MD5 / HMAC-SHA256 (keyed with the original-case secret) / SM3 into
//! lower-case hex.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use sha2::Sha256;
use sm3::Sm3;

/// The DaxPay wire versions the sandbox can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// 3.0.0: `mchNo` + `appId`, the whole sign string upper-cased.
    V3_0,
    /// 3.0.0-beta: `appId` only, the sign string as is.
    V3_0Beta,
    /// 2.0.x: one platform secret, epoch-second `reqTime`, the signature inside `data`.
    V2_0,
}

impl Version {
    pub const ALL: [Version; 3] = [Version::V3_0, Version::V3_0Beta, Version::V2_0];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3_0 => "3.0",
            Version::V3_0Beta => "3.0-beta",
            Version::V2_0 => "2.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown DaxPay version `{s}` (expected 3.0, 3.0-beta or 2.0)"))
    }
}

/// The digest an app (or the 2.0 platform) signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignType {
    Md5,
    HmacSha256,
    Sm3,
}

impl SignType {
    pub const ALL: [SignType; 3] = [SignType::Md5, SignType::HmacSha256, SignType::Sm3];

    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "md5",
            SignType::HmacSha256 => "hmac_sha256",
            SignType::Sm3 => "sm3",
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown sign type `{s}` (expected md5, hmac_sha256 or sm3)"))
    }
}

/// How one app signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub version: Version,
    pub sign_type: SignType,
    /// A 3.0.0 server configured for `sm3` really computes MD5.
    pub sm3_is_md5: bool,
}

impl Scheme {
    pub fn new(version: Version, sign_type: SignType) -> Self {
        Scheme {
            version,
            sign_type,
            sm3_is_md5: false,
        }
    }

    /// The exact string digested for `fields` (`sign` and nulls already left out).
    pub fn string_to_sign(&self, fields: &[(&str, Cow<'_, str>)], secret: &str) -> String {
        let mut sorted: Vec<&(&str, Cow<'_, str>)> = fields.iter().collect();
        sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        let joined = sorted
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut s: String = joined
            .chars()
            .filter(|c| !matches!(c, '"' | '\\'))
            .collect();
        s.push_str("&key=");
        s.push_str(secret);
        if self.version == Version::V3_0 {
            s = s.to_uppercase();
        }
        s
    }

    /// Lower-case hex signature of `fields`.
    pub fn sign(&self, fields: &[(&str, Cow<'_, str>)], secret: &str) -> String {
        self.digest(&self.string_to_sign(fields, secret), secret)
    }

    /// Case-sensitive check of a received signature, as DaxPay's server compares.
    pub fn verify(&self, fields: &[(&str, Cow<'_, str>)], secret: &str, given: &str) -> bool {
        let expected = self.sign(fields, secret);
        expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Lower-case hex digest of a complete string to sign.
    pub fn digest(&self, string_to_sign: &str, secret: &str) -> String {
        let bytes = string_to_sign.as_bytes();
        match self.sign_type {
            SignType::Md5 => hex::encode(Md5::digest(bytes)),
            SignType::Sm3 if self.sm3_is_md5 => hex::encode(Md5::digest(bytes)),
            SignType::Sm3 => hex::encode(Sm3::digest(bytes)),
            SignType::HmacSha256 => {
                // HMAC takes a key of any length, so this never fails.
                match <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
                    Ok(mut mac) => {
                        mac.update(bytes);
                        hex::encode(mac.finalize().into_bytes())
                    }
                    Err(_) => String::new(),
                }
            }
        }
    }
}

/// A JSON value as it goes into the sign string; `None` for null (left out).
pub fn render(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(strip_decimal(&n.to_string()))),
        nested => Some(Cow::Owned(without_nulls(nested).to_string())),
    }
}

/// The signable fields of a JSON object: all but `sign` and nulls.
pub fn fields_of(object: &Map<String, Value>) -> Vec<(&str, Cow<'_, str>)> {
    object
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .filter_map(|(k, v)| render(v).map(|v| (k.as_str(), v)))
        .collect()
}

/// `BigDecimal.stripTrailingZeros().toPlainString()` for a plain decimal (`12.3000` → `12.3`,
/// `100.00` → `100`); integers and exponent forms are returned as written.
pub fn strip_decimal(text: &str) -> String {
    if !text.contains('.') || text.contains(['e', 'E']) {
        return text.to_owned();
    }
    let stripped = text.trim_end_matches('0').trim_end_matches('.');
    match stripped {
        "" | "-" | "-0" => "0".to_owned(),
        other => other.to_owned(),
    }
}

/// Nested objects lose their null members (keys come out sorted: serde_json's map is ordered).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
