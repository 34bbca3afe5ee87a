//! epay's two signatures, byte for byte as the gateway computes them (epay.md §4, §5).
//!
//! - **MD5** (V1, and V2 when `sign_type` is not `RSA`): *every* received parameter but `sign`,
//!   `sign_type` and empty values ([`signable`]), keys in byte order, `k=v` joined by `&` with raw
//!   values, the key appended with no separator, `md5` as 32 lower-case hex digits, compared
//!   exactly (case-sensitive) and here in constant time.
//! - **RSA** (V2): the same string (build 3094's filter; `timestamp` is an ordinary parameter),
//!   RSASSA-PKCS1-v1_5 with SHA-256, standard base64. Requests are verified with the merchant's
//!   public key as epay stores it (base64 of the X.509 SubjectPublicKeyInfo DER); answers and
//!   notifications are signed with the platform key (base64 of the PKCS#8 DER). A value holding
//!   PEM armour is read as PEM, as epay's `base64ToPem` uses such a value unchanged.
//! - The V2 **timestamp**: Unix seconds within ±300 s of now, both ends included.
//!
//! Keys never show in `Debug` output: the types holding them print only their size.

use std::fmt;

use base64ct::{Base64, Encoding};
use md5::{Digest, Md5};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature as RsaSignature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Which values a gateway build leaves out of the string, beyond `sign`, `sign_type` and `""`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Build 3094 and later (`isEmpty`): whitespace-only values are left out too. The RSA rule
    /// always uses this filter.
    #[default]
    Build3094,
    /// Build 3065, SDK1 and SDK0 (`$v != ''`): a whitespace-only value such as `" "` is signed.
    Build3065,
}

/// PHP's `trim` set: what build 3094 treats as blank.
fn php_blank(value: &str) -> bool {
    value
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0B))
}

/// Whether a received parameter takes part in the string to sign.
pub fn signable(key: &str, value: &str, filter: Filter) -> bool {
    if key == "sign" || key == "sign_type" || value.is_empty() {
        return false;
    }
    match filter {
        Filter::Build3094 => !php_blank(value),
        Filter::Build3065 => true,
    }
}

/// The string to sign (without the key): the signable parameters sorted by key bytes (PHP `ksort`
/// for every name that is not all digits), `k=v` joined by `&`, values raw. `params` holds each
/// name once, as PHP's parameter map does (the last of repeated names wins there).
pub fn string_to_sign(params: &[(&str, &str)], filter: Filter) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(k, v)| signable(k, v, filter))
        .collect();
    kept.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (key, value)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A lower-case hex MD5 signature: always 32 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Md5Signature([u8; 32]);

impl Md5Signature {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// epay compares with `===`: exact, so upper-case hex does not match; here in constant time.
    pub fn matches(&self, given: &str) -> bool {
        given.len() == self.0.len() && bool::from(self.0.ct_eq(given.as_bytes()))
    }
}

impl fmt::Debug for Md5Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Md5Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `md5(string + key)`, lower-case hex. An empty string signs `md5(key)`.
pub fn md5_sign(string: &str, key: &str) -> Md5Signature {
    let mut hasher = Md5::new();
    hasher.update(string.as_bytes());
    hasher.update(key.as_bytes());
    let mut hex = [0u8; 32];
    // Encoding 16 bytes into 32 cannot fail.
    let _ = hex::encode_to_slice(hasher.finalize(), &mut hex);
    Md5Signature(hex)
}

/// Verifies the received parameters' `sign` (absent: false) with the merchant's MD5 key.
pub fn md5_verify(params: &[(&str, &str)], key: &str, filter: Filter) -> bool {
    let Some(received) = find(params, "sign") else {
        return false;
    };
    md5_sign(&string_to_sign(params, filter), key).matches(received)
}

fn find<'a>(params: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
}

/// A key that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is not base64 (epay stores keys as the base64 of their DER, or as PEM)")]
    NotBase64,
    #[error(
        "the key is not an RSA private key in PKCS#8 DER (epay's platform key: base64 of the \
         PKCS#8 DER, as `openssl pkcs8 -topk8 -nocrypt -outform DER` writes it)"
    )]
    NotPrivateKey,
    #[error(
        "the key is not an RSA public key in X.509 SubjectPublicKeyInfo DER (epay's merchant \
         public key: base64 of the DER, as `openssl rsa -pubout -outform DER` writes it)"
    )]
    NotPublicKey,
}

/// The DER bytes of a key given as epay stores it (base64, whitespace ignored) or as PEM; with the
/// PEM label when there was one.
fn der_of(text: &str) -> Result<(Vec<u8>, Option<String>), KeyError> {
    let mut label = None;
    let mut body = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_owned());
        } else if !line.starts_with("-----") {
            body.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
        }
    }
    if body.is_empty() {
        return Err(KeyError::Empty);
    }
    let der = Base64::decode_vec(&body).map_err(|_| KeyError::NotBase64)?;
    Ok((der, label))
}

