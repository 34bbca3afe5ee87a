//! The per-request context: the merchant's request, read once, and what every phase adds to
//! its access-log record.

use std::net::IpAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::HeaderValue;

use crate::dialect::merchant::{Inbound, MerchantDialect};
use crate::dispatch::Endpoint;
use crate::domain::Failure;
use crate::telemetry::access::{AccessRecord, RequestScope};

/// One merchant request, read once and shared by every phase.
pub(crate) struct Context {
    pub parts: Parts,
    pub body: Bytes,
    /// The endpoint the path names (`None`: a path paybridge only passes through). A shared
    /// path's dialect is decided later, by the parameters; its path is the same.
    pub endpoint: Option<Endpoint>,
    pub peer: Option<IpAddr>,
    /// The W3C trace context for calls to DaxPay (the caller's trace, a new parent id), made
    /// when a first call needs it: a passed-through request carries the caller's own.
    traceparent: OnceLock<HeaderValue>,
}

impl Context {
    pub fn new(
        parts: Parts,
        body: Bytes,
        endpoint: Option<Endpoint>,
        peer: Option<IpAddr>,
    ) -> Self {
        Context {
            parts,
            body,
            endpoint,
            peer,
            traceparent: OnceLock::new(),
        }
    }

    /// The raw request as a dialect reads its parameters from it.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound {
            method: &self.parts.method,
            content_type: self
                .parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            query: self.parts.uri.query(),
            body: &self.body,
            // Only a payer's browser is sniffed (epay's page endpoints): no lookup for the rest.
            user_agent: matches!(self.endpoint, Some(Endpoint::Epay(e)) if e.is_page())
                .then(|| self.parts.headers.get(http::header::USER_AGENT))
                .flatten()
                .and_then(|v| v.to_str().ok()),
            peer: self.peer,
        }
    }

    /// The request's parameters as dialect `D` reads them for `endpoint` (`None`: a path that
    /// is no endpoint of it; `declared`: the operation's fields, for a dialect that binds to
    /// them).
    pub fn params<D: MerchantDialect>(
        &self,
        endpoint: Option<Endpoint>,
        declared: &'static [&'static str],
    ) -> Result<D::Params<'_>, Failure> {
        D::read_params(&self.inbound(), endpoint, declared)
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
        if let Some(handle) = RequestScope::access_of(&self.parts.extensions) {
            handle.note(f);
        }
    }
}
