//! The few PHP behaviours epay's wire depends on, reproduced exactly: `empty()` on a parameter,
//! `json_encode` (with and without `JSON_UNESCAPED_UNICODE`), the gateway's echo form of stored
//! text (`htmlspecialchars(addslashes(…))`, epay.md §9), `mb_strcut`, and HTML escaping for
//! paybridge's own pages.
//!
//! Why here: epay merchants compare bytes (an answer's JSON, a notification's signed values), so
//! the gateway's PHP rendering is part of the protocol, not a detail.

use std::fmt::Write as _;

/// PHP's `empty()` on a string parameter: `""` and `"0"` are empty (a missing one too).
pub fn empty(value: Option<&str>) -> bool {
    matches!(value, None | Some("") | Some("0"))
}

/// A JSON value as epay's answers hold them: text, an integer, or `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Text(String),
    Int(i64),
    Null,
}

impl Json {
    /// The value as PHP stringifies it for a signature (`None`: `null`, left out of the string).
    pub fn as_signed(&self) -> Option<String> {
        match self {
            Json::Text(text) => Some(text.clone()),
            Json::Int(n) => Some(n.to_string()),
            Json::Null => None,
        }
    }
}

impl From<&str> for Json {
    fn from(text: &str) -> Json {
        Json::Text(text.to_owned())
    }
}

impl From<String> for Json {
    fn from(text: String) -> Json {
        Json::Text(text)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}

/// How `json_encode` was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// No flags: non-ASCII as `\uXXXX` (success bodies of `mapi.php`, `api.php`, `/api/pay/create`).
    Plain,
    /// `JSON_UNESCAPED_UNICODE`: Chinese raw (error bodies, V2 `echojson`).
    UnescapedUnicode,
}

/// `json_encode` of an associative array, keys in insertion order, no trailing newline.
pub fn json_object(fields: &[(&str, Json)], flags: Flags) -> String {
    let mut out = String::with_capacity(64 + fields.len() * 24);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, key, flags);
        out.push(':');
        match value {
            Json::Text(text) => json_string(&mut out, text, flags),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Null => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// `php_json_escape_string`: `"`, `\` and `/` escaped, the short escapes for `\b\f\n\r\t`, other
/// control characters as `\u00xx` (lower-case hex), non-ASCII as UTF-16 `\uxxxx` unless
/// unescaped (U+2028 and U+2029 stay escaped then, as PHP ≥ 7.1 does).
fn json_string(out: &mut String, text: &str, flags: Flags) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if flags == Flags::UnescapedUnicode => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// How the gateway stores `name`, `param`, `notify_url`, `return_url`, and so echoes them in
/// notifications, returns and query answers: `htmlspecialchars(addslashes(value))` on PHP ≥ 8.1
/// (epay.md §9). `a'b"c<d>&e\f` → `a\&#039;b\&quot;c&lt;d&gt;&amp;e\\f`.
pub fn echo_form(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\&#039;"),
            '"' => out.push_str("\\&quot;"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `mb_strcut(value, 0, max_bytes, 'UTF-8')`: at most `max_bytes` bytes, cut on a character
/// boundary.
pub fn strcut(value: &str, max_bytes: usize) -> &str {
    if value.len() <= max_bytes {
        return value;
    }
    let mut end = max_bytes;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// At most `max` characters (a MySQL `varchar(max)` column under `sql_mode=''`).
pub fn chars(value: &str, max: usize) -> &str {
    match value.char_indices().nth(max) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Text safe inside HTML (paybridge's own pages; epay itself echoes raw).
pub fn html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// PHP's `intval()` of a decimal string: leading whitespace skipped, an optional sign, the
/// leading digits (`"1001abc"` → 1001, `"abc"` → 0); `1e3` style exponents are honoured as PHP 7.1+
/// does for numeric strings. Saturates at the i64 bounds.
pub fn intval(text: &str) -> i64 {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0B', '\x0C']);
    let (negative, rest) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let digits_end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let mut value: i128 = 0;
    for b in rest[..digits_end].bytes() {
        value = (value * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    // A numeric string with an exponent (`1e3`): PHP converts through a float.
    let tail = &rest[digits_end..];
    if digits_end > 0 {
        if let Some(exponent) = tail.strip_prefix(['e', 'E']) {
            if !exponent.is_empty() && exponent.bytes().all(|b| b.is_ascii_digit()) {
                let power: u32 = exponent.parse().unwrap_or(u32::MAX);
                value = value.saturating_mul(10i128.saturating_pow(power.min(30)));
            }
        }
    }
    let signed = if negative { -value } else { value };
    signed.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_phps() {
        assert!(empty(None) && empty(Some("")) && empty(Some("0")));
        assert!(!empty(Some(" ")) && !empty(Some("0.0")) && !empty(Some("00")));
    }

    #[test]
    fn json_is_phps_byte_for_byte() {
        let fields = [
            ("code", Json::Int(1)),
            ("trade_no", "2024070112000012345".into()),
            ("qrcode", "weixin://wxpay/bizpayurl?pr=04IPMKM".into()),
        ];
        assert_eq!(
            json_object(&fields, Flags::Plain),
            r#"{"code":1,"trade_no":"2024070112000012345","qrcode":"weixin:\/\/wxpay\/bizpayurl?pr=04IPMKM"}"#
        );
        let msg = [("code", Json::Int(-1)), ("msg", "金额不合法".into())];
        assert_eq!(
            json_object(&msg, Flags::UnescapedUnicode),
            r#"{"code":-1,"msg":"金额不合法"}"#
        );
        assert_eq!(
            json_object(&msg, Flags::Plain),
            r#"{"code":-1,"msg":"\u91d1\u989d\u4e0d\u5408\u6cd5"}"#
        );
        let odd = [
            ("a", Json::Text("\"\\\u{1}\n\t😀\u{2028}é".into())),
            ("b", Json::Null),
        ];
        assert_eq!(
            json_object(&odd, Flags::Plain),
            r#"{"a":"\"\\\u0001\n\t\ud83d\ude00\u2028\u00e9","b":null}"#
        );
        assert_eq!(
            json_object(&odd, Flags::UnescapedUnicode),
            "{\"a\":\"\\\"\\\\\\u0001\\n\\t😀\\u2028é\",\"b\":null}"
        );
    }

    #[test]
    fn the_echo_form_of_epay_md_9() {
        assert_eq!(
            echo_form("a'b\"c<d>&e\\f"),
            "a\\&#039;b\\&quot;c&lt;d&gt;&amp;e\\\\f"
        );
        assert_eq!(echo_form("uid=7&from=app"), "uid=7&amp;from=app");
        assert_eq!(echo_form("VIP会员"), "VIP会员");
    }

    #[test]
    fn cuts_keep_whole_characters() {
        assert_eq!(strcut("会员ab", 4), "会");
        assert_eq!(strcut("ab", 4), "ab");
        assert_eq!(chars("会员ab", 3), "会员a");
        assert_eq!(chars("ab", 3), "ab");
    }

    #[test]
    fn intval_reads_as_php() {
        for (text, value) in [
            ("1001", 1001),
            ("1001abc", 1001),
            ("1e3", 1000),
            ("abc", 0),
            ("", 0),
            (" 12", 12),
            ("-5", -5),
            ("99999999999999999999", i64::MAX),
        ] {
            assert_eq!(intval(text), value, "{text}");
        }
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
