//! epay's (彩虹易支付) MD5 signature, written from `protocols/epay.md` §4 without the proxy's
//! code: every received parameter but `sign`, `sign_type` and empty values, sorted by the bytes
//! of the name, joined `k=v&…` with raw values, the merchant key appended with no separator,
//! MD5 in lower-case hex, compared exactly.
//!
//! Build 3094 also leaves out whitespace-only values (PHP's `trim` set) and arrays; build 3065
//! keeps whitespace-only values. [`Filter`] names the two.
//!
//! V2 (§5): the same string (3094's filter), SHA256WithRSA (PKCS#1 v1.5) with keys stored as
//! base64 DER without armour, signatures in standard base64: [`rsa_sign`], [`rsa_verify`].

use base64ct::{Base64, Encoding};
use md5::{Digest, Md5};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;

/// Which values the string to sign leaves out besides `sign` and `sign_type` (§4 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// G3065, SDK1, SDK0: only the empty string.
    Empty,
    /// G3094, SDK2: the empty string and whitespace-only values.
    #[default]
    Blank,
}

impl Filter {
    /// `true` when `value` takes no part in the signature.
    pub fn drops(self, value: &str) -> bool {
        match self {
            Filter::Empty => value.is_empty(),
            Filter::Blank => value.bytes().all(is_php_trim_byte),
        }
    }
}

/// PHP `trim`'s default set: space, `\t`, `\n`, `\r`, `\0`, `\x0B`.
fn is_php_trim_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0B)
}

/// The exact text before the key is appended (§4 steps 3 to 5).
pub fn string_to_sign(params: &[(&str, &str)], filter: Filter) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && *k != "sign_type" && !filter.drops(v))
        .copied()
        .collect();
    // `ksort` of ordinary names: plain byte order.
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `md5(string + KEY)`, lower-case hex.
pub fn sign(params: &[(&str, &str)], key: &str, filter: Filter) -> String {
    let mut text = string_to_sign(params, filter);
    text.push_str(key);
    hex::encode(Md5::digest(text.as_bytes()))
}

/// PHP `===` on the received signature: exact and case-sensitive, compared in constant time.
pub fn matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A key that does not read as base64 DER RSA.
#[derive(Debug, thiserror::Error)]
#[error("not a base64 {0} RSA key")]
pub struct BadKey(&'static str);

/// An RSA private key (PKCS#8, base64 DER as epay stores it) that signs V2 answers.
pub struct RsaSigner(rsa::PrivateKey);

impl RsaSigner {
    pub fn from_base64(text: &str) -> Result<Self, BadKey> {
        let der = Base64::decode_vec(text.trim()).map_err(|_| BadKey("PKCS#8"))?;
        rsa::PrivateKey::from_pkcs8_der(&der)
            .map(RsaSigner)
            .map_err(|_| BadKey("PKCS#8"))
    }
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner(***)")
    }
}

/// An RSA public key (SPKI, base64 DER) that verifies a merchant's V2 requests.
#[derive(Debug, Clone)]
pub struct RsaVerifier(rsa::PublicKey);

impl RsaVerifier {
    pub fn from_base64(text: &str) -> Result<Self, BadKey> {
        let der = Base64::decode_vec(text.trim()).map_err(|_| BadKey("SPKI"))?;
        rsa::PublicKey::from_public_key_der(&der)
            .map(RsaVerifier)
            .map_err(|_| BadKey("SPKI"))
    }
}

/// SHA256WithRSA over the V2 string (3094's filter), standard base64.
pub fn rsa_sign(params: &[(&str, &str)], key: &RsaSigner) -> String {
    let text = string_to_sign(params, Filter::Blank);
    // Signing with a key that parsed cannot fail for a 2048-bit key and a SHA-256 digest.
    key.0
        .pkcs1v15_sign::<Sha256>(text.as_bytes())
        .map(|sig| Base64::encode_string(&sig))
        .unwrap_or_default()
}

/// `openssl_verify(…) === 1` over the V2 string.
pub fn rsa_verify(params: &[(&str, &str)], signature: &str, key: &RsaVerifier) -> bool {
    let Ok(sig) = Base64::decode_vec(signature) else {
        return false;
    };
    let text = string_to_sign(params, Filter::Blank);
    key.0
        .pkcs1v15_verify::<Sha256>(text.as_bytes(), &sig)
        .is_ok()
}

