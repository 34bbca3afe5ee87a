//! What `paybridge verify` reports (a [`Diagnosis`] with its [`Cause`]s), and the search over
//! signing variants that proves a cause.

use std::fmt;

use crate::dialect::daxpay::sign::{SignType, Version};

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
    /// epay: no `sign` parameter.
    NoEpaySign,
    /// epay: input that is not a flat set of parameters.
    Params(String),
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
            InputError::NoEpaySign => f.write_str("input has no `sign` parameter"),
            InputError::Params(e) => f.write_str(e),
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
    /// epay: the key was appended as `&key=KEY` (Jeepay's way), not directly.
    EpayKeyAsJeepay,
    /// epay: the digest is not lower-case hex (epay compares exactly).
    EpayDigestNotLowerCase,
    /// epay: parameters whose value is `""` were signed.
    EpayEmptySigned(Vec<String>),
    /// epay: values were URL-encoded before signing (in these parameters).
    EpayUrlEncoded(Vec<String>),
    /// epay: `sign_type` was signed.
    EpaySignTypeSigned,
    /// epay: whitespace-only values signed by build 3065's rule (`true`) or left out by build
    /// 3094's (`false`), the other build's rule being the one configured.
    EpayBlankRule { signed: bool, names: Vec<String> },
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
            Cause::EpayKeyAsJeepay => f.write_str(
                "the key was appended as \"&key=KEY\", as Jeepay does: epay appends the key directly, md5(\"a=1&b=2\" + KEY)",
            ),
            Cause::EpayDigestNotLowerCase => f.write_str(
                "the digest is not in lower case: epay compares signatures exactly and expects lower-case hex",
            ),
            Cause::EpayEmptySigned(names) => write!(
                f,
                "empty-string parameters were signed ({}): epay leaves out parameters whose value is \"\"",
                names.join(", ")
            ),
            Cause::EpayUrlEncoded(names) => write!(
                f,
                "values were URL-encoded before signing ({}): epay signs the decoded values raw",
                names.join(", ")
            ),
            Cause::EpaySignTypeSigned => f.write_str(
                "sign_type was signed: epay leaves out sign and sign_type",
            ),
            Cause::EpayBlankRule { signed: true, names } => write!(
                f,
                "whitespace-only values were signed ({}), as epay build 3065 and SDK1 do: build 3094 leaves them out (to verify by 3065's rule: --keep-blank)",
                names.join(", ")
            ),
            Cause::EpayBlankRule { signed: false, names } => write!(
                f,
                "whitespace-only values were left out ({}), as epay build 3094 does: build 3065 signs them (to verify by 3094's rule: drop --keep-blank)",
                names.join(", ")
            ),
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

/// Keeps the secret (and its upper-case form, which DaxPay 3.0 signs) out of anything printed.
pub(super) struct Redactor {
    secret: String,
    upper: String,
}

impl Redactor {
    pub(super) fn new(secret: &str) -> Self {
        Redactor {
            secret: secret.to_owned(),
            upper: secret.to_uppercase(),
        }
    }

    pub(super) fn clean(&self, text: &str) -> String {
        if self.secret.is_empty() {
            return text.to_owned();
        }
        let mut out = text.replace(&self.secret, "***");
        if !self.upper.is_empty() && out.contains(&self.upper) {
            out = out.replace(&self.upper, "***");
        }
        out
    }

    pub(super) fn names<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        names.into_iter().map(|n| self.clean(n)).collect()
    }
}

/// One way of signing that departs from the rules: a mistake to recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deviation {
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
    /// epay: the key appended as `&key=KEY`.
    KeyAsJeepay,
    /// epay: values URL-encoded before signing.
    UrlEncoded,
    /// epay: `sign_type` signed.
    SignTypeSigned,
    /// epay: the other build's rule for whitespace-only values.
    OtherBlankRule,
}

/// The binary deviations of a dialect, as bits of a mask, in report order.
pub(super) const JEEPAY_FLAGS: [Deviation; 3] = [
    Deviation::KeepEmpty,
    Deviation::AllFields,
    Deviation::PlainSort,
];
/// epay's binary deviations; the last one applies to MD5 only.
pub(super) const EPAY_FLAGS: [Deviation; 5] = [
    Deviation::KeepEmpty,
    Deviation::UrlEncoded,
    Deviation::SignTypeSigned,
    Deviation::OtherBlankRule,
    Deviation::KeyAsJeepay,
];
pub(super) const DAXPAY_FLAGS: [Deviation; 3] = [
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
pub(super) fn search(
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
