//! epay's derived vectors (`vectors/derived/epay.json`, written from epay.md §15): every MD5 entry
//! signed and verified by the library's rule (build 3094's filter, or 3065's where the entry says
//! so), every RSA entry signed with SDK2's sample private key (PKCS#1 v1.5 is deterministic, so
//! byte for byte) and verified with its public key, and every wire form (a notification's query
//! string, a V2 answer's JSON) decoded as PHP decodes it before the same checks. The number of
//! entries, signatures and wire forms checked is asserted, so a truncated copy fails.

use std::path::PathBuf;

use paybridge::dialect::epay::params::{borrowed, from_form, from_json};
use paybridge::dialect::epay::sign::{
    md5_sign, md5_verify, rsa_verify, string_to_sign, Filter, RsaSigner, RsaVerifier,
};
use serde_json::{Map, Value};

const ENTRIES: usize = 12;
const MD5_SIGNATURES: usize = 9;
const RSA_SIGNATURES: usize = 3;
const WIRE_FORMS: usize = 4;

fn load() -> Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/derived/epay.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text).expect("a JSON document") {
        Value::Object(doc) => doc,
        _ => panic!("not an object"),
    }
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string"))
}

/// The entry's parameters: `params` as listed, else the wire form (`body` JSON or `query`).
fn params_of(entry: &Map<String, Value>) -> Vec<(String, String)> {
    if let Some(Value::Object(params)) = entry.get("params") {
        return from_json(params).unwrap();
    }
    wire_params(entry).expect("params, body or query")
}

fn wire_params(entry: &Map<String, Value>) -> Option<Vec<(String, String)>> {
    if let Some(Value::String(body)) = entry.get("body") {
        let Value::Object(object) = serde_json::from_str(body).unwrap() else {
            panic!("body is not an object")
        };
        return Some(from_json(&object).unwrap());
    }
    entry
        .get("query")
        .and_then(Value::as_str)
        .map(|q| from_form(q).unwrap())
}

#[test]
fn epay_derived_vectors() {
    let doc = load();
    let key = text(&doc, "md5_key");
    let signer = RsaSigner::from_text(text(&doc, "rsa_private_key")).unwrap();
    let verifier = RsaVerifier::from_text(text(&doc, "rsa_public_key")).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    let (mut md5s, mut rsas, mut wires) = (0, 0, 0);
    for entry in entries {
        let entry = entry.as_object().unwrap();
        let name = text(entry, "name");
        let expected_string = text(entry, "string");
        let sign = text(entry, "sign");
        let params = params_of(entry);
        match text(entry, "kind") {
            "md5" => {
                let filter = match text(entry, "filter") {
                    "3094" => Filter::Build3094,
                    "3065" => Filter::Build3065,
                    other => panic!("{name}: filter {other}"),
                };
                let string = string_to_sign(&borrowed(&params), filter);
                assert_eq!(string, expected_string, "{name}: string");
                assert_eq!(md5_sign(&string, key).as_str(), sign, "{name}: sign");
                let mut signed = params.clone();
                signed.retain(|(k, _)| k != "sign");
                signed.push(("sign".to_owned(), sign.to_owned()));
                assert!(md5_verify(&borrowed(&signed), key, filter), "{name}");
                let upper = sign.to_uppercase();
                signed.last_mut().unwrap().1 = upper;
                assert!(
                    !md5_verify(&borrowed(&signed), key, filter),
                    "{name}: upper case"
                );
                md5s += 1;
            }
            "rsa" => {
                let string = string_to_sign(&borrowed(&params), Filter::Build3094);
                assert_eq!(string, expected_string, "{name}: string");
                assert_eq!(signer.sign(&string), sign, "{name}: sign");
                assert!(verifier.verify(&string, sign), "{name}");
                assert!(
                    !verifier.verify(&format!("{string}&x=1"), sign),
                    "{name}: tampered"
                );
                rsas += 1;
            }
            other => panic!("{name}: kind {other}"),
        }
        // The wire form carries the same signature over the same decoded values.
        if let Some(wire) = wire_params(entry) {
            let pairs = borrowed(&wire);
            assert_eq!(
                pairs.iter().find(|(k, _)| *k == "sign").map(|(_, v)| *v),
                Some(sign),
                "{name}: wire sign"
            );
            let verified = match text(entry, "kind") {
                "md5" => md5_verify(&pairs, key, Filter::Build3094),
                _ => rsa_verify(&pairs, &verifier),
            };
            assert!(verified, "{name}: the wire form verifies");
            wires += 1;
        }
    }
    assert_eq!(entries.len(), ENTRIES);
    assert_eq!(
        (md5s, rsas, wires),
        (MD5_SIGNATURES, RSA_SIGNATURES, WIRE_FORMS)
    );
}

/// The sample private key's public half is the public key the vectors give (epay.md §15).
#[test]
fn the_sample_pair_belongs_together() {
    let doc = load();
    let signer = RsaSigner::from_text(text(&doc, "rsa_private_key")).unwrap();
    let verifier = RsaVerifier::from_text(text(&doc, "rsa_public_key")).unwrap();
    assert!(verifier.verify("a=1", &signer.sign("a=1")));
}
