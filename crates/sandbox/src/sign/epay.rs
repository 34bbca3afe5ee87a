//! epay's (彩虹易支付) MD5 signature, written from `protocols/epay.md` §4 without the proxy's
//! code: every received parameter but `sign`, `sign_type` and empty values, sorted by the bytes
//! of the name, joined `k=v&…` with raw values, the merchant key appended with no separator,
//! MD5 in lower-case hex, compared exactly.
//!
//! Build 3094 also leaves out whitespace-only values (PHP's `trim` set) and arrays; build 3065
//! keeps whitespace-only values. [`Filter`] names the two.

use md5::{Digest, Md5};

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
}
