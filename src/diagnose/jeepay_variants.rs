//! The Jeepay signing variants `paybridge verify` tries: the right one and the usual mistakes.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::report::*;
use crate::dialect::jeepay;
use subtle::ConstantTimeEq;

/// A Jeepay body's fields, rendered as Jeepay writes them.
pub(super) struct JeepaySubject<'a> {
    /// Every field but `sign` and nulls.
    fields: Vec<(&'a str, Cow<'a, str>)>,
    declared_only: bool,
    /// Answers are checked by the SDK in upper case; requests by the server in any case.
    answer: bool,
}

impl<'a> JeepaySubject<'a> {
    pub(super) fn new(
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

    pub(super) fn diagnose(&self, secret: &str, received: &str, redact: &Redactor) -> Diagnosis {
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
