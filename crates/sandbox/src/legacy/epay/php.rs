//! What PHP does to the gateway's inputs and outputs, from `protocols/epay.md` §2 and §9: the
//! parameter map (`$_GET`/`$_POST`), `empty()`, the money check, the stored (escaped) form of
//! echoed text, `mb_strcut`, and `json_encode` with and without `JSON_UNESCAPED_UNICODE`.

use std::fmt::Write as _;

/// A parameter value as PHP holds it: text, or an array (`a[]=…`), which signs as nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Array,
}

/// A PHP superglobal: names in first-seen order, the last value of a repeated name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    entries: Vec<(String, Value)>,
}

impl Params {
    /// PHP's reading of a query string or form body (§2): split on `&`, the first `=` splits
    /// name and value, `+` and `%XX` decoded in both, `.` and space in names become `_`,
    /// `a[…]` makes an array, the last of a repeated name wins.
    pub(crate) fn parse(input: &[u8]) -> Params {
        let mut params = Params::default();
        for (name, value) in form_urlencoded::parse(input) {
            let name = name.trim_start_matches(' ');
            let (name, value) = match name.find('[') {
                Some(open) if name[open..].contains(']') => (mangle(&name[..open]), Value::Array),
                _ => (mangle(name), Value::Text(value.into_owned())),
            };
            if name.is_empty() {
                continue;
            }
            match params.entries.iter_mut().find(|(k, _)| *k == name) {
                Some(entry) => entry.1 = value,
                None => params.entries.push((name, value)),
            }
        }
        params
    }

    /// `isset($p[name])`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == name)
    }

    /// The text of `name`; `""` when absent or an array (PHP would warn and read `""`).
    pub(crate) fn text(&self, name: &str) -> &str {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| match v {
                Value::Text(t) => Some(t.as_str()),
                Value::Array => None,
            })
            .unwrap_or("")
    }

    /// The text parameters, for the signature (arrays are never signed by build 3094).
    pub(crate) fn texts(&self) -> Vec<(&str, &str)> {
        self.entries
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Text(t) => Some((k.as_str(), t.as_str())),
                Value::Array => None,
            })
            .collect()
    }
}

/// PHP's name mangling: `.` and space become `_`, as do a `[` that opens no array.
fn mangle(name: &str) -> String {
    name.replace(['.', ' ', '['], "_")
}

/// PHP `empty()` on a request value: `""` and `"0"`.
pub(crate) fn empty(value: &str) -> bool {
    value.is_empty() || value == "0"
}

/// PHP `intval()` of a decimal string: leading whitespace and sign, then digits; `0` when none.
pub(crate) fn intval(text: &str) -> u64 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0B', '\x0C']);
    let text = text.strip_prefix('+').unwrap_or(text);
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    // `"1e3"` → 1000 in PHP 7.1+: numeric strings with an exponent are read whole.
    let rest = &text[digits.len()..];
    if let Some(exp) = rest.strip_prefix(['e', 'E']) {
        if let (Ok(base), Ok(exp)) = (digits.parse::<u64>(), exp.parse::<u32>()) {
            return 10u64
                .checked_pow(exp)
                .and_then(|p| base.checked_mul(p))
                .unwrap_or(0);
        }
    }
    digits.parse().unwrap_or(0)
}

/// §9's money rule after `empty()`: `is_numeric`, `^[0-9.]+$`, above 0; the value stored as
/// `decimal(10,2)` rounds half away from zero. `None`: `金额不合法`.
pub(crate) fn money_fen(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    // is_numeric: one dot at most, a digit on at least one side.
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let digit = |i: usize| u64::from(frac.as_bytes().get(i).map_or(0, |b| b - b'0'));
    let fen = whole.checked_mul(100)? + digit(0) * 10 + digit(1) + u64::from(digit(2) >= 5);
    // `sql_mode=''` clips above 99999999.99.
    (fen > 0).then_some(fen.min(9_999_999_999))
}

