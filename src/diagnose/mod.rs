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
//! The correct signing is the library's ([`jeepay::sign`], [`daxpay::sign`]). The few variants the
//! library cannot express are written here, each marked as deliberately *wrong* signing.

use std::fmt;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::dialect::daxpay::{self, Scheme, SignType, Version};
use crate::dialect::jeepay;

mod daxpay_variants;
mod jeepay_variants;
#[cfg(test)]
mod tests;

use daxpay_variants::DaxpaySubject;
use jeepay_variants::JeepaySubject;

/// The fields of Jeepay's close request (`ClosePayOrderRQ`) that its server signs (`sign` aside).
pub const JEEPAY_CLOSE_DECLARED: [&str; 7] = [
    "version",
    "signType",
    "reqTime",
    "mchNo",
    "appId",
    "mchOrderNo",
    "payOrderId",
];

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

/// Input that cannot be verified at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    NotJson(String),
    NotObject,
    NoSign,
    SignNotString,
    EmptySign,
    EmptyKey,
    /// A declared Jeepay close field holding an object or array: Jeepay cannot bind it.
    Unbindable(String),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotJson(e) => write!(f, "input is not valid JSON: {e}"),
            InputError::NotObject => f.write_str("input is not a JSON object"),
            InputError::NoSign => f.write_str(
                "input has no `sign` field (nor a `data` object holding one, as DaxPay 2.0 answers)",
            ),
            InputError::SignNotString => f.write_str("the `sign` field is not a string"),
            InputError::EmptySign => f.write_str("the `sign` field is empty"),
            InputError::EmptyKey => f.write_str("the key is empty"),
            InputError::Unbindable(key) => write!(
                f,
                "field `{key}` is an object or array: Jeepay cannot bind it to its close request (it answers code 11)"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// A mistake proven by re-signing: the received signature is exactly the one the mistake gives.
/// `Display` is the sentence after `likely cause: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Jeepay answers: the digest is not upper-case hex.
    DigestNotUpperCase,
    /// DaxPay: the digest is not lower-case hex.
    DigestNotLowerCase,
    /// Jeepay: fields whose value is `""` were signed.
    EmptyFieldsSigned(Vec<String>),
    /// DaxPay: fields whose value is `""` were left out.
    EmptyFieldsLeftOut(Vec<String>),
    /// Jeepay close: fields the request does not declare were signed.
    UndeclaredFieldsSigned(Vec<String>),
    /// Jeepay: keys sorted in plain byte order; Jeepay puts `first` before `second`.
    PlainKeySort { first: String, second: String },
    /// DaxPay 3.0: the string to sign was not upper-cased (3.0-beta / 2.0 rules).
    NotUpperCased,
    /// DaxPay 3.0-beta / 2.0 (`configured`): the string to sign was upper-cased (3.0 rules).
    UpperCased { configured: Version },
    /// DaxPay: `"` and `\` were kept in the string to sign (in these fields).
    QuotesKept(Vec<String>),
    /// DaxPay: another digest than the configured one.
    SignType {
        configured: SignType,
        used: SignType,
        /// A 3.0.0 server configured for sm3 computes MD5.
        sm3_is_md5: bool,
    },
    /// Nothing else matched: unprovable, hence last.
    WrongKey,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::DigestNotUpperCase => f.write_str(
                "the digest is not in upper case: Jeepay emits upper-case hex and its SDK checks answer signatures case-sensitively",
            ),
            Cause::DigestNotLowerCase => f.write_str(
                "the digest is not in lower case: DaxPay compares signatures case-sensitively and expects lower-case hex",
            ),
            Cause::EmptyFieldsSigned(names) => write!(
                f,
                "empty-string fields were signed ({}): Jeepay leaves out fields whose value is \"\"",
                names.join(", ")
            ),
            Cause::EmptyFieldsLeftOut(names) => write!(
                f,
                "empty-string fields were left out ({}): DaxPay keeps them and signs \"name=\"",
                names.join(", ")
            ),
            Cause::UndeclaredFieldsSigned(names) => write!(
                f,
                "undeclared fields were signed ({}): Jeepay's close request signs only {} and ignores the rest",
                names.join(", "),
                JEEPAY_CLOSE_DECLARED.join(", ")
            ),
            Cause::PlainKeySort { first, second } => write!(
                f,
                "keys were sorted in plain byte order: Jeepay sorts whole \"key=value&\" entries case-insensitively, which puts \"{first}\" before \"{second}\""
            ),
            Cause::NotUpperCased => f.write_str(
                "the string to sign was not upper-cased: DaxPay 3.0 upper-cases the whole string, the key included (the signer follows 3.0-beta/2.0 rules)",
            ),
            Cause::UpperCased { configured } => write!(
                f,
                "the string to sign was upper-cased as only DaxPay 3.0 does: {configured} signs it unchanged (the signer follows 3.0 rules; try --version 3.0)"
            ),
            Cause::QuotesKept(names) => write!(
                f,
                "quotes or backslashes were kept ({}): DaxPay removes every \" and \\ from the string to sign",
                names.join(", ")
            ),
            Cause::SignType {
                configured,
                used,
                sm3_is_md5,
            } => {
                write!(
                    f,
                    "the digest is {used}, not {configured}: the signer uses another sign type (try --sign-type {used})"
                )?;
                if *sm3_is_md5 {
                    f.write_str("; a DaxPay 3.0.0 server configured for sm3 really computes MD5 (set sm3_is_md5 for it)")?;
                }
                Ok(())
            }
            Cause::WrongKey => f.write_str("wrong key, or a field value changed after signing"),
        }
    }
}

