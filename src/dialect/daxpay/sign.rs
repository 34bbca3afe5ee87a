//! DaxPay's `PaySignUtil`, for the three shared-secret wire versions and three digests.
//!
//! Keys sorted by Java `String` order (UTF-16 code units), joined `k=v&k=v`, every `"` and `\`
//! removed, `&key=<secret>` appended, the whole string upper-cased for version `3.0`, then
//! MD5 / HMAC-SHA256 / SM3 into lower-case hex. Values are rendered by [`render`] (see
//! [`super::render`]).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use sm3::Sm3;
use subtle::ConstantTimeEq;

pub use super::render::{fields_of, render};

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
        self.signature(fields, secret).as_str().to_owned()
    }

    /// [`Scheme::sign`] without building the string to sign or the hex text on the heap: the
    /// pieces are fed to the digest as they are produced (upper-cased on the fly for `3.0`).
    pub fn signature(&self, fields: &mut [(&str, Cow<'_, str>)], secret: &str) -> HexDigest {
        fields.sort_by(|a, b| java_string_order(a.0, b.0));
        let mut sink = Sink::new(Hasher::new(self, secret), self.version.upper_cases());
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                sink.put("&");
            }
            sink.put_stripped(key);
            sink.put("=");
            sink.put_stripped(value);
        }
        sink.put("&key=");
        sink.put(secret);
        sink.finish()
    }

    /// Case-sensitive, constant-time check of a received signature, as DaxPay's server does it.
    pub fn verify(&self, fields: &mut [(&str, Cow<'_, str>)], secret: &str, given: &str) -> bool {
        let expected = self.signature(fields, secret);
        let expected = expected.as_bytes();
        expected.len() == given.len() && bool::from(expected.ct_eq(given.as_bytes()))
    }

    /// Lower-case hex digest of a complete string to sign.
    pub fn digest(&self, string_to_sign: &str, secret: &str) -> String {
        let mut hasher = Hasher::new(self, secret);
        hasher.update(string_to_sign.as_bytes());
        hasher.finish().as_str().to_owned()
    }
}

/// A lower-case hex digest held on the stack: 32 characters (MD5) or 64 (HMAC-SHA256, SM3).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexDigest {
    hex: [u8; 64],
    len: u8,
}

