//! A plain JSON object read by a scan: the members of `{"key":"value",...}` when every key and
//! every value is a string without escapes, and nothing else is in the body.
//!
//! Why: routing reads every request's parameters (`mchNo`, `appId`), a passthrough too, and
//! serde_json's generic path costs several thousand instructions a body (callgrind: 6,149 of a
//! passthrough's 72,000, docs/benchmarks.md). What the Jeepay SDK and nearly every client send
//! is this plain shape. The scan accepts only bodies on which serde_json would produce exactly
//! the same members, as borrowed strings, in the same order; on anything else (an escape, a
//! number, `true`/`false`/`null`, an object or array, a control character, invalid UTF-8,
//! anything after the object, whitespace JSON does not allow) it says so and the caller binds
//! the body with serde as before. So the binding (fastjson's smart matching, duplicates
//! refused) is the same code either way, and its answer the same for every input
//! (`params.rs`'s tests compare the two on tricky and generated bodies).

/// JSON's whitespace (RFC 8259 `ws`), as serde_json skips it: not form feed or vertical tab.
fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body.get(at).copied().is_some_and(is_json_space) {
        at += 1;
    }
    at
}

/// The bytes a plain string cannot hold as they are: its closing quote, an escape, a control
/// character (one table look-up a byte instead of three comparisons).
static ENDS_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// A string at `at` with no escape and no control character, and where it ends. `text` is
/// valid UTF-8 as a whole, and a string's quotes are ASCII: its contents are too.
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let body = text.as_bytes();
    if body.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let len = body[start..]
        .iter()
        .position(|&b| ENDS_PLAIN[usize::from(b)])?;
    if body[start + len] != b'"' {
        return None;
    }
    Some((text.get(start..start + len)?, start + len + 1))
}

