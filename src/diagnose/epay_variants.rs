//! The epay signing variants `paybridge verify --dialect epay` tries: the right one (MD5 or RSA,
//! [`epay::sign`]) and the usual mistakes, alone and combined: the key appended as Jeepay appends
//! it (`&key=`), upper-case hex, empty values signed, values URL-encoded, `sign_type` signed, and
//! the other gateway build's rule for whitespace-only values.

use md5::{Digest, Md5};

use super::report::*;
use crate::dialect::epay::sign::{self, Filter, RsaVerifier};

/// What a received signature is checked with.
#[derive(Clone, Copy)]
pub enum EpayKey<'a> {
    /// The merchant's MD5 key.
    Md5(&'a str),
    /// The signer's RSA public key (the merchant's for requests, the platform's for answers and
    /// notifications).
    Rsa(&'a RsaVerifier),
}

/// A set of received epay parameters (`sign` among them) and the build rule to verify by.
pub(super) struct EpaySubject<'a> {
    pub(super) params: &'a [(&'a str, &'a str)],
    pub(super) filter: Filter,
}

fn php_blank(value: &str) -> bool {
    !value.is_empty() && !sign::signable("v", value, Filter::Build3094)
}

/// PHP's `urlencode`: letters, digits and `-_.` kept, space as `+`, every other byte `%XX`.
fn php_urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl EpaySubject<'_> {
    fn other(filter: Filter) -> Filter {
        match filter {
            Filter::Build3094 => Filter::Build3065,
            Filter::Build3065 => Filter::Build3094,
        }
    }

    /// The parameters signed under `has`'s deviations, values as signed, sorted by key bytes.
    fn selected(&self, has: &dyn Fn(Deviation) -> bool) -> Vec<(&str, String)> {
        let filter = if has(Deviation::OtherBlankRule) {
            Self::other(self.filter)
        } else {
            self.filter
        };
        let mut kept: Vec<(&str, String)> = Vec::with_capacity(self.params.len());
        for &(key, value) in self.params {
            let take = match (key, value) {
                ("sign", _) => false,
                // Deliberately wrong signing, used only to recognise the mistakes.
                ("sign_type", v) if has(Deviation::SignTypeSigned) => !v.is_empty(),
                (_, "") => has(Deviation::KeepEmpty),
                (k, v) => sign::signable(k, v, filter),
            };
            if take {
                let value = if has(Deviation::UrlEncoded) {
                    php_urlencode(value)
                } else {
                    value.to_owned()
                };
                kept.push((key, value));
            }
        }
        kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        kept
    }

    /// The bytes digested (MD5: with the key) or verified (RSA) for a mask over [`EPAY_FLAGS`].
    fn preimage(&self, mask: usize, key: EpayKey<'_>) -> String {
        let has = |d: Deviation| {
            EPAY_FLAGS
                .iter()
                .position(|f| *f == d)
                .is_some_and(|b| mask & (1 << b) != 0)
        };
        let mut out = self
            .selected(&has)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        if let EpayKey::Md5(secret) = key {
            if has(Deviation::KeyAsJeepay) {
                out.push_str("&key=");
            }
            out.push_str(secret);
        }
        out
    }

    pub(super) fn diagnose(
        &self,
        key: EpayKey<'_>,
        received: &str,
        redact: &Redactor,
        now: i64,
    ) -> Diagnosis {
        let string = sign::string_to_sign(self.params, self.filter);
        let (valid, expected, shown) = match key {
            EpayKey::Md5(secret) => {
                let expected = sign::md5_sign(&string, secret);
                (
                    expected.matches(received),
                    expected.to_string(),
                    redact.clean(&format!("{string}{secret}")),
                )
            }
            EpayKey::Rsa(verifier) => (
                sign::rsa_verify(self.params, verifier),
                "(an RSA signature: only the signer's private key makes it)".to_owned(),
                string.clone(),
            ),
        };
        let mut diagnosis = Diagnosis {
            valid,
            expected,
            received: String::new(),
            string_to_sign: shown,
            causes: Vec::new(),
            notes: Vec::new(),
        };
        if let EpayKey::Rsa(_) = key {
            let timestamp = self
                .params
                .iter()
                .rev()
                .find(|(k, _)| *k == "timestamp")
                .map(|(_, v)| *v);
            if let Err(e) = sign::check_timestamp(timestamp, now) {
                diagnosis.notes.push(format!(
                    "{e}: a V2 gateway refuses it now ({}), and SDK2 refuses such an answer or notification",
                    e.epay_message()
                ));
            }
        }
        if valid {
            return diagnosis;
        }
        // RSA has no key to append: its masks stop before the last flag.
        let flags = match key {
            EpayKey::Md5(_) => EPAY_FLAGS.len(),
            EpayKey::Rsa(_) => EPAY_FLAGS.len() - 1,
        };
        let preimages: Vec<String> = (0..1usize << flags)
            .map(|mask| self.preimage(mask, key))
            .collect();
        let accepts = |preimage: &str| -> Option<bool> {
            match key {
                EpayKey::Md5(_) => {
                    let digest = hex::encode(Md5::digest(preimage.as_bytes()));
                    if digest == received {
                        Some(false)
                    } else if digest.eq_ignore_ascii_case(received) {
                        Some(true)
                    } else {
                        None
                    }
                }
                EpayKey::Rsa(verifier) => verifier.verify(preimage, received).then_some(false),
            }
        };
        let found = first_match(&EPAY_FLAGS[..flags], &preimages, accepts);
        diagnosis.causes = match found {
            Some(deviations) => self.causes(&deviations, redact),
            None => vec![Cause::WrongKey],
        };
        diagnosis
    }

    fn causes(&self, deviations: &[Deviation], redact: &Redactor) -> Vec<Cause> {
        let has = |d: Deviation| deviations.contains(&d);
        let mut causes = Vec::new();
        if has(Deviation::KeyAsJeepay) {
            causes.push(Cause::EpayKeyAsJeepay);
        }
        if has(Deviation::Case) {
            causes.push(Cause::EpayDigestNotLowerCase);
        }
        let names = |pick: &dyn Fn(&str, &str) -> bool| {
            redact.names(
                self.params
                    .iter()
                    .filter(|(k, v)| *k != "sign" && *k != "sign_type" && pick(k, v))
                    .map(|(k, _)| *k),
            )
        };
        if has(Deviation::KeepEmpty) {
            causes.push(Cause::EpayEmptySigned(names(&|_, v| v.is_empty())));
        }
        if has(Deviation::UrlEncoded) {
            causes.push(Cause::EpayUrlEncoded(names(&|_, v| php_urlencode(v) != v)));
        }
        if has(Deviation::SignTypeSigned) {
            causes.push(Cause::EpaySignTypeSigned);
        }
        if has(Deviation::OtherBlankRule) {
            causes.push(Cause::EpayBlankRule {
                signed: Self::other(self.filter) == Filter::Build3065,
                names: names(&|_, v| php_blank(v)),
            });
        }
        causes
    }
}

