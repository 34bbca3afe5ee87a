//! Arbitrary bytes as a DaxPay answer body, read with `read_answer` for every version × sign
//! type (and the 3.0.0 `sm3`-is-MD5 quirk). Never panics; never a `Done` for a non-zero code.
//!
//! Byte 0, bit 0 set: the rest is taken as a JSON object and, where it has the shape of an
//! answer, given the *correct* signature before it is read (so the fuzzer explores the verified
//! paths too, which it could never reach by guessing a digest). Otherwise the rest is read as it
//! is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::dialect::daxpay::sign::fields_of;
use paybridge::dialect::daxpay::answer::read_answer;
use paybridge::dialect::daxpay::{Answer, Scheme, SignType, Version};
use serde_json::{Map, Value};

const SECRET: &str = "dax_secret_Key123";

fn schemes() -> impl Iterator<Item = Scheme> {
    Version::ALL.into_iter().flat_map(|version| {
        SignType::ALL.into_iter().flat_map(move |sign_type| {
            let plain = Scheme::new(version, sign_type);
            let quirk = (sign_type == SignType::Sm3).then_some(Scheme {
                sm3_is_md5: true,
                ..plain
            });
            std::iter::once(plain).chain(quirk)
        })
    })
}

/// Signs `object` over `keys` (all its fields when `None`) the way DaxPay does and stores the
/// signature in `sign`.
fn sign_in_place(scheme: &Scheme, object: &mut Map<String, Value>, keys: Option<&[&str]>) {
    let subset: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| keys.is_none_or(|keys| keys.contains(&k.as_str())))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut fields = fields_of(&subset);
    let signature = scheme.sign(&mut fields, SECRET);
    object.insert("sign".to_owned(), Value::String(signature));
}

fn with_signature(scheme: &Scheme, body: &[u8]) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match scheme.version {
        Version::V2_0 => {
            let Some(Value::Object(data)) = envelope.get_mut("data") else {
                return None;
            };
            // 2.0 signs its result model inside `data`: every non-null field but `sign`.
            sign_in_place(scheme, data, None);
        }
        _ => sign_in_place(
            scheme,
            &mut envelope,
            Some(&["code", "msg", "data", "resTime", "traceId"]),
        ),
    }
    serde_json::to_vec(&Value::Object(envelope)).ok()
}

/// The code that has to be 0 for a success: the envelope's, and for 2.0 also `data.code`'s.
fn success_codes(scheme: &Scheme, body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let zero = |v: &Value| v.as_i64() == Some(0);
    match scheme.version {
        Version::V2_0 => zero(&value["code"]) && zero(&value["data"]["code"]),
        _ => zero(&value["code"]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = match data.split_first() {
        Some((m, r)) => (*m, r),
        None => (0, data),
    };
    for scheme in schemes() {
        let signed;
        let body = if mode & 1 == 1 {
            match with_signature(&scheme, rest) {
                Some(b) => {
                    signed = b;
                    &signed[..]
                }
                None => rest,
            }
        } else {
            rest
        };
        if let Ok(Answer::Done { .. }) = read_answer(&scheme, SECRET, body) {
            assert!(
                success_codes(&scheme, body),
                "{scheme:?}: Done for a non-zero code: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
});
