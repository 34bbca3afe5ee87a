//! DaxPay's `PaySignUtil`, for the three shared-secret wire versions and three digests.
//!
//! Keys sorted by Java `String` order (UTF-16 code units), joined `k=v&k=v`, every `"` and `\`
//! removed, `&key=<secret>` appended, the whole string upper-cased for version `3.0`, then
//! MD5 / HMAC-SHA256 / SM3 into lower-case hex. Values are rendered by [`render`].

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha2::Sha256;
use sm3::Sm3;
use subtle::ConstantTimeEq;

/// The DaxPay wire versions paybridge speaks; they differ byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// 3.0.0: `mchNo` + `appId`, whole sign string upper-cased, signed response envelope.
    V3_0,
    /// 3.0.0-beta1..4: `appId` only, sign string unchanged.
    V3_0Beta,
    /// 2.0.x: one platform secret, `reqTime` in epoch seconds, signature inside `data`.
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

    fn upper_cases(self) -> bool {
        self == Version::V3_0
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

/// The digest a DaxPay app (or 2.0 platform) is configured with.
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

/// How to sign for one DaxPay peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub version: Version,
    pub sign_type: SignType,
    /// A 3.0.0 server configured for `sm3` really computes MD5 (requests and responses alike).
    /// When set, `sm3` is digested as MD5 to interoperate with such a server.
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

    /// The signature of `fields` (sorted in place; `sign` and nulls already left out).
    pub fn sign(&self, fields: &mut [(&str, Cow<'_, str>)], secret: &str) -> String {
        self.digest(&string_to_sign(self.version, fields, secret), secret)
    }

    /// Case-sensitive, constant-time check of a received signature, as DaxPay's server does it.
    pub fn verify(&self, fields: &mut [(&str, Cow<'_, str>)], secret: &str, given: &str) -> bool {
        let expected = self.sign(fields, secret);
        expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
    }

    /// Lower-case hex digest of a complete string to sign.
    pub fn digest(&self, string_to_sign: &str, secret: &str) -> String {
        let bytes = string_to_sign.as_bytes();
        match self.sign_type {
            SignType::Md5 => hex::encode(Md5::digest(bytes)),
            SignType::Sm3 if self.sm3_is_md5 => hex::encode(Md5::digest(bytes)),
            SignType::Sm3 => hex::encode(Sm3::digest(bytes)),
            SignType::HmacSha256 => {
                // HMAC accepts keys of any length; the key is the original-case secret.
                let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(bytes);
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }
}

/// The payload before the secret: fields sorted, joined, quotes and backslashes removed.
/// Not upper-cased (see [`string_to_sign`]).
pub fn payload(fields: &mut [(&str, Cow<'_, str>)]) -> String {
    fields.sort_by(|a, b| java_string_order(a.0, b.0));
    let mut out = String::with_capacity(256);
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_stripped(&mut out, key);
        out.push('=');
        push_stripped(&mut out, value);
    }
    out
}

/// The exact string DaxPay digests for `version`.
pub fn string_to_sign(
    version: Version,
    fields: &mut [(&str, Cow<'_, str>)],
    secret: &str,
) -> String {
    let mut s = payload(fields);
    s.push_str("&key=");
    s.push_str(secret);
    if version.upper_cases() {
        s = s.to_uppercase();
    }
    s
}

/// [`string_to_sign`] with the secret replaced by `***`, for humans.
pub fn string_to_sign_masked(version: Version, fields: &mut [(&str, Cow<'_, str>)]) -> String {
    let mut s = payload(fields);
    s.push_str("&key=");
    if version.upper_cases() {
        s = s.to_uppercase();
    }
    s.push_str("***");
    s
}

fn push_stripped(out: &mut String, s: &str) {
    if s.contains(['"', '\\']) {
        out.extend(s.chars().filter(|c| !matches!(c, '"' | '\\')));
    } else {
        out.push_str(s);
    }
}

/// Java's `String.compareTo`: UTF-16 code units, not bytes.
fn java_string_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// A JSON value as DaxPay renders it into the sign string; `None` for null (left out).
pub fn render(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(plain_decimal(&n.to_string()))),
        nested => Some(Cow::Owned(compact_without_nulls(nested))),
    }
}

/// Collects the signable fields of a JSON object: everything but `sign` and nulls.
pub fn fields_of(object: &serde_json::Map<String, Value>) -> Vec<(&str, Cow<'_, str>)> {
    object
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .filter_map(|(k, v)| render(v).map(|v| (k.as_str(), v)))
        .collect()
}

/// `BigDecimal.stripTrailingZeros().toPlainString()` for decimals; integers unchanged.
fn plain_decimal(text: &str) -> String {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    if exponent == 0 && !mantissa.contains('.') {
        return mantissa.to_owned();
    }
    let (negative, digits_part) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let (int_part, frac_part) = digits_part.split_once('.').unwrap_or((digits_part, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // value = digits * 10^(point - digits.len()), with the point after `point` digits.
    let point = int_part.len() as i64 + exponent;
    let digits = digits.trim_start_matches('0');
    let leading_zeros_removed = (int_part.len() + frac_part.len() - digits.len()) as i64;
    let point = point - leading_zeros_removed;
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return "0".to_owned();
    }
    let len = digits.len() as i64;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(digits);
    } else if point >= len {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (point - len) as usize));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// A nested object or array as compact JSON, nulls dropped from objects, object keys sorted.
fn compact_without_nulls(value: &Value) -> String {
    fn clean(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> =
                    map.iter().filter(|(_, v)| !v.is_null()).collect();
                entries.sort_by(|a, b| java_string_order(a.0, b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), clean(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(clean).collect()),
            other => other.clone(),
        }
    }
    clean(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_lose_trailing_zeros() {
        assert_eq!(plain_decimal("0.10"), "0.1");
        assert_eq!(plain_decimal("1.00"), "1");
        assert_eq!(plain_decimal("100"), "100");
        assert_eq!(plain_decimal("-2.500"), "-2.5");
        assert_eq!(plain_decimal("0.000"), "0");
        assert_eq!(plain_decimal("1e2"), "100");
        assert_eq!(plain_decimal("1.5E-3"), "0.0015");
        assert_eq!(plain_decimal("0.05"), "0.05");
    }

    #[test]
    fn quotes_and_backslashes_vanish_and_empty_strings_stay() {
        let mut fields = vec![("b", Cow::Borrowed("x\"y\\z")), ("a", Cow::Borrowed(""))];
        assert_eq!(
            string_to_sign(Version::V2_0, &mut fields, "K"),
            "a=&b=xyz&key=K"
        );
    }

    #[test]
    fn version_3_upper_cases_the_secret_too() {
        let mut fields = vec![("k", Cow::Borrowed("v"))];
        assert_eq!(
            string_to_sign(Version::V3_0, &mut fields, "sEc"),
            "K=V&KEY=SEC"
        );
        assert_eq!(
            string_to_sign_masked(Version::V3_0, &mut fields),
            "K=V&KEY=***"
        );
    }

    #[test]
    fn nested_objects_are_sorted_compact_json_without_nulls() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":null,"c":{"z":"q","y":2}}"#).unwrap();
        assert_eq!(render(&v).unwrap(), r#"{"b":1,"c":{"y":2,"z":"q"}}"#);
    }

    #[test]
    fn verification_is_case_sensitive() {
        let scheme = Scheme::new(Version::V2_0, SignType::Md5);
        let mut fields = vec![("a", Cow::Borrowed("1"))];
        let sig = scheme.sign(&mut fields, "k");
        assert!(scheme.verify(&mut fields, "k", &sig));
        assert!(!scheme.verify(&mut fields, "k", &sig.to_uppercase()));
        assert!(!scheme.verify(&mut fields, "other", &sig));
    }
}
