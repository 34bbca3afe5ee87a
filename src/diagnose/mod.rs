//! Why a signature does not verify: the logic behind `paybridge verify`.
//!
//! [`diagnose`] verifies one signed body (a request, or an answer) the way the receiving side does.
//! When the signature does not verify, it re-signs *variants* of the body, each one a mistake
//! integrators make (a lower-case digest, empty fields signed, a plain key sort, a missing
//! upper-casing, quotes kept, another digest...), alone and in combination. A variant whose
//! signature equals the received one proves the mistake: that is how a [`Cause`] is known rather
//! than guessed. Only when no variant matches is the wrong key (or a value changed after signing)
//! named, as it cannot be proven.
//!
//! epay's parameters are read from a form body, a query string or URL, or a JSON answer
//! ([`diagnose_epay`]), and checked by MD5 or RSA with the variants of `epay_variants.rs`.
//!
//! The correct signing is the library's ([`jeepay::sign`], [`daxpay::sign`],
//! [`epay::sign`](crate::dialect::epay::sign)). The few variants the
//! library cannot express are written here, each marked as deliberately *wrong* signing.

use serde_json::{Map, Value};

use crate::dialect::daxpay::{self, SignType, Version};
use crate::dialect::epay::{params, sign::Filter};

mod daxpay_variants;
mod epay_variants;
mod jeepay_variants;
mod report;
#[cfg(test)]
mod tests;

use report::Redactor;
pub use report::{Cause, Diagnosis, InputError, JEEPAY_CLOSE_DECLARED};

use daxpay_variants::DaxpaySubject;
pub use epay_variants::EpayKey;
use epay_variants::EpaySubject;
use jeepay_variants::JeepaySubject;

/// Which side's rules to verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Jeepay MD5. A request is checked over the close request's declared fields only when it
    /// looks like a close request (`mchNo`, `appId` and `signType` present) or when
    /// `declared_only_close` says so; otherwise over all its fields.
    Jeepay { declared_only_close: bool },
    /// DaxPay, in one wire version and sign type.
    Daxpay {
        version: Version,
        sign_type: SignType,
    },
}

/// Verifies the signed JSON body `body` with `secret` under `dialect`'s rules, and when it does not
/// verify, finds out why. The body is a request or answer with a `sign` field; a body without one
/// whose `data` object has one (a DaxPay 2.0 answer) is verified over `data`. A Jeepay answer
/// envelope (`code`, `data`, `msg`, `sign`) is verified over the fields of `data`.
pub fn diagnose(body: &str, secret: &str, dialect: Dialect) -> Result<Diagnosis, InputError> {
    if secret.is_empty() {
        return Err(InputError::EmptyKey);
    }
    let root: Map<String, Value> = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err(InputError::NotObject),
        Err(e) => return Err(InputError::NotJson(e.to_string())),
    };
    let located = locate(&root, dialect)?;
    let received = match located.sign {
        Value::String(s) if s.is_empty() => return Err(InputError::EmptySign),
        Value::String(s) => s.as_str(),
        _ => return Err(InputError::SignNotString),
    };
    let redact = Redactor::new(secret);
    let mut diagnosis = match dialect {
        Dialect::Jeepay {
            declared_only_close,
        } => {
            let declared_only = !located.jeepay_answer
                && (declared_only_close || looks_like_jeepay_close(located.fields));
            let subject = JeepaySubject::new(located.fields, declared_only, located.jeepay_answer)?;
            subject.diagnose(secret, received, &redact)
        }
        Dialect::Daxpay { version, sign_type } => {
            let subject = DaxpaySubject {
                fields: daxpay::sign::fields_of(located.fields),
                version,
                sign_type,
            };
            subject.diagnose(secret, received, &redact)
        }
    };
    diagnosis.received = redact.clean(received);
    Ok(diagnosis)
}

/// Verifies a set of epay parameters (`input`: a form body, a query string or a URL with one, or a
/// JSON object such as a V2 answer) with `key`, by the rule of the gateway build `filter`, and when
/// the signature does not verify, finds out why. `now` (Unix seconds) is what an RSA-signed
/// `timestamp` is compared with; a stale one is noted, not counted against the signature.
pub fn diagnose_epay(
    input: &str,
    key: EpayKey<'_>,
    filter: Filter,
    now: i64,
) -> Result<Diagnosis, InputError> {
    let secret = match key {
        EpayKey::Md5("") => return Err(InputError::EmptyKey),
        EpayKey::Md5(secret) => secret,
        EpayKey::Rsa(_) => "",
    };
    let owned = epay_params(input)?;
    let pairs = params::borrowed(&owned);
    let received = match pairs.iter().rev().find(|(k, _)| *k == "sign") {
        None => return Err(InputError::NoEpaySign),
        Some((_, "")) => return Err(InputError::EmptySign),
        Some((_, sign)) => *sign,
    };
    let redact = Redactor::new(secret);
    let subject = EpaySubject {
        params: &pairs,
        filter,
    };
    let mut diagnosis = subject.diagnose(key, received, &redact, now);
    diagnosis.received = redact.clean(received);
    Ok(diagnosis)
}

/// epay parameters from a JSON object (text starting with `{`) or a form / query string / URL.
pub fn epay_params(input: &str) -> Result<Vec<(String, String)>, InputError> {
    let trimmed = input.trim();
    let read = if trimmed.starts_with('{') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(o)) => params::from_json(&o),
            Ok(_) => return Err(InputError::NotObject),
            Err(e) => return Err(InputError::NotJson(e.to_string())),
        }
    } else {
        params::from_form(trimmed)
    };
    read.map_err(|e| InputError::Params(e.to_string()))
}

/// Where the signed fields and the signature are in the body.
struct Located<'a> {
    /// The object whose fields are signed (`sign` itself is skipped when signing).
    fields: &'a Map<String, Value>,
    sign: &'a Value,
    jeepay_answer: bool,
}

fn locate(root: &Map<String, Value>, dialect: Dialect) -> Result<Located<'_>, InputError> {
    if let Some(sign) = root.get("sign") {
        if matches!(dialect, Dialect::Jeepay { .. }) {
            if let Some(Value::Object(data)) = root.get("data") {
                let envelope_only = root
                    .keys()
                    .all(|k| matches!(k.as_str(), "code" | "data" | "msg" | "sign"));
                if envelope_only && root.contains_key("code") {
                    return Ok(Located {
                        fields: data,
                        sign,
                        jeepay_answer: true,
                    });
                }
            }
        }
        return Ok(Located {
            fields: root,
            sign,
            jeepay_answer: false,
        });
    }
    match root.get("data") {
        Some(Value::Object(data)) if data.contains_key("sign") => Ok(Located {
            fields: data,
            sign: &data["sign"],
            jeepay_answer: false,
        }),
        _ => Err(InputError::NoSign),
    }
}

fn looks_like_jeepay_close(fields: &Map<String, Value>) -> bool {
    ["mchNo", "appId", "signType"]
        .iter()
        .all(|k| fields.get(*k).is_some_and(|v| !v.is_null()))
}
