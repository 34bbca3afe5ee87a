//! Jeepay's MD5 signature (`JeepayKit.getSign`), byte for byte.
//!
//! Entries are rendered `key=value&`, sorted with Java's `String.CASE_INSENSITIVE_ORDER` over the
//! *whole entry string*, concatenated, suffixed with `key=<secret>` and digested with MD5 into
//! upper-case hex. Null and empty-string values are left out by the caller ([`signable`]).

use std::cmp::Ordering;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// An upper-case hex MD5 signature: always 32 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 32]);

impl Signature {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into the array.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Jeepay's server compares with `equalsIgnoreCase`; this does the same in constant time.
    pub fn matches(&self, given: &str) -> bool {
        let given = given.as_bytes();
        if given.len() != self.0.len() {
            return false;
        }
        let mut upper = [0u8; 32];
        for (dst, src) in upper.iter_mut().zip(given) {
            *dst = src.to_ascii_uppercase();
        }
        bool::from(upper.ct_eq(&self.0))
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether Jeepay signs a field at all: `sign` itself and empty strings are left out.
/// (Nulls never reach this point: the caller has no text for them.)
pub fn signable(key: &str, value: &str) -> bool {
    key != "sign" && !value.is_empty()
}

/// Sorts `fields` the way Jeepay does and writes the signed payload (everything before the secret),
/// e.g. `appId=..&mchNo=..&`. Fields must already be filtered with [`signable`].
pub fn write_payload(fields: &mut [(&str, &str)], out: &mut String) {
    sort(fields);
    for (key, value) in fields.iter() {
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('&');
    }
}

/// The exact string Jeepay digests: the payload followed by `key=<secret>`.
pub fn string_to_sign(fields: &mut [(&str, &str)], secret: &str) -> String {
    let mut out = String::with_capacity(256);
    write_payload(fields, &mut out);
    out.push_str("key=");
    out.push_str(secret);
    out
}

/// The signature of `fields` (already filtered with [`signable`]) under `secret`: the digest of
/// [`string_to_sign`], fed to MD5 piece by piece instead of being built first.
pub fn sign(fields: &mut [(&str, &str)], secret: &str) -> Signature {
    sort(fields);
    let mut md5 = Md5::new();
    for (key, value) in fields.iter() {
        md5.update(key.as_bytes());
        md5.update(b"=");
        md5.update(value.as_bytes());
        md5.update(b"&");
    }
    md5.update(b"key=");
    md5.update(secret.as_bytes());
    hex_upper(&md5.finalize())
}

/// Upper-case hex MD5 of a complete string to sign.
pub fn digest(string_to_sign: &str) -> Signature {
    hex_upper(&Md5::digest(string_to_sign.as_bytes()))
}

fn hex_upper(hash: &[u8]) -> Signature {
    let mut hex_out = [0u8; 32];
    // 16 bytes always fit 32 hex digits.
    let _ = hex::encode_to_slice(hash, &mut hex_out);
    hex_out.make_ascii_uppercase();
    Signature(hex_out)
}

/// Jeepay's order of the entries; ASCII-only entries (the usual case) take a byte-wise path.
fn sort(fields: &mut [(&str, &str)]) {
    if fields.iter().all(|(k, v)| k.is_ascii() && v.is_ascii()) {
        fields.sort_by(compare_ascii_entries);
    } else {
        fields.sort_by(compare_entries);
    }
}

/// [`compare_entries`] for ASCII-only entries: each byte is one UTF-16 unit, and folding it is
/// ASCII lower-casing.
fn compare_ascii_entries(a: &(&str, &str), b: &(&str, &str)) -> Ordering {
    // Byte `i` of the entry `key=value&`, without building it.
    fn at(key: &[u8], value: &[u8], i: usize) -> u8 {
        match i.cmp(&key.len()) {
            Ordering::Less => key[i],
            Ordering::Equal => b'=',
            Ordering::Greater => value.get(i - key.len() - 1).copied().unwrap_or(b'&'),
        }
    }
    let (ak, av, bk, bv) = (
        a.0.as_bytes(),
        a.1.as_bytes(),
        b.0.as_bytes(),
        b.1.as_bytes(),
    );
    let (left_len, right_len) = (ak.len() + av.len() + 2, bk.len() + bv.len() + 2);
    // The first case-sensitive difference decides between entries equal but for case.
    let mut raw = Ordering::Equal;
    for i in 0..left_len.min(right_len) {
        let (x, y) = (at(ak, av, i), at(bk, bv, i));
        let folded = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
        if folded != Ordering::Equal {
            return folded;
        }
        if raw == Ordering::Equal {
            raw = x.cmp(&y);
        }
    }
    left_len.cmp(&right_len).then(raw)
}

/// `String.CASE_INSENSITIVE_ORDER` applied to the entry strings `key=value&`, without building them.
fn compare_entries(a: &(&str, &str), b: &(&str, &str)) -> Ordering {
    let left = entry_units(a.0, a.1);
    let right = entry_units(b.0, b.1);
    let folded = left.map(fold_case).cmp(right.map(fold_case));
    // Java's sort is stable over HashMap order; entries equal but for case get a fixed order here.
    folded.then_with(|| entry_units(a.0, a.1).cmp(entry_units(b.0, b.1)))
}

fn entry_units<'a>(key: &'a str, value: &'a str) -> impl Iterator<Item = u16> + 'a {
    key.encode_utf16()
        .chain(std::iter::once(u16::from(b'=')))
        .chain(value.encode_utf16())
        .chain(std::iter::once(u16::from(b'&')))
}

/// `Character.toLowerCase(Character.toUpperCase(c))` on one UTF-16 unit (simple case mapping:
/// a mapping to several characters leaves the character unchanged, as Java's `char` methods do).
fn fold_case(unit: u16) -> u16 {
    if unit < 0x80 {
        return u16::from((unit as u8).to_ascii_lowercase());
    }
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit; // a lone surrogate half compares as itself
    };
    let upper = single(c.to_uppercase()).unwrap_or(c);
    let lower = single(upper.to_lowercase()).unwrap_or(upper);
    let mut buf = [0u16; 2];
    match lower.encode_utf16(&mut buf) {
        [one] => *one,
        _ => unit,
    }
}

fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_entry_sort_puts_a1_before_a() {
        let mut fields = [("a", "x"), ("a1", "y"), ("B", "z"), ("b_c", "w")];
        let s = string_to_sign(&mut fields, "k");
        assert_eq!(s, "a1=y&a=x&B=z&b_c=w&key=k");
    }

