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

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::dialect::daxpay::{self, Scheme, SignType, Version};
use crate::dialect::jeepay;

#[cfg(test)]
mod tests;

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

/// A Jeepay body's fields, rendered as Jeepay writes them.
struct JeepaySubject<'a> {
    /// Every field but `sign` and nulls.
    fields: Vec<(&'a str, Cow<'a, str>)>,
    declared_only: bool,
    /// Answers are checked by the SDK in upper case; requests by the server in any case.
    answer: bool,
}

impl<'a> JeepaySubject<'a> {
    fn new(
        object: &'a Map<String, Value>,
        declared_only: bool,
        answer: bool,
    ) -> Result<Self, InputError> {
        let mut fields = Vec::with_capacity(object.len());
        for (key, value) in object {
            if key == "sign" {
                continue;
            }
            let text = match value {
                Value::Null => continue,
                Value::String(s) => Cow::Borrowed(s.as_str()),
                Value::Object(_) | Value::Array(_)
                    if declared_only && JEEPAY_CLOSE_DECLARED.contains(&key.as_str()) =>
                {
                    return Err(InputError::Unbindable(key.clone()));
                }
                // Numbers keep their literal text (arbitrary_precision), booleans true/false.
                other => Cow::Owned(other.to_string()),
            };
            fields.push((key.as_str(), text));
        }
        Ok(JeepaySubject {
            fields,
            declared_only,
            answer,
        })
    }

    fn declared(key: &str) -> bool {
        JEEPAY_CLOSE_DECLARED.contains(&key)
    }

    /// The fields signed under `deviations` (`AllFields`, `KeepEmpty`), unsorted.
    fn selected(&self, all_fields: bool, keep_empty: bool) -> Vec<(&str, &str)> {
        self.fields
            .iter()
            .map(|(k, v)| (*k, v.as_ref()))
            .filter(|(k, _)| !self.declared_only || all_fields || Self::declared(k))
            // Keeping "" fields is deliberately wrong signing, used only to recognise the mistake.
            .filter(|(k, v)| jeepay::sign::signable(k, v) || (keep_empty && *k != "sign"))
            .collect()
    }

    /// The string to sign for a combination of [`JEEPAY_FLAGS`].
    fn string(&self, mask: usize, secret: &str) -> String {
        let has = |d: Deviation| {
            JEEPAY_FLAGS
                .iter()
                .position(|f| *f == d)
                .is_some_and(|b| mask & (1 << b) != 0)
        };
        let mut fields = self.selected(has(Deviation::AllFields), has(Deviation::KeepEmpty));
        let mut out = String::with_capacity(256);
        if has(Deviation::PlainSort) {
            write_plain_sorted(&mut fields, &mut out);
        } else {
            jeepay::sign::write_payload(&mut fields, &mut out);
        }
        out.push_str("key=");
        out.push_str(secret);
        out
    }

    fn diagnose(&self, secret: &str, received: &str, redact: &Redactor) -> Diagnosis {
        let mut fields = self.selected(false, false);
        let mut payload = String::with_capacity(256);
        jeepay::sign::write_payload(&mut fields, &mut payload);
        let expected = jeepay::sign::digest(&format!("{payload}key={secret}"));
        let valid = if self.answer {
            // Jeepay's SDK compares answer signatures exactly (upper case).
            expected.as_str().len() == received.len()
                && bool::from(expected.as_str().as_bytes().ct_eq(received.as_bytes()))
        } else {
            // Jeepay's server: case-insensitive, constant time.
            expected.matches(received)
        };
        let mut diagnosis = Diagnosis {
            valid,
            expected: expected.to_string(),
            received: String::new(),
            string_to_sign: redact.clean(&format!("{payload}key=***")),
            causes: Vec::new(),
            notes: Vec::new(),
        };
        if valid {
            if received != expected.as_str() {
                diagnosis.notes.push(
                    "the digest is not in upper case: Jeepay's server accepts it, but Jeepay itself emits upper case".to_owned(),
                );
            }
            let ignored: Vec<&str> = self
                .fields
                .iter()
                .filter(|(k, _)| self.declared_only && !Self::declared(k))
                .map(|(k, _)| *k)
                .collect();
            if !ignored.is_empty() {
                diagnosis.notes.push(format!(
                    "not signed, as Jeepay's close request does not declare them: {}",
                    redact.names(ignored).join(", ")
                ));
            }
            return diagnosis;
        }
        let strings: Vec<String> = (0..1 << JEEPAY_FLAGS.len())
            .map(|mask| self.string(mask, secret))
            .collect();
        let found = search(
            &JEEPAY_FLAGS,
            &strings,
            |s| vec![(None, jeepay::sign::digest(s).to_string())],
            received,
            self.answer,
        );
        diagnosis.causes = match found {
            Some(deviations) => self.causes(&deviations, redact),
            None => vec![Cause::WrongKey],
        };
        diagnosis
    }

