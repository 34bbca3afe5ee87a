//! Jeepay's MD5 signature (`JeepayKit.getSign`): the entries `key=value&` of the non-empty
//! fields, sorted with Java's `String.CASE_INSENSITIVE_ORDER` over the whole entry, joined,
//! `key=<secret>` appended, MD5 in upper-case hex. The server compares case-insensitively.

use md5::{Digest, Md5};

/// The exact string Jeepay digests. `fields` holds the declared, non-empty fields but `sign`.
pub fn string_to_sign(fields: &[(&str, &str)], secret: &str) -> String {
    let mut entries: Vec<String> = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    entries.sort_by(|a, b| {
        let fold = |s: &String| s.encode_utf16().map(fold_case).collect::<Vec<u16>>();
        fold(a).cmp(&fold(b)).then_with(|| a.cmp(b))
    });
    let mut s = entries.concat();
    s.push_str("key=");
    s.push_str(secret);
    s
}

/// Upper-case hex MD5 of [`string_to_sign`].
pub fn sign(fields: &[(&str, &str)], secret: &str) -> String {
    hex::encode_upper(Md5::digest(string_to_sign(fields, secret).as_bytes()))
}

/// Jeepay's `equalsIgnoreCase` check of a received signature.
pub fn matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| {
                acc | (a.to_ascii_uppercase() ^ b.to_ascii_uppercase())
            })
            == 0
}

/// `Character.toLowerCase(Character.toUpperCase(c))` on one UTF-16 unit; a character whose
/// case mapping is not a single unit compares as itself.
fn fold_case(unit: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit;
    };
    let upper = one(c.to_uppercase()).unwrap_or(c);
    let lower = one(upper.to_lowercase()).unwrap_or(upper);
    let mut buf = [0u16; 2];
    match lower.encode_utf16(&mut buf) {
        [u] => *u,
        _ => unit,
    }
}

fn one(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}
