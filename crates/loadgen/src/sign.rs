//! Jeepay's MD5 signature, written from the protocol (jeepay.md, "Signature (MD5)"), not from
//! paybridge's code: the request's fields but `sign`, nulls and empty strings, each rendered
//! `key=value&`, sorted with Java's `String.CASE_INSENSITIVE_ORDER` over the whole entry, then
//! `key=<secret>`, MD5, upper-case hex. An answer's `sign` is the same over the fields of its
//! `data`; the Java SDK compares it case-sensitively (upper case), and so does this.

use std::cmp::Ordering;

use md5::{Digest, Md5};
use serde_json::{Map, Value};

/// Signs `fields` (name, text) with `secret`.
pub fn sign_fields(fields: &[(&str, &str)], secret: &str) -> String {
    let entries = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    md5_of_entries(entries, secret)
}

/// The signature of an answer's `data` object.
pub fn sign_data(data: &Map<String, Value>, secret: &str) -> String {
    let entries = data
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::Null => return None,
                Value::String(s) if s.is_empty() => return None,
                Value::String(s) => s.clone(),
                // Numbers in their decimal text, booleans as words, anything nested as JSON.
                other => other.to_string(),
            };
            Some(format!("{k}={text}&"))
        })
        .collect();
    md5_of_entries(entries, secret)
}

fn md5_of_entries(mut entries: Vec<String>, secret: &str) -> String {
    entries.sort_by(|a, b| case_insensitive_order(a, b));
    let mut text = entries.concat();
    text.push_str("key=");
    text.push_str(secret);
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

/// Java's `String.CASE_INSENSITIVE_ORDER`: per UTF-16 unit, equal, or equal upper-cased, or
/// the difference of `toLowerCase(toUpperCase(c))`; then the shorter first.
fn case_insensitive_order(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.encode_utf16(), b.encode_utf16());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c1), Some(c2)) if c1 == c2 => {}
            (Some(c1), Some(c2)) => {
                let (u1, u2) = (upper(c1), upper(c2));
                if u1 != u2 {
                    let (l1, l2) = (lower(u1), lower(u2));
                    if l1 != l2 {
                        return l1.cmp(&l2);
                    }
                }
            }
        }
    }
}

/// `Character.toUpperCase(char)`: a unit with a single-unit upper case maps to it; others
/// (surrogates, expansions such as `ß`) stay as they are.
fn upper(unit: u16) -> u16 {
    map_one(unit, |c| c.to_uppercase().collect())
}

fn lower(unit: u16) -> u16 {
    map_one(unit, |c| c.to_lowercase().collect())
}

fn map_one(unit: u16, f: impl Fn(char) -> String) -> u16 {
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit;
    };
    let mapped = f(c);
    let mut units = mapped.encode_utf16();
    match (units.next(), units.next()) {
        (Some(one), None) => one,
        _ => unit,
    }
}

/// Whether `given` is `data`'s signature with `secret` (upper case, as the Java SDK checks).
pub fn verify_data(data: &Map<String, Value>, secret: &str, given: &str) -> bool {
    sign_data(data, secret) == given
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_map_signs_just_the_key() {
        // jeepay.md: an empty map signs `key=<secret>` (the close answer's sign).
        let expected = hex::encode_upper(Md5::digest(b"key=SECRET"));
        assert_eq!(sign_fields(&[], "SECRET"), expected);
        assert_eq!(sign_data(&Map::new(), "SECRET"), expected);
    }

    #[test]
    fn entries_sort_case_insensitively_on_the_whole_entry() {
        // `=` sorts after digits and before letters: key `a1` before key `a`; `B` between
        // `a` and `b_c`.
        let mut keys = vec!["b_c=1&", "a=1&", "B=1&", "a1=1&"];
        keys.sort_by(|a, b| case_insensitive_order(a, b));
        assert_eq!(keys, ["a1=1&", "a=1&", "B=1&", "b_c=1&"]);
    }

    #[test]
    fn empty_values_and_sign_are_left_out() {
        let with = sign_fields(&[("a", "1"), ("b", ""), ("sign", "X")], "K");
        assert_eq!(with, sign_fields(&[("a", "1")], "K"));
        assert_eq!(with, hex::encode_upper(Md5::digest(b"a=1&key=K")));
    }

    #[test]
    fn the_golden_vectors_of_the_protocol() {
        // vectors/golden/jeepay.json (the repository's copy of the golden vectors).
        let text = include_str!("../../../vectors/golden/jeepay.json");
        let doc: Value = serde_json::from_str(text).expect("vectors parse");
        let mut checked = 0;
        for case in doc.as_array().into_iter().flatten() {
            if case["dialect"] != "jeepay" {
                continue;
            }
            let (Some(params), Some(secret), Some(sign)) = (
                case["fields"].as_object(),
                case["secret"].as_str(),
                case["sign"].as_str(),
            ) else {
                continue;
            };
            assert_eq!(sign_data(params, secret), sign, "{case}");
            checked += 1;
        }
        assert!(checked > 0, "no vector checked");
    }

    #[test]
    fn an_answer_signed_otherwise_does_not_verify() {
        let data: Map<String, Value> =
            serde_json::from_str(r#"{"payOrderId":"P1","orderState":1,"errCode":null}"#).unwrap();
        let good = hex::encode_upper(Md5::digest(b"orderState=1&payOrderId=P1&key=K"));
        assert!(verify_data(&data, "K", &good));
        assert!(!verify_data(&data, "K", &good.to_ascii_lowercase()));
        assert!(!verify_data(&data, "other", &good));
    }
}