    fn causes(&self, deviations: &[Deviation], redact: &Redactor) -> Vec<Cause> {
        let has = |d: Deviation| deviations.contains(&d);
        let all_fields = has(Deviation::AllFields);
        let keep_empty = has(Deviation::KeepEmpty);
        let mut causes = Vec::new();
        if has(Deviation::Case) {
            causes.push(Cause::DigestNotUpperCase);
        }
        if keep_empty {
            let names = self
                .selected(all_fields, true)
                .into_iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(k, _)| k);
            causes.push(Cause::EmptyFieldsSigned(redact.names(names)));
        }
        if all_fields {
            let names = self
                .selected(true, keep_empty)
                .into_iter()
                .filter(|(k, _)| !Self::declared(k))
                .map(|(k, _)| k);
            causes.push(Cause::UndeclaredFieldsSigned(redact.names(names)));
        }
        if has(Deviation::PlainSort) {
            let mut jeepay_order = self.selected(all_fields, keep_empty);
            let mut plain_order = jeepay_order.clone();
            let mut scratch = String::new();
            jeepay::sign::write_payload(&mut jeepay_order, &mut scratch);
            write_plain_sorted(&mut plain_order, &mut scratch);
            if let Some(((first, _), (second, _))) = jeepay_order
                .iter()
                .zip(&plain_order)
                .find(|(a, b)| a.0 != b.0)
            {
                causes.push(Cause::PlainKeySort {
                    first: redact.clean(first),
                    second: redact.clean(second),
                });
            }
        }
        causes
    }
}

/// Deliberately *wrong* Jeepay signing, used only to recognise a mistake: keys sorted in plain
/// byte order instead of Jeepay's case-insensitive order over whole `key=value&` entries.
fn write_plain_sorted(fields: &mut [(&str, &str)], out: &mut String) {
    fields.sort_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)));
    for (key, value) in fields.iter() {
        out.push_str(key);
        out.push('=');
        out.push_str(value);
        out.push('&');
    }
}

/// A DaxPay body's signable fields, and the rules it is checked with.
struct DaxpaySubject<'a> {
    fields: Vec<(&'a str, Cow<'a, str>)>,
    version: Version,
    sign_type: SignType,
}