/// Hands each member of a plain object to `member`, in order; `false` when the body is not a
/// plain object or `member` stops the scan (returns `false`): the caller then reads the body
/// with serde. `member` may have been called for some members before a `false`.
pub(super) fn plain_object<'a>(
    body: &'a [u8],
    mut member: impl FnMut(&'a str, &'a str) -> bool,
) -> bool {
    // Checked once for the whole body (serde checks each string; outside the strings a plain
    // object has ASCII only): a body that is not UTF-8 is serde's to refuse.
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let mut at = skip_space(body, 0);
    if body.get(at) != Some(&b'{') {
        return false;
    }
    at = skip_space(body, at + 1);
    if body.get(at) == Some(&b'}') {
        return skip_space(body, at + 1) == body.len();
    }
    loop {
        let Some((key, next)) = plain_string(text, at) else {
            return false;
        };
        at = skip_space(body, next);
        if body.get(at) != Some(&b':') {
            return false;
        }
        at = skip_space(body, at + 1);
        let Some((value, next)) = plain_string(text, at) else {
            return false;
        };
        if !member(key, value) {
            return false;
        }
        at = skip_space(body, next);
        match body.get(at) {
            Some(b',') => at = skip_space(body, at + 1),
            Some(b'}') => return skip_space(body, at + 1) == body.len(),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(body: &str) -> Option<Vec<(&str, &str)>> {
        let mut out = Vec::new();
        plain_object(body.as_bytes(), |k, v| {
            out.push((k, v));
            true
        })
        .then_some(out)
    }

    #[test]
    fn plain_objects_are_read() {
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(members(" \r\n\t{ } \n"), Some(vec![]));
        assert_eq!(
            members(r#"{"a":"1", "b" : "" ,"c":"中文"}"#),
            Some(vec![("a", "1"), ("b", ""), ("c", "中文")])
        );
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for body in [
            "",
            " ",
            "[]",
            r#"{"a":"1",}"#,
            r#"{"a":"1""b":"2"}"#,
            r#"{"a":1}"#,
            r#"{"a":null}"#,
            r#"{"a":true}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":["b"]}"#,
            r#"{"a\u0062":"1"}"#,
            r#"{"a":"\n"}"#,
            "{\"a\":\"\t\"}",
            "{\"a\":\"1\"}\u{c}",
            "\u{c}{\"a\":\"1\"}",
            r#"{"a":"1"} x"#,
            r#"{"a":"1"}{}"#,
            r#"{"a":"1""#,
            r#"{"a":"1"#,
            r#"{"a""1"}"#,
            r#"{'a':'1'}"#,
        ] {
            assert_eq!(members(body), None, "{body:?}");
        }
        assert!(!plain_object(b"{\"a\":\"\xff\"}", |_, _| true));
        assert!(!plain_object(br#"{"a":"1"}"#, |_, _| false));
    }
}

/// The scan binds exactly what serde binds: the same fields, texts and refusals, on tricky
/// bodies and on generated ones.
#[cfg(test)]
mod agrees_with_serde {
    use crate::dialect::jeepay::params::Params;
    use crate::domain::Failure;

    const CLOSE: &[&str] = &["mchOrderNo", "payOrderId"];

    fn outcome(read: Result<Params<'_>, Failure>) -> Result<(u32, Vec<Option<&str>>), String> {
        read.map(|p| {
            let (seen, values) = p.bound();
            (seen, values.into_iter().map(|v| v.map(leak)).collect())
        })
        .map_err(|e| format!("{e:?}"))
    }

    // The texts outlive the `Params` they came from (borrowed from the body or owned by it).
    fn leak(text: &str) -> &'static str {
        Box::leak(text.to_owned().into_boxed_str())
    }

    fn assert_agree(body: &str) {
        let scanned = outcome(Params::read(CLOSE, true, None, body.as_bytes()));
        let by_serde = if body.trim_ascii_start().starts_with('{') {
            outcome(Params::read_by_serde(CLOSE, body.as_bytes()))
        } else {
            scanned.clone()
        };
        assert_eq!(scanned, by_serde, "{body:?}");
    }

    #[test]
    fn on_tricky_bodies() {
        for body in [
            r#"{"mchNo":"M1","appId":"A"}"#,
            r#"{"mchNo":"M1","mch_no":"M2","appId":"A"}"#,
            r#"{"MCHNO":"M1","appId":"A"}"#,
            r#"{"mch-no":"M1","APP_ID":"A","x":"1","x":"2"}"#,
            r#"{"mchNo":"M1","mchNo":"M1"}"#,
            r#"{"mchNo":"M\u0031","appId":"A"}"#,
            r#"{"mch\u004eo":"M1","mchNo":"M2"}"#,
            r#"{"mchNo":1,"appId":"A"}"#,
            r#"{"mchNo":null,"mchNo":"M2"}"#,
            r#"{"mchNo":{"a":"b"},"appId":"A"}"#,
            r#"{"x":{"mchNo":"M2"},"mchNo":"M1"}"#,
            r#"{"mchNo":["M1"]}"#,
            r#"{"mchNo":"M1"} {"#,
            "{\"mchNo\":\"M1\"}\u{c}",
            "{\"mchNo\":\"M\u{1}\"}",
            r#"{"mchNo":"商户","appId":"\u3000"}"#,
            r#" { "mchNo" : "M1" , "appId" : "A" } "#,
            r#"{"mchNo":"M1",}"#,
            r#"{"mchNo":"M1" "appId":"A"}"#,
            "{}",
            "{",
        ] {
            assert_agree(body);
        }
    }

    #[test]
    fn on_generated_bodies() {
        const KEYS: &[&str] = &[
            "mchNo",
            "mch_no",
            "MCHNO",
            "appId",
            "app-id",
            "version",
            "signType",
            "sign",
            "reqTime",
            "payOrderId",
            "PAY_ORDER_ID",
            "mchOrderNo",
            "x",
            "mch\\u004eo",
            "中",
        ];
        const VALUES: &[&str] = &[
            "\"M1\"",
            "\"\"",
            "\" \"",
            "\"a\\\"b\"",
            "\"中文\"",
            "1",
            "-0.5e3",
            "true",
            "null",
            "{}",
            "{\"mchNo\":\"M\"}",
            "[\"M\"]",
            "\"\\u0041\"",
            "\"\t\"",
        ];
        const GAPS: &[&str] = &["", "", "", " ", "\n", "\r\n\t"];
        // A fixed xorshift: the same bodies every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..4000 {
            let mut body = String::from(GAPS[next(GAPS.len())]);
            body.push('{');
            for m in 0..next(6) {
                if m > 0 {
                    body.push(',');
                }
                body.push_str(GAPS[next(GAPS.len())]);
                body.push('"');
                body.push_str(KEYS[next(KEYS.len())]);
                body.push('"');
                body.push_str(GAPS[next(GAPS.len())]);
                body.push(':');
                body.push_str(VALUES[next(VALUES.len())]);
            }
            body.push_str(GAPS[next(GAPS.len())]);
            body.push('}');
            match next(12) {
                0 => body.push_str(" x"),
                1 => body.insert(body.len() - 1, ','),
                2 => body.push('\u{c}'),
                _ => {}
            }
            assert_agree(&body);
        }
    }
}
