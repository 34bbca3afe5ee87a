//! The DaxPay signing variants `paybridge verify` tries: the right one and the usual mistakes.

use std::borrow::Cow;

use super::report::*;
use crate::dialect::daxpay::{self, Scheme, SignType, Version};

/// A DaxPay body's signable fields, and the rules it is checked with.
pub(super) struct DaxpaySubject<'a> {
    pub(super) fields: Vec<(&'a str, Cow<'a, str>)>,
    pub(super) version: Version,
    pub(super) sign_type: SignType,
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

    pub(super) fn diagnose(&self, secret: &str, received: &str, redact: &Redactor) -> Diagnosis {
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
