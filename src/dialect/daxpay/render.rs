//! How DaxPay renders a value into the string it signs (`PaySignUtil.toMap` and hutool's JSON).

use std::borrow::Cow;

use serde_json::Value;

use crate::domain::AnswerFault;

/// A JSON value as DaxPay renders it into the sign string; `None` for null (left out).
///
/// A nested object or array (a non-null `data`) is written the way DaxPay's `PaySignUtil` writes
/// it, through hutool's JSON (lifecycle.md §1.2): members in the order received (a typed result
/// is written, and signed, in its class's declaration order), nulls dropped, decimals stripped of
/// trailing zeros, strings escaped as hutool escapes them.
pub fn render(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(number(n))),
        nested => {
            let mut out = String::with_capacity(256);
            write_hutool(nested, &mut out, Nulls::KeptInArrays);
            Some(Cow::Owned(out))
        }
    }
}

/// A map field (2.0.8's `PayParam.extraParam`) as DaxPay's `PaySignUtil` renders it
/// (lifecycle-2.0.md §2.4): copied into a `TreeMap(String.CASE_INSENSITIVE_ORDER)` (top-level
/// keys sorted case-insensitively; two keys equal but for case collapse into one, the first
/// key's spelling with the last value), then written by hutool's `JSONUtil.toJsonStr` (nested
/// objects in the order received, nulls dropped at every level, hutool's escaping). The text is
/// valid JSON that DaxPay reads back to the same map, so it is also what paybridge sends.
pub fn sorted_map(map: &serde_json::Map<String, Value>) -> String {
    let mut entries: Vec<(&String, &Value)> = Vec::with_capacity(map.len());
    for (key, value) in map {
        match entries
            .iter_mut()
            .find(|(k, _)| case_insensitive(k, key).is_eq())
        {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries.sort_by(|a, b| case_insensitive(a.0, b.0));
    let mut out = String::with_capacity(64);
    out.push('{');
    let mut first = true;
    for (key, value) in entries.into_iter().filter(|(_, v)| !v.is_null()) {
        if !first {
            out.push(',');
        }
        first = false;
        quote_hutool(key, &mut out);
        out.push(':');
        write_hutool(value, &mut out, Nulls::Dropped);
    }
    out.push('}');
    out
}

/// Java's `String.CASE_INSENSITIVE_ORDER`: UTF-16 unit by unit, each upper- then lower-cased.
pub fn case_insensitive(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = |c: char| c.to_uppercase().flat_map(char::to_lowercase);
    a.chars().flat_map(fold).cmp(b.chars().flat_map(fold))
}

/// Collects the signable fields of a JSON object: everything but `sign` and nulls.
pub fn fields_of(object: &serde_json::Map<String, Value>) -> Vec<(&str, Cow<'_, str>)> {
    object
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .filter_map(|(k, v)| render(v).map(|v| (k.as_str(), v)))
        .collect()
}

/// The longest plain form (sign, digits and point) of a number DaxPay's signer is believed to
/// write. DaxPay's numbers are amounts (a few digits either side of the point), epoch times in
/// milliseconds (13 digits) and ids (`Long`, at most 19 digits): 64 leaves room to spare. A
/// number written as `1e99999999999` would expand to 10^11 zeros before any signature is
/// checked (serde_json's `arbitrary_precision` keeps the text as sent), so a longer one is not
/// rendered at all: [`renderable`] says so and the readers refuse it as unverifiable.
pub const MAX_PLAIN_LEN: usize = 64;

/// Whether every number in `value` (at any depth) has a plain form of at most
/// [`MAX_PLAIN_LEN`] characters, so that [`render`] gives DaxPay's text for it. Checked on what
/// DaxPay sends (answers, callbacks) before anything in it is rendered for the signature: a
/// value that is not renderable cannot carry a signature paybridge could check.
pub fn renderable(value: &Value) -> bool {
    match value {
        Value::Number(n) => plain_decimal(&n.to_string()).is_some(),
        Value::Array(items) => items.iter().all(renderable),
        Value::Object(map) => map.values().all(renderable),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// [`renderable`] over each of `values`, as the readers of what DaxPay sends check it before
/// rendering anything for the signature: refused as unverifiable otherwise.
pub fn check_renderable<'a>(
    mut values: impl Iterator<Item = &'a Value>,
) -> Result<(), AnswerFault> {
    if values.all(renderable) {
        Ok(())
    } else {
        Err(AnswerFault::Malformed(format!(
            "a number whose plain form is over {MAX_PLAIN_LEN} characters: no signature covers it"
        )))
    }
}

/// A number as rendered: its plain form, or (not [`renderable`], which the readers refuse
/// before rendering) its text as received, never expanded.
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    plain_decimal(&text).unwrap_or(text)
}

/// `BigDecimal.stripTrailingZeros().toPlainString()` for decimals; integers unchanged. `None`
/// when the plain form would be longer than [`MAX_PLAIN_LEN`] or the exponent is not a 64-bit
/// number: its length is worked out before anything is written.
fn plain_decimal(text: &str) -> Option<String> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    if exponent == 0 && !mantissa.contains('.') {
        return (mantissa.len() <= MAX_PLAIN_LEN).then(|| mantissa.to_owned());
    }
    let (negative, digits_part) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let (int_part, frac_part) = digits_part.split_once('.').unwrap_or((digits_part, ""));
    let digits: String = format!("{int_part}{frac_part}");
    // value = digits * 10^(point - digits.len()), with the point after `point` digits; in
    // i128, where no exponent a 64-bit number can hold overflows.
    let point = int_part.len() as i128 + i128::from(exponent);
    let digits = digits.trim_start_matches('0');
    let leading_zeros_removed = (int_part.len() + frac_part.len() - digits.len()) as i128;
    let point = point - leading_zeros_removed;
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    let len = digits.len() as i128;
    let plain_len = i128::from(negative)
        + if point <= 0 {
            2 - point + len
        } else if point >= len {
            point
        } else {
            len + 1
        };
    if plain_len > MAX_PLAIN_LEN as i128 {
        return None;
    }
    // Every count below is at most MAX_PLAIN_LEN from here on.
    let point = point as i64;
    let len = len as i64;
    let mut out = String::with_capacity(plain_len as usize);
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
    Some(out)
}

/// Whether an array's null items are written (a typed result's list, as 3.x renders its
/// `data`) or dropped like null members (a map converted by hutool 5.8.27, whose `JSONArray`
/// ignores null values too: lifecycle-2.0.md §2.4, `[null,"a",{"k":null}]` → `[a,{}]`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nulls {
    KeptInArrays,
    Dropped,
}