impl DaxpaySubject<'_> {
    fn scheme(&self) -> Scheme {
        Scheme::new(self.version, self.sign_type)
    }

    /// The string to sign for a combination of [`DAXPAY_FLAGS`].
    fn string(&self, mask: usize, secret: &str) -> String {
        let has = |d: Deviation| {
            DAXPAY_FLAGS
                .iter()
                .position(|f| *f == d)
                .is_some_and(|b| mask & (1 << b) != 0)
        };
        let mut fields: Vec<(&str, Cow<'_, str>)> = self
            .fields
            .iter()
            // Leaving "" fields out is deliberately wrong signing, used only to recognise it.
            .filter(|(_, v)| !has(Deviation::DropEmpty) || !v.is_empty())
            .cloned()
            .collect();
        let upper = (self.version == Version::V3_0) != has(Deviation::FlipUpper);
        // The versions differ in signing only by the upper-casing: sign as one that does or not.
        let rules = if upper {
            Version::V3_0
        } else {
            Version::V3_0Beta
        };
        if !has(Deviation::KeepQuotes) {
            return daxpay::sign::string_to_sign(rules, &mut fields, secret);
        }
        // Deliberately *wrong* DaxPay signing, used only to recognise a mistake: `"` and `\` kept.
        // `payload` sorts the fields in DaxPay's key order; the join is then redone unstripped.
        let _ = daxpay::sign::payload(&mut fields);
        let mut s = String::with_capacity(256);
        for (i, (key, value)) in fields.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push_str(key);
            s.push('=');
            s.push_str(value);
        }
        s.push_str("&key=");
        s.push_str(secret);
        if upper {
            s = s.to_uppercase();
        }
        s
    }

    fn diagnose(&self, secret: &str, received: &str, redact: &Redactor) -> Diagnosis {
        let scheme = self.scheme();
        let mut fields = self.fields.clone();
        let expected = scheme.sign(&mut fields, secret);
        // DaxPay's server: case-sensitive, constant time.
        let valid = scheme.verify(&mut fields, secret, received);
        let masked = daxpay::sign::string_to_sign_masked(self.version, &mut fields);
        let mut diagnosis = Diagnosis {
            valid,
            expected,
            received: String::new(),
            string_to_sign: redact.clean(&masked),
            causes: Vec::new(),
            notes: Vec::new(),
        };
        if valid {
            return diagnosis;
        }
        let strings: Vec<String> = (0..1 << DAXPAY_FLAGS.len())
            .map(|mask| self.string(mask, secret))
            .collect();
        let digests = |s: &str| {
            let mut out = vec![(None, scheme.digest(s, secret))];
            for other in SignType::ALL.into_iter().filter(|t| *t != self.sign_type) {
                let digest = Scheme::new(self.version, other).digest(s, secret);
                out.push((Some(Deviation::SignType(other)), digest));
            }
            out
        };
        let found = search(&DAXPAY_FLAGS, &strings, digests, received, true);
        diagnosis.causes = match found {
            Some(deviations) => self.causes(&deviations, redact),
            None => vec![Cause::WrongKey],
        };
        diagnosis
    }

    fn causes(&self, deviations: &[Deviation], redact: &Redactor) -> Vec<Cause> {
        let mut causes = Vec::new();
        let mut sign_type = None;
        for deviation in deviations {
            match deviation {
                Deviation::SignType(t) => sign_type = Some(*t),
                Deviation::Case => causes.push(Cause::DigestNotLowerCase),
                _ => {}
            }
        }
        let has = |d: Deviation| deviations.contains(&d);
        if has(Deviation::DropEmpty) {
            let names = self
                .fields
                .iter()
                .filter(|(_, v)| v.is_empty())
                .map(|(k, _)| *k);
            causes.push(Cause::EmptyFieldsLeftOut(redact.names(names)));
        }
        if has(Deviation::FlipUpper) {
            causes.push(if self.version == Version::V3_0 {
                Cause::NotUpperCased
            } else {
                Cause::UpperCased {
                    configured: self.version,
                }
            });
        }
        if has(Deviation::KeepQuotes) {
            let names = self
                .fields
                .iter()
                .filter(|(k, v)| k.contains(['"', '\\']) || v.contains(['"', '\\']))
                .map(|(k, _)| *k);
            causes.push(Cause::QuotesKept(redact.names(names)));
        }
        if let Some(used) = sign_type {
            causes.push(Cause::SignType {
                configured: self.sign_type,
                used,
                sm3_is_md5: self.version == Version::V3_0
                    && self.sign_type == SignType::Sm3
                    && used == SignType::Md5,
            });
        }
        causes
    }
}