/// The outcome of [`diagnose`]. Nothing in it holds the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub valid: bool,
    /// The signature the rules give (the canonical case: upper for Jeepay, lower for DaxPay).
    pub expected: String,
    pub received: String,
    /// The exact string to sign with the secret replaced by `***`.
    pub string_to_sign: String,
    /// Empty when valid; otherwise at least one (at worst [`Cause::WrongKey`]).
    pub causes: Vec<Cause>,
    /// Remarks that do not change the verdict.
    pub notes: Vec<String>,
}

impl Diagnosis {
    /// The report `paybridge verify` prints, one entry per line.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::with_capacity(4 + self.causes.len() + self.notes.len());
        if self.valid {
            lines.push("OK: signature valid".to_owned());
            lines.push(format!("string to sign: {}", self.string_to_sign));
        } else {
            lines.push("MISMATCH: signature does not verify".to_owned());
            lines.push(format!("expected: {}", self.expected));
            lines.push(format!("received: {}", self.received));
            lines.push(format!("string to sign: {}", self.string_to_sign));
            lines.extend(self.causes.iter().map(|c| format!("likely cause: {c}")));
        }
        lines.extend(self.notes.iter().map(|n| format!("note: {n}")));
        lines
    }
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

/// Keeps the secret (and its upper-case form, which DaxPay 3.0 signs) out of anything printed.
struct Redactor {
    secret: String,
    upper: String,
}

impl Redactor {
    fn new(secret: &str) -> Self {
        Redactor {
            secret: secret.to_owned(),
            upper: secret.to_uppercase(),
        }
    }

    fn clean(&self, text: &str) -> String {
        if self.secret.is_empty() {
            return text.to_owned();
        }
        let mut out = text.replace(&self.secret, "***");
        if !self.upper.is_empty() && out.contains(&self.upper) {
            out = out.replace(&self.upper, "***");
        }
        out
    }

    fn names<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        names.into_iter().map(|n| self.clean(n)).collect()
    }
}

/// One way of signing that departs from the rules: a mistake to recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deviation {
    /// Jeepay close: all fields signed, not only the declared ones.
    AllFields,
    /// Jeepay: `""` fields signed.
    KeepEmpty,
    /// Jeepay: plain byte-order key sort.
    PlainSort,
    /// DaxPay: `""` fields left out.
    DropEmpty,
    /// DaxPay: `"` and `\` kept.
    KeepQuotes,
    /// DaxPay: upper-casing applied where the version does not, or missing where it does.
    FlipUpper,
    /// DaxPay: another digest.
    SignType(SignType),
    /// The digest's letter case (only where case decides validity).
    Case,
}

/// The binary deviations of a dialect, as bits of a mask, in report order.
const JEEPAY_FLAGS: [Deviation; 3] = [
    Deviation::KeepEmpty,
    Deviation::AllFields,
    Deviation::PlainSort,
];
const DAXPAY_FLAGS: [Deviation; 3] = [
    Deviation::DropEmpty,
    Deviation::FlipUpper,
    Deviation::KeepQuotes,
];

/// Finds the variant with the fewest deviations whose signature is `received`; returns them.
///
/// `strings[mask]` is the string to sign for each combination of `flags`; `digests` gives, for a
/// string, each candidate digest with the extra deviation it implies (none for the configured one).
/// A combination where dropping one of its flags leaves the string unchanged is skipped: that flag
/// would not have been a mistake at all. `case_matters`: whether a digest equal but for case is a
/// mistake of its own ([`Deviation::Case`]) or accepted.
fn search(
    flags: &[Deviation],
    strings: &[String],
    digests: impl Fn(&str) -> Vec<(Option<Deviation>, String)>,
    received: &str,
    case_matters: bool,
) -> Option<Vec<Deviation>> {
    let mut best: Option<Vec<Deviation>> = None;
    for (mask, string) in strings.iter().enumerate() {
        let no_op = (0..flags.len())
            .any(|bit| mask & (1 << bit) != 0 && strings[mask & !(1 << bit)] == *string);
        if no_op {
            continue;
        }
        for (extra, digest) in digests(string) {
            let case = if digest == received {
                false
            } else if digest.eq_ignore_ascii_case(received) {
                case_matters
            } else {
                continue;
            };
            let mut deviations: Vec<Deviation> = (0..flags.len())
                .filter(|bit| mask & (1 << bit) != 0)
                .map(|bit| flags[bit])
                .collect();
            deviations.extend(extra);
            if case {
                deviations.push(Deviation::Case);
            }
            if deviations.is_empty() {
                continue; // the correct signing: not a mismatch
            }
            if best.as_ref().is_none_or(|b| deviations.len() < b.len()) {
                best = Some(deviations);
            }
        }
    }
    best
}
