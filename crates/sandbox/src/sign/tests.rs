//! Every golden vector in the repository's `vectors/golden/` (`vectors/README.md`), checked
//! against the sandboxes' own signers: the exact string to sign and each signature. The number
//! of entries checked is asserted, so a truncated copy fails.

use std::borrow::Cow;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::daxpay::{fields_of, Scheme, SignType, Version};
use super::jeepay;

/// What the golden files hold: Jeepay entries, and DaxPay signatures (one per sign type).
const JEEPAY_ENTRIES: usize = 6;
const DAXPAY_SIGNATURES: usize = 17;

fn load(name: &str) -> Vec<Map<String, Value>> {
    // This crate sits at crates/sandbox: the vectors are the workspace's.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entries: Vec<Map<String, Value>> =
        serde_json::from_str(&text).expect("vector file is a JSON array of objects");
    assert!(!entries.is_empty(), "{} holds no vectors", path.display());
    entries
}

fn text<'a>(entry: &'a Map<String, Value>, key: &str) -> &'a str {
    entry[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

#[test]
fn every_daxpay_vector() {
    let mut checked = 0;
    for entry in load("daxpay.json") {
        let name = text(&entry, "name");
        let version: Version = text(&entry, "version").parse().expect("version");
        let secret = text(&entry, "secret");
        let fields = fields_of(entry["fields"].as_object().expect("fields"));
        for (sign_type, expected) in entry["signs"].as_object().expect("signs") {
            let sign_type: SignType = sign_type.parse().expect("sign type");
            let scheme = Scheme::new(version, sign_type);
            assert_eq!(
                scheme.string_to_sign(&fields, secret),
                text(&entry, "string_to_sign"),
                "{name}: string to sign"
            );
            let expected = expected.as_str().expect("sign");
            assert_eq!(
                scheme.sign(&fields, secret),
                expected,
                "{name}: {sign_type}"
            );
            assert!(scheme.verify(&fields, secret, expected), "{name}");
            assert!(!scheme.verify(&fields, secret, &expected.to_uppercase()));
            checked += 1;
        }
    }
    assert_eq!(checked, DAXPAY_SIGNATURES, "DaxPay signatures checked");
}

#[test]
fn every_jeepay_vector() {
    let mut checked = 0;
    for entry in load("jeepay.json") {
        let name = text(&entry, "name");
        let secret = text(&entry, "secret");
        let owned: Vec<(String, String)> = entry["fields"]
            .as_object()
            .expect("fields")
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Null => None,
                Value::String(s) => Some((k.clone(), s.clone())),
                other => Some((k.clone(), other.to_string())),
            })
            .collect();
        let fields: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            jeepay::string_to_sign(&fields, secret),
            text(&entry, "string_to_sign"),
            "{name}: string to sign"
        );
        let sign = jeepay::sign(&fields, secret);
        assert_eq!(sign, text(&entry, "sign"), "{name}: sign");
        assert!(jeepay::matches(&sign, &sign.to_ascii_lowercase()));
        checked += 1;
    }
    assert_eq!(checked, JEEPAY_ENTRIES, "Jeepay vectors checked");
}

#[test]
fn decimals_are_stripped_like_big_decimal() {
    use super::daxpay::strip_decimal;
    for (written, signed) in [
        ("12.3000", "12.3"),
        ("100.00", "100"),
        ("0.01", "0.01"),
        ("0.0000", "0"),
        ("7", "7"),
        ("-1.50", "-1.5"),
    ] {
        assert_eq!(strip_decimal(written), signed, "{written}");
    }
    let scheme = Scheme::new(Version::V3_0Beta, SignType::Md5);
    let fields = [("a", Cow::Borrowed("x\"y\\z"))];
    assert_eq!(scheme.string_to_sign(&fields, "k"), "a=xyz&key=k");
}