/// Fen as `decimal(10,2)` text: `1.00`.
pub(crate) fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The stored form of echoed text (§9): `htmlspecialchars(addslashes(v))` as PHP ≥ 8.1 does.
pub(crate) fn stored(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
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

/// `mb_strcut($s, 0, max)`: at most `max` bytes, cut on a UTF-8 boundary.
pub(crate) fn strcut(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// The first `max` characters (a `varchar(max)` column, silently truncated).
pub(crate) fn chars(value: &str, max: usize) -> &str {
    value
        .char_indices()
        .nth(max)
        .map_or(value, |(i, _)| &value[..i])
}

/// A JSON value as the gateway's answers hold them.
#[derive(Debug, Clone)]
pub(crate) enum Json {
    Str(String),
    Int(i64),
    Null,
}

impl Json {
    pub(crate) fn opt(value: Option<&str>) -> Json {
        value.map_or(Json::Null, |v| Json::Str(v.to_owned()))
    }
}

/// `json_encode` of an object, keys in the given order; `unescaped` = `JSON_UNESCAPED_UNICODE`.
pub(crate) fn json_object(fields: &[(&str, Json)], unescaped: bool) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k, unescaped);
        out.push(':');
        match v {
            Json::Str(s) => json_string(&mut out, s, unescaped),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Null => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

/// PHP's string escaping: `/` as `\/`, control characters, and (without
/// `JSON_UNESCAPED_UNICODE`) every non-ASCII character as lower-case `\uXXXX` UTF-16 units;
/// U+2028 and U+2029 are escaped either way.
fn json_string(out: &mut String, s: &str, unescaped: bool) {
    out.push('"');
    for c in s.chars() {
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
            c if c.is_ascii() || (unescaped && c != '\u{2028}' && c != '\u{2029}') => {
                out.push(c);
            }
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_as_php_reads_them() {
        let p = Params::parse(b"a.b=1&c+d=x+y&e=%E4%BC%9A&e=2&f&g[]=1&=z");
        assert_eq!(p.text("a_b"), "1");
        assert_eq!(p.text("c_d"), "x y");
        assert_eq!(p.text("e"), "2");
        assert!(p.has("f") && p.text("f").is_empty());
        assert!(p.has("g") && p.text("g").is_empty());
        assert_eq!(p.texts().len(), 4);
    }

    #[test]
    fn money_rule() {
        for (text, fen) in [
            ("1", 100),
            ("1.", 100),
            (".5", 50),
            ("01.50", 150),
            ("1.005", 101),
        ] {
            assert_eq!(money_fen(text), Some(fen), "{text}");
        }
        for text in ["0.00", "-1", "1e2", " 1", "1,00", "1.2.3", ".", "0.001"] {
            assert_eq!(money_fen(text), None, "{text}");
        }
        assert_eq!(yuan(1), "0.01");
    }

    #[test]
    fn stored_forms() {
        assert_eq!(
            stored("a'b\"c<d>&e\\f"),
            "a\\&#039;b\\&quot;c&lt;d&gt;&amp;e\\\\f"
        );
        assert_eq!(strcut("会员", 4), "会");
        assert_eq!(chars("会员ab", 3), "会员a");
        assert_eq!(intval("1001abc"), 1001);
        assert_eq!(intval("1e3"), 1000);
        assert_eq!(intval("abc"), 0);
    }

    #[test]
    fn json_as_php_writes_it() {
        let body = json_object(
            &[
                ("code", Json::Int(1)),
                (
                    "qrcode",
                    Json::Str("weixin://wxpay/bizpayurl?pr=04IPMKM".into()),
                ),
                ("msg", Json::Str("会".into())),
                ("x", Json::Null),
            ],
            false,
        );
        assert_eq!(
            body,
            r#"{"code":1,"qrcode":"weixin:\/\/wxpay\/bizpayurl?pr=04IPMKM","msg":"\u4f1a","x":null}"#
        );
        assert_eq!(
            json_object(&[("msg", Json::Str("会/".into()))], true),
            r#"{"msg":"会\/"}"#
        );
    }
}
