//! The derived vectors of DaxPay 3.0 (`vectors/derived/daxpay-3.0-lifecycle.json`), made by
//! running copies of DaxPay 3.0.0's `PaySignUtil` with hutool (not golden vectors from a live
//! server; `vectors/README.md`): answers whose `data` is a typed result are signed over `data` in
//! its declaration order, nulls dropped, decimals stripped, strings escaped the hutool way; a
//! callback's map `data` is signed with its keys sorted case-insensitively. paybridge verifies
//! them from the JSON as received. Every entry of the file is checked, and their number too, so a
//! truncated file fails.

use std::path::PathBuf;

use paybridge::dialect::daxpay::answer::{read_answer, Answer};
use paybridge::dialect::daxpay::callback::{read_callback, SignOrder};
use paybridge::dialect::daxpay::sign::{self, string_to_sign};
use paybridge::dialect::daxpay::{Scheme, SignType, Version};
use serde_json::{Map, Value};

/// The entries of the file, by kind: a shorter file is a truncated one.
const ANSWERS: usize = 2;
const CALLBACKS: usize = 1;
const RENDERINGS: usize = 1;

fn load() -> Vec<Map<String, Value>> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/derived/daxpay-3.0-lifecycle.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("a JSON array of objects")
}

fn of_kind(kind: &str) -> Vec<Map<String, Value>> {
    load()
        .into_iter()
        .filter(|entry| entry["kind"] == kind)
        .collect()
}

fn text<'a>(entry: &'a Map<String, Value>, key: &str) -> &'a str {
    entry[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn version(entry: &Map<String, Value>) -> Version {
    text(entry, "version").parse().expect("version")
}

/// Each `(sign type, digest)` of an entry's `key` member.
fn signs(entry: &Map<String, Value>, key: &str) -> Vec<(SignType, String)> {
    entry[key]
        .as_object()
        .unwrap_or_else(|| panic!("{key} is not an object"))
        .iter()
        .map(|(t, d)| {
            (
                t.parse().expect("sign type"),
                d.as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `object` with `sign` added, as the gateway would post it.
fn signed_body(object: &Map<String, Value>, sign: &str) -> Vec<u8> {
    let mut object = object.clone();
    object.insert("sign".to_owned(), Value::String(sign.to_owned()));
    Value::Object(object).to_string().into_bytes()
}

#[test]
fn the_file_holds_every_derived_vector() {
    let entries = load();
    let count = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("answer"), ANSWERS);
    assert_eq!(count("callback"), CALLBACKS);
    assert_eq!(count("rendering"), RENDERINGS);
    assert_eq!(
        entries.len(),
        ANSWERS + CALLBACKS + RENDERINGS,
        "unknown kinds"
    );
}

#[test]
fn typed_results_sign_in_declaration_order_with_hutool_rendering() {
    let mut checked = 0;
    for entry in of_kind("answer") {
        let name = text(&entry, "name");
        let secret = text(&entry, "secret");
        let answer = entry["answer"].as_object().expect("answer");
        let mut fields = sign::fields_of(answer);
        assert_eq!(
            string_to_sign(version(&entry), &mut fields, secret),
            text(&entry, "string_to_sign"),
            "{name}: string to sign"
        );
        for (sign_type, expected) in signs(&entry, "signs") {
            let scheme = Scheme::new(version(&entry), sign_type);
            assert_eq!(
                scheme.sign(&mut fields, secret),
                expected,
                "{name}: {sign_type:?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, ANSWERS);
}

#[test]
fn answers_carrying_the_vectors_are_believed_and_tampered_ones_are_not() {
    let mut checked = 0;
    for entry in of_kind("answer") {
        let name = text(&entry, "name");
        let secret = text(&entry, "secret");
        let answer = entry["answer"].as_object().expect("answer");
        let trace_id = text(answer, "traceId");
        for (sign_type, sign) in signs(&entry, "signs") {
            let scheme = Scheme::new(version(&entry), sign_type);
            let read = read_answer(&scheme, secret, &signed_body(answer, &sign));
            assert!(
                matches!(&read, Ok(Answer::Done { trace_id: Some(t), .. }) if t == trace_id),
                "{name} {sign_type:?}: {read:?}"
            );
            // The same data with its keys sorted is another string: not DaxPay's signature.
            let mut sorted: Vec<(&String, &Value)> =
                answer["data"].as_object().unwrap().iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let resorted: Map<String, Value> = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut tampered = answer.clone();
            tampered.insert("data".to_owned(), Value::Object(resorted));
            assert!(
                read_answer(&scheme, secret, &signed_body(&tampered, &sign)).is_err(),
                "{name} {sign_type:?}: re-sorted data believed"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "two answers, md5 and hmac_sha256 each");
}

/// DaxPay 3.0.0's server signs a callback's map `data` sorted; the SDK's own example notice
/// carries the digest of the declared order. Both are believed, and which one matched is said.
#[test]
fn callbacks_verify_sorted_and_declared_and_say_which() {
    let mut checked = 0;
    for entry in of_kind("callback") {
        let name = text(&entry, "name");
        let secret = text(&entry, "secret");
        let callback = entry["callback"].as_object().expect("callback");
        for (key, order) in [
            ("signs", SignOrder::Sorted),
            ("declared_order_signs", SignOrder::Declared),
        ] {
            for (sign_type, sign) in signs(&entry, key) {
                let scheme = Scheme::new(version(&entry), sign_type);
                let read = read_callback(&scheme, secret, &signed_body(callback, &sign))
                    .unwrap_or_else(|e| panic!("{name} {key} {sign_type:?}: {e:?}"));
                assert_eq!(read.order, order, "{name} {key}");
                assert_eq!(&read.data, callback["data"].as_object().unwrap());
                let mut tampered = callback.clone();
                tampered["data"]["status"] = Value::String("success".to_owned());
                assert!(
                    read_callback(&scheme, secret, &signed_body(&tampered, &sign)).is_err(),
                    "{name} {key}: a tampered status believed"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * CALLBACKS);
}

#[test]
fn escaping_rules_of_the_vectors() {
    // A newline inside a data string signs as the letter N, 100.00 as 100, U+00A0 as U00A0.
    let mut checked = 0;
    for entry in of_kind("rendering") {
        let mut fields = vec![("data", sign::render(&entry["data"]).unwrap())];
        assert_eq!(
            string_to_sign(version(&entry), &mut fields, text(&entry, "secret")),
            text(&entry, "string_to_sign"),
            "{}",
            text(&entry, "name")
        );
        checked += 1;
    }
    assert_eq!(checked, RENDERINGS);
}
