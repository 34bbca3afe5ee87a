//! Secrets that cannot leak by accident: `Debug` and `Display` print `***`, and the only way to
//! the bytes is the explicit [`Secret::expose`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The secret itself: call only where it is fed into a digest.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Secret {
    /// Whether `given` is this secret, compared in constant time (SHA-256 digests of both, so
    /// that neither the content nor the length of the secret shows in the time taken).
    pub fn matches(&self, given: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.expose().as_bytes());
        let given = Sha256::digest(given);
        bool::from(expected.as_slice().ct_eq(given.as_slice()))
    }
}

/// `text` with the user and password of every URL in it replaced by `***`
/// (`redis://:pw@host` → `redis://***@host`), for error messages that quote a value.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The URL runs to the next blank or quote; its userinfo ends at its last `@`.
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '<' | '>'))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_wherever_a_url_is_quoted() {
        for (text, want) in [
            (
                "`http://user:hunter2@gw.example/x` is not usable",
                "`http://***@gw.example/x` is not usable",
            ),
            ("redis://:hunter2@r:6379", "redis://***@r:6379"),
            (
                "redis://u:pa/ss@h and http://h/p",
                "redis://***@h and http://h/p",
            ),
            ("no url here", "no url here"),
            ("http://a@b http://c:d@e", "http://***@b http://***@e"),
        ] {
            assert_eq!(redact_userinfo(text), want);
        }
    }

    #[test]
    fn matches_compares_the_whole_secret() {
        let s = Secret::new("0123456789abcdef");
        assert!(s.matches(b"0123456789abcdef"));
        assert!(!s.matches(b"0123456789abcdeF"));
        assert!(!s.matches(b"0123456789abcde"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn never_formats_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s} {s:#?}"), "*** *** ***");
        assert_eq!(s.expose(), "hunter2");
    }
}
