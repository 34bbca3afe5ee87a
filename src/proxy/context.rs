//! The per-request context: the merchant's request, read once, and what every phase adds to
//! its access-log record.

use std::net::IpAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Method};

use crate::dialect::jeepay::Params;
use crate::domain::{Failure, OpKind};
use crate::telemetry::access::{AccessHandle, AccessRecord};

/// One merchant request, read once and shared by every phase.
pub(crate) struct Context {
    pub parts: Parts,
    pub body: Bytes,
    /// The operation the path names (`None`: a path paybridge only passes through).
    pub op: Option<OpKind>,
    pub peer: Option<IpAddr>,
    /// The W3C trace context for calls to DaxPay (the caller's trace, a new parent id), made
    /// when a first call needs it: a passed-through request carries the caller's own.
    traceparent: OnceLock<HeaderValue>,
}

impl Context {
    pub fn new(parts: Parts, body: Bytes, op: Option<OpKind>, peer: Option<IpAddr>) -> Self {
        Context {
            parts,
            body,
            op,
            peer,
            traceparent: OnceLock::new(),
        }
    }

    /// Where Jeepay finds the parameters: (JSON?, query, parameter body).
    pub fn inbound(&self) -> (bool, Option<&str>, &[u8]) {
        let content_type = self
            .parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let json = contains_ignore_case(content_type, "application/json")
            && self.parts.method != Method::GET;
        // A servlet container reads parameters from a body only when its media type is the form
        // type itself (parameters such as `;charset=UTF-8` aside), and only on a body method
        // (Tomcat's POST, Spring's form filter's PUT, PATCH and DELETE): a type that merely
        // mentions the form type (`text/plain; x=application/x-www-form-urlencoded`) is no form.
        let form = is_form(content_type) && self.parts.method != Method::GET;
        let body: &[u8] = if json || form { &self.body } else { &[] };
        (json, self.parts.uri.query(), body)
    }

    /// The request's parameters bound to `declared` (the operation's fields).
    pub fn params(&self, declared: &'static [&'static str]) -> Result<Params<'_>, Failure> {
        let (json, query, body) = self.inbound();
        Params::read(declared, json, query, body)
    }

    /// The `traceparent` of this request's calls to DaxPay (the same for all of them).
    pub fn traceparent(&self) -> &HeaderValue {
        self.traceparent
            .get_or_init(|| crate::telemetry::trace_context::child_of(&self.parts.headers))
    }

    pub fn request_id(&self) -> Option<&HeaderValue> {
        self.parts
            .headers
            .get(&crate::middleware::request_id::X_REQUEST_ID)
    }

    /// Adds to the request's access-log record.
    pub fn note(&self, f: impl FnOnce(&mut AccessRecord)) {
        if let Some(handle) = self.parts.extensions.get::<AccessHandle>() {
            handle.note(f);
        }
    }
}

/// The media type (before any `;` parameter) is `application/x-www-form-urlencoded`, in any case.
fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_form_type_itself_is_a_form() {
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
            " application/x-www-form-urlencoded ; charset=utf-8",
        ] {
            assert!(is_form(ct), "{ct}");
        }
        for ct in [
            "text/plain; x=application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded-not",
            "multipart/form-data",
            "",
        ] {
            assert!(!is_form(ct), "{ct}");
        }
    }
}