/// An RSA private key that signs as epay's `openssl_sign(…, OPENSSL_ALGO_SHA256)`: the platform
/// key (answers, notifications), or a merchant's (requests, for tests and `paybridge sign`).
#[derive(Clone)]
pub struct RsaSigner {
    key: SigningKey<Sha256>,
    bits: usize,
}

impl RsaSigner {
    /// Reads base64 PKCS#8 DER (epay's form), or PEM (`PRIVATE KEY`, or PKCS#1's
    /// `RSA PRIVATE KEY`, which openssl also reads when given as PEM).
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let (der, label) = der_of(text)?;
        let key = match label.as_deref() {
            Some("RSA PRIVATE KEY") => rsa::PrivateKey::from_pkcs1_der(&der),
            _ => rsa::PrivateKey::from_pkcs8_der(&der).map_err(|_| rsa::pkcs1::Error::Crypto),
        }
        .map_err(|_| KeyError::NotPrivateKey)?;
        let bits = key.size() * 8;
        Ok(RsaSigner {
            key: SigningKey::new(key),
            bits,
        })
    }

    /// SHA256WithRSA over the UTF-8 bytes of `string`, standard base64 with padding.
    pub fn sign(&self, string: &str) -> String {
        let signature: RsaSignature = self.key.sign(string.as_bytes());
        Base64::encode_string(&signature.to_bytes())
    }
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaSigner({} bits, redacted)", self.bits)
    }
}

/// An RSA public key that verifies as epay's `openssl_verify(…, OPENSSL_ALGO_SHA256)`.
#[derive(Clone)]
pub struct RsaVerifier {
    key: VerifyingKey<Sha256>,
    bits: usize,
}

impl RsaVerifier {
    /// Reads base64 SubjectPublicKeyInfo DER (epay's form), or PEM (`PUBLIC KEY`).
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let (der, _) = der_of(text)?;
        let key = rsa::PublicKey::from_public_key_der(&der).map_err(|_| KeyError::NotPublicKey)?;
        let bits = key.size() * 8;
        Ok(RsaVerifier {
            key: VerifyingKey::new(key),
            bits,
        })
    }

    /// Whether `signature` (standard base64) is this key's SHA256WithRSA signature of `string`.
    /// Anything that is not base64 of a signature of the key's size is false.
    pub fn verify(&self, string: &str, signature: &str) -> bool {
        let Ok(bytes) = Base64::decode_vec(signature) else {
            return false;
        };
        let Ok(signature) = RsaSignature::try_from(bytes.as_slice()) else {
            return false;
        };
        self.key.verify(string.as_bytes(), &signature).is_ok()
    }
}

impl fmt::Debug for RsaVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaVerifier({} bits)", self.bits)
    }
}

/// Verifies the received parameters' `sign` (absent: false) with an RSA public key, over build
/// 3094's string (the timestamp is checked apart, by [`check_timestamp`]).
pub fn rsa_verify(params: &[(&str, &str)], key: &RsaVerifier) -> bool {
    let Some(received) = find(params, "sign") else {
        return false;
    };
    key.verify(&string_to_sign(params, Filter::Build3094), received)
}

/// How far a V2 timestamp may be from now, either way, in seconds (the bound itself accepted).
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// A V2 timestamp that is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Absent or empty (epay: `时间戳(timestamp)字段不能为空`).
    #[error("the timestamp is missing")]
    Missing,
    /// Not Unix seconds in decimal digits. epay itself fails with a PHP error (HTTP 500); paybridge
    /// answers it as out of the window.
    #[error("the timestamp is not Unix seconds in decimal digits")]
    NotSeconds,
    /// More than 300 s from now (epay: `时间戳字段不正确，请检查服务器时间`); milliseconds land here.
    #[error("the timestamp is more than 300 s away from now ({skew} s)")]
    OutOfWindow { skew: i64 },
}

impl TimestampError {
    /// epay's own message for the refusal (`ApiHelper::api_verify`).
    pub fn epay_message(&self) -> &'static str {
        match self {
            TimestampError::Missing => "时间戳(timestamp)字段不能为空",
            TimestampError::NotSeconds | TimestampError::OutOfWindow { .. } => {
                "时间戳字段不正确，请检查服务器时间"
            }
        }
    }
}

/// Checks a V2 `timestamp` against `now` (Unix seconds): `|now - timestamp| <= 300`.
pub fn check_timestamp(value: Option<&str>, now: i64) -> Result<(), TimestampError> {
    let value = value.unwrap_or_default();
    if value.is_empty() {
        return Err(TimestampError::Missing);
    }
    // Digits only, and few enough that the value and the difference fit in an i64.
    if value.len() > 15 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimestampError::NotSeconds);
    }
    let seconds: i64 = value.parse().map_err(|_| TimestampError::NotSeconds)?;
    let skew = now - seconds;
    if skew.abs() > TIMESTAMP_WINDOW_SECS {
        return Err(TimestampError::OutOfWindow { skew });
    }
    Ok(())
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