/// The combination with the fewest deviations whose preimage `accepts` (`Some(case_differs)`).
/// A combination where dropping one flag leaves the preimage unchanged is skipped: that flag would
/// not have been a mistake at all.
fn first_match(
    flags: &[Deviation],
    preimages: &[String],
    accepts: impl Fn(&str) -> Option<bool>,
) -> Option<Vec<Deviation>> {
    let mut best: Option<Vec<Deviation>> = None;
    for (mask, preimage) in preimages.iter().enumerate() {
        let no_op = (0..flags.len())
            .any(|bit| mask & (1 << bit) != 0 && preimages[mask & !(1 << bit)] == *preimage);
        if no_op {
            continue;
        }
        let Some(case) = accepts(preimage) else {
            continue;
        };
        let mut deviations: Vec<Deviation> = (0..flags.len())
            .filter(|bit| mask & (1 << bit) != 0)
            .map(|bit| flags[bit])
            .collect();
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
    best
}

#[cfg(test)]
mod tests {
    //! Each mistake made on purpose, its wrong string written out by hand and digested directly.

    use super::super::{diagnose_epay, Cause};
    use super::*;

    const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

    fn md5_hex(s: &str) -> String {
        hex::encode(Md5::digest(s.as_bytes()))
    }

    fn causes(input: &str, filter: Filter) -> Vec<Cause> {
        let d = diagnose_epay(input, EpayKey::Md5(KEY), filter, 0).unwrap();
        assert!(!d.valid, "expected a mismatch: {d:?}");
        d.causes
    }

    #[test]
    fn php_urlencode_keeps_only_what_php_keeps() {
        assert_eq!(
            php_urlencode("a-b_c.d e*~/会"),
            "a-b_c.d+e%2A%7E%2F%E4%BC%9A"
        );
    }

    #[test]
    fn valid_md5_has_no_cause_and_masks_the_key() {
        let sign = md5_hex(&format!("a=1&b=2{KEY}"));
        let d = diagnose_epay(
            &format!("b=2&a=1&sign={sign}"),
            EpayKey::Md5(KEY),
            Filter::Build3094,
            0,
        )
        .unwrap();
        assert!(d.valid);
        assert_eq!(d.string_to_sign, "a=1&b=2***");
        assert!(d.causes.is_empty() && d.notes.is_empty());
    }

    #[test]
    fn a_flag_that_changes_nothing_is_not_a_cause() {
        // No empty value and nothing to encode: only the key's separator differs.
        let sign = md5_hex(&format!("a=1&b=2&key={KEY}"));
        assert_eq!(
            causes(&format!("a=1&b=2&sign={sign}"), Filter::Build3094),
            [Cause::EpayKeyAsJeepay]
        );
    }

    #[test]
    fn the_fewest_deviations_win() {
        let sign = md5_hex(&format!("a=&b=x+y{KEY}"));
        assert_eq!(
            causes(&format!("a=&b=x%20y&sign={sign}"), Filter::Build3094),
            [
                Cause::EpayEmptySigned(vec!["a".to_owned()]),
                Cause::EpayUrlEncoded(vec!["b".to_owned()]),
            ]
        );
    }

    #[test]
    fn rsa_without_a_timestamp_is_noted() {
        let public = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAgSAdXuZQGLRcl6uSPFCEOionWGXFpJ9EsFUvEZNEjWVa7y/1CZOkNc5CbOKVAspEwUv7U6z9qzTzrCtVTvwEByM4bwLo7L+1Cti6bXLLjUTwheRmMZ3UJzmsABijUCrDLjXA88rskzG2SARGEkViKFN3TM+MFhBbKP1XVUuLik2VmZwTngg3cwwCe08G5mjpE/dfQ32W1wKDB/Z97BuATKakBMUw6BWOnauhD1wllWYKFH3nAIDSkn1+U2oElGgMauHheb7FH74/ixaWCKyLLJklRK7WbkVyx1lUhG7DcXQzzbktwbcVhGOxkTxfUSXr7aAuS+Szexp/kWAqmTWb+wIDAQAB";
        let verifier = RsaVerifier::from_text(public).unwrap();
        let d = diagnose_epay(
            "a=1&sign=AAAA",
            EpayKey::Rsa(&verifier),
            Filter::Build3094,
            0,
        )
        .unwrap();
        assert!(!d.valid);
        assert_eq!(d.causes, [Cause::WrongKey]);
        assert_eq!(
            d.notes,
            ["the timestamp is missing: a V2 gateway refuses it now (时间戳(timestamp)字段不能为空), and SDK2 refuses such an answer or notification"]
        );
    }
}
