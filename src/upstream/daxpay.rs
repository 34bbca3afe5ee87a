//! The client of one DaxPay upstream: JSON POSTs, HTTP 200 answers only.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;

use super::error::UpstreamError;
use super::transport::{base_path, Transport};
use crate::config::Upstream;
use crate::dispatch::DaxCall;

static PAYBRIDGE_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("paybridge/", env!("CARGO_PKG_VERSION")));
static APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static TRACEPARENT: HeaderName =
    HeaderName::from_static(crate::telemetry::trace_context::TRACEPARENT);

/// `http://` to a host other than loopback (`localhost`, `127.0.0.0/8`, `::1`).
fn plain_http_off_host(base_url: &str) -> bool {
    let Ok(uri) = base_url.parse::<Uri>() else {
        return false;
    };
    if uri.scheme_str() != Some("http") {
        return false;
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

#[derive(Clone, Debug)]
pub struct DaxClient {
    pub upstream: Arc<Upstream>,
    transport: Transport,
    /// Origin-form URIs of every [`DaxCall`], parsed once (with the base URL's prefix).
    targets: Arc<[Option<Uri>; DaxCall::ALL.len()]>,
}

impl DaxClient {
    /// Unix ms of the upstream's last answer and last failure (0: none yet).
    pub fn last_contact(&self) -> (u64, u64) {
        self.transport.last_contact()
    }

    pub fn new(upstream: Arc<Upstream>) -> Self {
        if plain_http_off_host(&upstream.base_url) {
            // Signed answers can be replayed on a link anyone on the path can read and write
            // (only a recent `resTime` is believed, but within its window they still can).
            tracing::warn!(
                upstream = %upstream.name,
                "DaxPay upstream reached over plain http:// outside loopback: its answers can be read and replayed on the way; use https://"
            );
        }
        let transport = Transport::new(
            &upstream.name,
            &upstream.base_url,
            upstream.timeout,
            upstream.connect_timeout,
            &upstream.extra_roots,
            upstream.resilience,
        );
        let targets =
            Arc::new(DaxCall::ALL.map(|call| origin_form(&upstream.base_url, call.path())));
        DaxClient {
            upstream,
            transport,
            targets,
        }
    }

    /// POSTs a JSON body to `base_url + call's path` and returns the answer body (HTTP 200
    /// only: DaxPay answers 200 in every case, so anything else is not DaxPay speaking).
    pub async fn post_json(
        &self,
        call: DaxCall,
        body: Vec<u8>,
        request_id: Option<&HeaderValue>,
        traceparent: &HeaderValue,
    ) -> Result<Bytes, UpstreamError> {
        let uri = self.targets[call.index()]
            .clone()
            .ok_or_else(|| UpstreamError::Connect {
                upstream: self.upstream.name.clone(),
                detail: format!("cannot build a request URI for {}", call.path()),
            })?;
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.reserve(5);
        headers.insert(CONTENT_TYPE, APPLICATION_JSON.clone());
        headers.insert(USER_AGENT, PAYBRIDGE_AGENT.clone());
        if let Some(id) = request_id {
            headers.insert(X_REQUEST_ID.clone(), id.clone());
        }
        headers.insert(TRACEPARENT.clone(), traceparent.clone());
        let answer = self.transport.send(req, true).await?;
        if answer.status != StatusCode::OK {
            return Err(UpstreamError::Status {
                upstream: self.upstream.name.clone(),
                status: answer.status,
            });
        }
        Ok(answer.body)
    }
}

/// `path` under the base URL's own path prefix, in origin form (`/prefix/path`).
fn origin_form(base_url: &str, path: &str) -> Option<Uri> {
    format!("{}{path}", base_path(base_url)).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_the_base_url_prefix() {
        let uri = origin_form("http://127.0.0.1:9090", DaxCall::Close.path()).unwrap();
        assert_eq!(uri.to_string(), "/unipay/close");
        let uri = origin_form("https://gw.example/daxpay", DaxCall::PayQuery.path()).unwrap();
        assert_eq!(uri.to_string(), "/daxpay/unipay/query/payOrder");
    }

    #[test]
    fn plain_http_is_flagged_outside_loopback() {
        for url in [
            "http://gw.example",
            "http://10.0.0.5:9000/dax",
            "http://[fd00::1]:80",
        ] {
            assert!(plain_http_off_host(url), "{url}");
        }
        for url in [
            "https://gw.example",
            "http://127.0.0.1:9090",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(!plain_http_off_host(url), "{url}");
        }
    }
}
