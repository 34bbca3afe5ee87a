//! Jeepay's side, written from jeepay.md and lifecycle.md independently of paybridge: signed
//! request bodies, the MD5 check of a notification, and reading answers.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use super::cast::Merchant;
use crate::requests::{md5_upper, unique_micros};

/// Jeepay's MD5 (`JeepayKit.getSign`): the non-empty fields but `sign`, `k=v&` in key order
/// (`Arrays.sort` of the keys: plain byte order), then `key=<secret>`, upper-case hex.
pub(crate) fn sign<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    secret: &str,
) -> String {
    let mut entries: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = String::new();
    for (k, v) in entries {
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('&');
    }
    text.push_str("key=");
    text.push_str(secret);
    md5_upper(&text)
}

/// A signed JSON request body: the common fields (a fresh `reqTime` in epoch microseconds, so
/// that no two bodies are alike), then `fields`.
pub(crate) fn body(m: &Merchant, fields: &[(&'static str, String)]) -> Bytes {
    let mut all: Vec<(&str, String)> = vec![
        ("mchNo", m.mch.to_owned()),
        ("appId", m.app.to_owned()),
        ("version", "1.0".to_owned()),
        ("signType", "MD5".to_owned()),
        ("reqTime", unique_micros().to_string()),
    ];
    all.extend(fields.iter().cloned());
    let signature = sign(all.iter().map(|(k, v)| (*k, v.as_str())), m.secret);
    let mut map = serde_json::Map::new();
    for (k, v) in all {
        map.insert(k.to_owned(), Value::from(v));
    }
    map.insert("sign".to_owned(), Value::from(signature));
    Bytes::from(Value::Object(map).to_string())
}

/// Whether a notification's parameters carry the merchant's signature (Jeepay's merchant demo:
/// every parameter but `sign`, compared ignoring case).
pub(crate) fn verify(fields: &BTreeMap<String, String>, secret: &str) -> bool {
    let Some(given) = fields.get("sign") else {
        return false;
    };
    sign(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), secret).eq_ignore_ascii_case(given)
}

/// A field of an answer's `data` as text (numbers and strings alike), `None` when absent/null.
pub(crate) fn text(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_skips_empty_values_and_sign_and_sorts_by_bytes() {
        // MD5("a=1&b=2&key=k")
        let expected = md5_upper("a=1&b=2&key=k");
        assert_eq!(
            sign([("b", "2"), ("sign", "x"), ("c", ""), ("a", "1")], "k"),
            expected
        );
        let mut fields = BTreeMap::new();
        fields.insert("b".to_owned(), "2".to_owned());
        fields.insert("a".to_owned(), "1".to_owned());
        fields.insert("sign".to_owned(), expected.to_ascii_lowercase());
        assert!(verify(&fields, "k"));
        fields.insert("a".to_owned(), "3".to_owned());
        assert!(!verify(&fields, "k"));
    }
}