/// SDK2's sample merchant key (epay.md Appendix A) and its public key (§15), for tests.
#[cfg(test)]
pub(crate) const SDK2_PRIVATE: &str = include_str!("epay_sdk2_private.b64");
#[cfg(test)]
pub(crate) const SDK2_PUBLIC: &str = include_str!("epay_sdk2_public.b64");

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

    #[test]
    fn vector_e1_chinese_name() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "20160806151343349"),
            ("notify_url", "http://www.pay.com/notify_url.php"),
            ("return_url", "http://www.pay.com/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(
            string_to_sign(&p, Filter::Blank),
            "money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http://www.pay.com/return_url.php&type=alipay"
        );
        assert_eq!(
            sign(&p, KEY, Filter::Blank),
            "427724b6656aa612cfdbe7a2262036a3"
        );
    }

    #[test]
    fn vector_e2_empty_values_and_stale_sign_left_out() {
        let p = [
            ("pid", "1001"),
            ("type", "wxpay"),
            ("out_trade_no", "ORDER-2024_0001"),
            ("notify_url", "https://shop.example.com/notify"),
            ("return_url", ""),
            ("name", "Test"),
            ("money", "0.01"),
            ("clientip", "192.168.1.100"),
            ("device", ""),
            ("param", ""),
            ("sign", "ignored"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(
            sign(&p, KEY, Filter::Empty),
            "74aefe7c1c5cd6b96136c22d822f7333"
        );
    }

    #[test]
    fn vector_e3_raw_values() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "A.B_C-D|E"),
            ("notify_url", "https://shop.example.com/n.php"),
            ("return_url", "https://shop.example.com/r.php"),
            ("name", "A&B=C+D E"),
            ("money", "10"),
            ("param", "k1=v1&k2=v 2+3"),
        ];
        assert_eq!(
            sign(&p, KEY, Filter::Blank),
            "9bae45ff5395e2f1b7f04374c9dce3d4"
        );
    }

    #[test]
    fn vector_e5_whitespace_by_build() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "Z1"),
            ("notify_url", "https://shop.example.com/n"),
            ("return_url", "https://shop.example.com/r"),
            ("name", "n"),
            ("money", "5.00"),
            ("param", "0"),
            ("sitename", " "),
        ];
        assert_eq!(
            sign(&p, KEY, Filter::Empty),
            "90f639d4a56afa2e9351d728ac1a3e91"
        );
        assert_eq!(
            sign(&p, KEY, Filter::Blank),
            "141592cb8fd3b3983243330a26288d85"
        );
    }

    #[test]
    fn vector_e6_byte_order() {
        let p = [
            ("pid", "1001"),
            ("a_b", "1"),
            ("aB", "2"),
            ("a1", "3"),
            ("A", "4"),
            ("a", "5"),
            ("Zeta", "6"),
            ("money", "1.00"),
        ];
        assert_eq!(
            string_to_sign(&p, Filter::Blank),
            "A=4&Zeta=6&a=5&a1=3&aB=2&a_b=1&money=1.00&pid=1001"
        );
        assert_eq!(
            sign(&p, KEY, Filter::Blank),
            "6957f8605fd65afee95cb16e3e8a9c04"
        );
    }

    #[test]
    fn vector_e7_notification() {
        let p = [
            ("pid", "1001"),
            ("trade_no", "2024070112000012345"),
            ("out_trade_no", "20160806151343349"),
            ("type", "alipay"),
            ("name", "VIP会员 A&amp;B"),
            ("money", "1.5"),
            ("trade_status", "TRADE_SUCCESS"),
            ("param", "uid=7&amp;from=app"),
        ];
        assert_eq!(
            sign(&p, KEY, Filter::Blank),
            "a872b215c2dbd68864aaa2a8b94b167b"
        );
    }

    #[test]
    fn compare_is_exact() {
        let s = "427724b6656aa612cfdbe7a2262036a3";
        assert!(matches(s, s));
        assert!(!matches(s, &s.to_uppercase()));
        assert!(!matches(s, &s[..31]));
    }

    #[test]
    fn vector_e9_rsa_request() {
        let p = [
            ("pid", "1000"),
            ("method", "web"),
            ("device", "pc"),
            ("type", "alipay"),
            ("out_trade_no", "20240717100000001"),
            ("notify_url", "http://127.0.0.1/SDK/notify_url.php"),
            ("return_url", "http://127.0.0.1/SDK/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("clientip", "192.168.1.100"),
            ("param", ""),
            ("timestamp", "1721206072"),
            ("sign_type", "RSA"),
        ];
        let expected = "Kq3372xbu7867BrKVSFiYzzcBgtL/Y+4fssFNERem/Y0fDMsVWeK5DLDWlfmNsUEpWvkXe/eLYkeX4+t5Hmvw0qcS79uwK1S8krr2d3wn8VYYHOJumljcYeTfJnhKJpFy/bT4IiET2xmTz41+Hn844vwTjj67zQmKURgAO6hk385ANU71fCC14rOXLDLpg/G5x4XR/29e16C9ylRr/U0Ft48N7vtkWiQfZ3GPKr0msfkGBoSO9ST9HjxtnZP+crcU4ug6lO+lqfyxDbc7dtTEmGrV7Iz/5LamEqqYTI2eQDMw02yToIX3v4nGtV0WLBM7+ZnSKfEret7E4qyufEysg==";
        let signer = RsaSigner::from_base64(SDK2_PRIVATE).expect("key");
        assert_eq!(rsa_sign(&p, &signer), expected);
        let verifier = RsaVerifier::from_base64(SDK2_PUBLIC).expect("key");
        assert!(rsa_verify(&p, expected, &verifier));
        assert!(!rsa_verify(&p[1..], expected, &verifier));
        assert_eq!(format!("{signer:?}"), "RsaSigner(***)");
    }
}