impl HexDigest {
    fn of(bytes: &[u8]) -> Self {
        let mut hex = [0u8; 64];
        let len = (bytes.len() * 2).min(hex.len());
        // The three digests are 16 or 32 bytes: they always fit.
        let _ = hex::encode_to_slice(&bytes[..len / 2], &mut hex[..len]);
        HexDigest {
            hex,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.hex[..usize::from(self.len)]
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the three digests, fed incrementally.
enum Hasher {
    Md5(Md5),
    Sm3(Sm3),
    HmacSha256(hmac::Hmac<Sha256>),
}

impl Hasher {
    fn new(scheme: &Scheme, secret: &str) -> Self {
        match scheme.sign_type {
            SignType::Md5 => Hasher::Md5(Md5::new()),
            SignType::Sm3 if scheme.sm3_is_md5 => Hasher::Md5(Md5::new()),
            SignType::Sm3 => Hasher::Sm3(Sm3::new()),
            // HMAC accepts keys of any length; the key is the original-case secret.
            SignType::HmacSha256 => Hasher::HmacSha256(
                <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes a key of any length"),
            ),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => Digest::update(h, bytes),
            Hasher::Sm3(h) => Digest::update(h, bytes),
            Hasher::HmacSha256(h) => Mac::update(h, bytes),
        }
    }

    fn finish(self) -> HexDigest {
        match self {
            Hasher::Md5(h) => HexDigest::of(&h.finalize()),
            Hasher::Sm3(h) => HexDigest::of(&h.finalize()),
            Hasher::HmacSha256(h) => HexDigest::of(&h.finalize().into_bytes()),
        }
    }
}

/// Feeds the string to sign to the digest, exactly as [`string_to_sign`] builds it, through a
/// stack buffer: one digest update per 256 bytes rather than one per piece.
struct Sink {
    hasher: Hasher,
    upper: bool,
    buf: [u8; 256],
    used: usize,
}

impl Sink {
    fn new(hasher: Hasher, upper: bool) -> Self {
        Sink {
            hasher,
            upper,
            buf: [0u8; 256],
            used: 0,
        }
    }

    /// `s` with every `"` and `\` removed.
    fn put_stripped(&mut self, s: &str) {
        if !s.as_bytes().iter().any(|b| matches!(b, b'"' | b'\\')) {
            self.put(s);
            return;
        }
        for part in s.split(['"', '\\']) {
            self.put(part);
        }
    }

    /// `s`, upper-cased for `3.0`. `str::to_uppercase` maps each character on its own, so
    /// upper-casing piece by piece gives the bytes upper-casing the whole string gives.
    fn put(&mut self, s: &str) {
        if !self.upper || s.is_ascii() {
            let mut bytes = s.as_bytes();
            while !bytes.is_empty() {
                if self.used == self.buf.len() {
                    self.flush();
                }
                let n = bytes.len().min(self.buf.len() - self.used);
                let dst = &mut self.buf[self.used..self.used + n];
                dst.copy_from_slice(&bytes[..n]);
                if self.upper {
                    dst.make_ascii_uppercase();
                }
                self.used += n;
                bytes = &bytes[n..];
            }
            return;
        }
        for c in s.chars() {
            // A character upper-cases to at most three, each at most four bytes.
            if self.used + 12 > self.buf.len() {
                self.flush();
            }
            if caseless(c) {
                self.used += c.encode_utf8(&mut self.buf[self.used..]).len();
                continue;
            }
            for u in c.to_uppercase() {
                self.used += u.encode_utf8(&mut self.buf[self.used..]).len();
            }
        }
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.used]);
        self.used = 0;
    }

    fn finish(mut self) -> HexDigest {
        self.flush();
        self.hasher.finish()
    }
}

/// Characters of the CJK and Hangul blocks, which have no case: DaxPay's messages are Chinese,
/// and looking each one up in the Unicode case tables is the slow part of upper-casing them.
fn caseless(c: char) -> bool {
    matches!(u32::from(c), 0x2E80..=0x9FFF | 0xAC00..=0xD7A3)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn streamed_signature_is_the_digest_of_the_string_to_sign() {
        let values = [
            "plain",
            "MiXeD-Case_09",
            "x\"y\\z",
            "",
            "straße ǆ ﬁ 支付",
            "ŉ and ΐ upper-case to several characters",
            &"long 长 value ".repeat(40),
        ];
        for version in Version::ALL {
            for sign_type in SignType::ALL {
                for sm3_is_md5 in [false, true] {
                    let scheme = Scheme {
                        version,
                        sign_type,
                        sm3_is_md5,
                    };
                    for (i, value) in values.iter().enumerate() {
                        let secret = format!("sEcret-ß-{i}");
                        let mut fields = vec![
                            ("orderNo", Cow::Borrowed(*value)),
                            ("appId", Cow::Borrowed("A\"1")),
                            ("ß", Cow::Borrowed(values[(i + 1) % values.len()])),
                        ];
                        let expected =
                            scheme.digest(&string_to_sign(version, &mut fields, &secret), &secret);
                        assert_eq!(
                            scheme.sign(&mut fields, &secret),
                            expected,
                            "{scheme:?} {value}"
                        );
                        assert!(scheme.verify(&mut fields, &secret, &expected));
                    }
                }
            }
        }
    }

    #[test]
    fn caseless_characters_really_have_no_upper_case() {
        for c in (0x2E80..=0x9FFF)
            .chain(0xAC00..=0xD7A3)
            .filter_map(char::from_u32)
        {
            assert!(caseless(c));
            assert_eq!(c.to_uppercase().collect::<String>(), c.to_string(), "{c}");
        }
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