/// `value` as hutool's `JSONUtil.toJsonStr` writes it: compact, object members in their order
/// with nulls dropped, numbers stripped of trailing zeros.
fn write_hutool(value: &Value, out: &mut String, nulls: Nulls) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => quote_hutool(s, out),
        Value::Array(items) => {
            out.push('[');
            let kept = items
                .iter()
                .filter(|item| nulls == Nulls::KeptInArrays || !item.is_null());
            for (i, item) in kept.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_hutool(item, out, nulls);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            let mut first = true;
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                if !first {
                    out.push(',');
                }
                first = false;
                quote_hutool(key, out);
                out.push(':');
                write_hutool(item, out, nulls);
            }
            out.push('}');
        }
    }
}

/// hutool's `JSONUtil.quote`: the usual short escapes, `\uXXXX` (lower-case hex) for the control
/// and invisible ranges it escapes, everything else as is.
fn quote_hutool(s: &str, out: &mut String) {
    out.push('"');
    let mut previous = '\0';
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '/' if previous == '<' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}'
            | '\u{80}'..='\u{a0}'
            | '\u{2000}'..='\u{2010}'
            | '\u{2028}'..='\u{202f}'
            | '\u{2066}'..='\u{206f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
        previous = c;
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_lose_trailing_zeros() {
        let plain = |text| plain_decimal(text).unwrap();
        assert_eq!(plain("0.10"), "0.1");
        assert_eq!(plain("1.00"), "1");
        assert_eq!(plain("100"), "100");
        assert_eq!(plain("-2.500"), "-2.5");
        assert_eq!(plain("0.000"), "0");
        assert_eq!(plain("1e2"), "100");
        assert_eq!(plain("1.5E-3"), "0.0015");
        assert_eq!(plain("0.05"), "0.05");
        assert_eq!(plain("-12.5e1"), "-125");
        assert_eq!(
            plain("0e99999999999"),
            "0",
            "zero is short whatever its exponent"
        );
    }

    #[test]
    fn a_number_longer_than_the_bound_is_not_rendered() {
        // 64 characters exactly, then one more, in each of the three shapes.
        assert_eq!(plain_decimal("1e63").map(|p| p.len()), Some(64));
        assert_eq!(plain_decimal("1e64"), None);
        assert_eq!(plain_decimal("-1e62").map(|p| p.len()), Some(64));
        assert_eq!(plain_decimal("-1e63"), None);
        assert_eq!(plain_decimal("1e-62").map(|p| p.len()), Some(64));
        assert_eq!(plain_decimal("1e-63"), None);
        let fraction = |ones: usize| format!("{}.5", "1".repeat(ones));
        assert_eq!(plain_decimal(&fraction(62)).map(|p| p.len()), Some(64));
        assert_eq!(plain_decimal(&fraction(63)), None);
        assert_eq!(plain_decimal(&"9".repeat(64)).map(|p| p.len()), Some(64));
        assert_eq!(plain_decimal(&"9".repeat(65)), None);
        // Exponents that expand to gigabytes, or overflow 64 bits, or do not fit in one.
        for text in [
            "1e99999999999",
            "1E+99999999999",
            "-1e-99999999999",
            "1e9223372036854775807",
            "-1e-9223372036854775808",
            "0.001e9223372036854775807",
            "1e99999999999999999999",
            "1e-99999999999999999999",
        ] {
            assert_eq!(plain_decimal(text), None, "{text}");
            let value: Value =
                serde_json::from_str(&format!("{{\"a\":[{{\"b\":{text}}}]}}")).unwrap();
            assert!(!renderable(&value), "{text}");
            // Rendered anyway (never by the readers), it stays its own text: nothing expands.
            let rendered = render(&value).unwrap();
            assert!(rendered.len() <= text.len() + 20, "{text}: {rendered}");
        }
        let fine: Value =
            serde_json::from_str(r#"{"amount":12.30,"t":1756180800000,"id":1234567890123456789}"#)
                .unwrap();
        assert!(renderable(&fine));
    }

    #[test]
    fn nested_objects_keep_their_order_and_drop_nulls() {
        let v: Value =
            serde_json::from_str(r#"{"b":1.50,"a":null,"c":{"z":"q","y":2.000},"d":[true,null]}"#)
                .unwrap();
        assert_eq!(
            render(&v).unwrap(),
            r#"{"b":1.5,"c":{"z":"q","y":2},"d":[true,null]}"#
        );
    }

    #[test]
    fn a_map_is_sorted_case_insensitively_at_the_top_only() {
        let v: Value = serde_json::from_str(
            r#"{"authCode":"1","Zeta":"z","alpha":"A","n":null,"z":{"b":2,"a":[1,null,{"k":null}]},"ALPHA":"B"}"#,
        )
        .unwrap();
        assert_eq!(
            sorted_map(v.as_object().unwrap()),
            r#"{"alpha":"B","authCode":"1","z":{"b":2,"a":[1,{}]},"Zeta":"z"}"#
        );
        assert_eq!(sorted_map(&serde_json::Map::new()), "{}");
    }

    #[test]
    fn strings_are_escaped_as_hutool_does() {
        let v = serde_json::json!({"s": "a\nb\t\"q\" \\ </x \u{1} \u{a0} \u{2028} é 支付"});
        assert_eq!(
            render(&v).unwrap(),
            r#"{"s":"a\nb\t\"q\" \\ <\/x \u0001 \u00a0 \u2028 é 支付"}"#
        );
    }
}