    #[test]
    fn streamed_signature_is_the_digest_of_the_string_to_sign() {
        let sets: [&[(&str, &str)]; 4] = [
            &[
                ("version", "1.0"),
                ("signType", "MD5"),
                ("mchNo", "M1"),
                ("appId", "a"),
            ],
            &[
                ("a", "x"),
                ("a1", "y"),
                ("B", "z"),
                ("b_c", "w"),
                ("A", "x"),
            ],
            &[
                ("Ä", "1"),
                ("ä", "2"),
                ("z", "ß"),
                ("ß", "z"),
                ("支付", "é"),
            ],
            &[],
        ];
        for set in sets {
            let mut fields = set.to_vec();
            let expected = digest(&string_to_sign(&mut fields.clone(), "sEc"));
            assert_eq!(sign(&mut fields, "sEc"), expected, "{set:?}");
        }
    }

    #[test]
    fn ascii_sort_agrees_with_the_utf16_rule() {
        let entries = [
            ("a", "x"),
            ("a1", "y"),
            ("B", "z"),
            ("b_c", "w"),
            ("A", "x"),
            ("a", "X"),
            ("_", ""),
            ("Z", "["),
            ("ab", "c"),
            ("a", "b=c"),
            ("AB", "C"),
            ("a", ""),
            ("a=", "x"),
        ];
        for a in entries {
            for b in entries {
                let slow = entry_units(a.0, a.1)
                    .map(fold_case)
                    .cmp(entry_units(b.0, b.1).map(fold_case))
                    .then_with(|| entry_units(a.0, a.1).cmp(entry_units(b.0, b.1)));
                assert_eq!(compare_ascii_entries(&a, &b), slow, "{a:?} {b:?}");
                assert_eq!(compare_entries(&a, &b), slow, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn empty_map_signs_only_the_key() {
        assert_eq!(string_to_sign(&mut [], "S"), "key=S");
    }

    #[test]
    fn comparison_is_case_insensitive_and_constant_length() {
        let sig = digest("key=S");
        assert!(sig.matches(&sig.as_str().to_ascii_lowercase()));
        assert!(sig.matches(sig.as_str()));
        assert!(!sig.matches(&sig.as_str()[..31]));
        assert!(!sig.matches(""));
    }

    #[test]
    fn non_ascii_folding_matches_java() {
        // 'ß' has no single-character upper case: it compares as itself.
        assert_eq!(fold_case('ß' as u16), 'ß' as u16);
        assert_eq!(fold_case('Ä' as u16), 'ä' as u16);
        assert_eq!(fold_case('=' as u16), '=' as u16);
    }
}
