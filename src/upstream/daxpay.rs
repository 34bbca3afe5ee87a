//! The client of one DaxPay upstream: JSON POSTs, HTTP 200 answers only.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;

use super::{Transport, UpstreamError};
use crate::config::Upstream;

static PAYBRIDGE_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("paybridge/", env!("CARGO_PKG_VERSION")));

#[derive(Clone, Debug)]
pub struct DaxClient {
    pub upstream: Arc<Upstream>,
    transport: Transport,
}

impl DaxClient {
    /// Unix ms of the upstream's last answer and last failure (0: none yet).
    pub fn last_contact(&self) -> (u64, u64) {
        self.transport.last_contact()
    }

    pub fn new(upstream: Arc<Upstream>) -> Self {
        let transport = Transport::new(
            &upstream.name,
            upstream.timeout,
            upstream.connect_timeout,
            &upstream.extra_roots,
            upstream.resilience,
        );
        DaxClient {
            upstream,
            transport,
        }
    }

    /// POSTs a JSON body to `base_url + path` and returns the answer body (HTTP 200 only:
    /// DaxPay answers 200 in every case, so anything else is not DaxPay speaking).
    pub async fn post_json(
        &self,
        path: &str,
        body: Vec<u8>,
        request_id: Option<&HeaderValue>,
        traceparent: &HeaderValue,
    ) -> Result<Bytes, UpstreamError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{}", self.upstream.base_url, path))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, PAYBRIDGE_AGENT.clone());
        if let Some(id) = request_id {
            req = req.header("x-request-id", id.clone());
        }
        req = req.header(
            crate::telemetry::trace_context::TRACEPARENT,
            traceparent.clone(),
        );
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| UpstreamError::Connect {
                upstream: self.upstream.name.clone(),
                detail: format!("cannot build request: {e}"),
            })?;
        let answer = self.transport.send(req).await?;
        if answer.status != StatusCode::OK {
            return Err(UpstreamError::Status {
                upstream: self.upstream.name.clone(),
                status: answer.status,
            });
        }
        Ok(answer.body)
    }
}
