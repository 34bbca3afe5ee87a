//! The client of one legacy Jeepay gateway: requests forwarded byte for byte.
//!
//! Method, path, query, body and end-to-end headers reach the gateway unchanged, so the
//! merchant's own signature stays valid there (the path is the one the proxy hands over: an
//! alias of a translated path has already been replaced by the operation's own path, see
//! `dispatch::target` and `proxy/passthrough.rs`); the answer comes back unchanged. Hop-by-hop
//! headers are dropped both ways (RFC 9110 §7.6.1), `Host` names the gateway (the caller's goes
//! in `X-Forwarded-Host`), and the caller's address is appended to `X-Forwarded-For`.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use super::error::UpstreamError;
use super::transport::{base_path, Answered, Transport};
use crate::config::LegacyUpstream;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus `Host`.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

#[derive(Clone, Debug)]
pub struct LegacyClient {
    pub upstream: Arc<LegacyUpstream>,
    transport: Transport,
    /// The base URL's own path (`/prefix`, or empty), put before every forwarded path.
    prefix: Arc<str>,
}

impl LegacyClient {
    /// Unix ms of the upstream's last answer and last failure (0: none yet).
    pub fn last_contact(&self) -> (u64, u64) {
        self.transport.last_contact()
    }

    pub fn new(upstream: Arc<LegacyUpstream>) -> Self {
        let transport = Transport::new(
            &upstream.name,
            &upstream.base_url,
            upstream.timeout,
            upstream.connect_timeout,
            &upstream.extra_roots,
            upstream.resilience,
        );
        let prefix = base_path(&upstream.base_url).into();
        LegacyClient {
            upstream,
            transport,
            prefix,
        }
    }

    /// Forwards one request; the answer (any status) is returned with hop-by-hop headers removed.
    pub async fn forward(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        peer: Option<IpAddr>,
    ) -> Result<Answered, UpstreamError> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method.clone();
        *req.uri_mut() = self.forwarded_uri(uri)?;
        let out = req.headers_mut();
        *out = end_to_end(headers);
        if let Some(host) = headers.get(header::HOST) {
            out.insert(X_FORWARDED_HOST.clone(), host.clone());
        }
        out.remove(header::HOST);
        if let Some(ip) = peer {
            append_forwarded_for(out, ip);
        }
        // Only the operations paybridge knows give the circuit breaker a verdict on 5xx.
        let known = crate::dispatch::label(uri.path()) != "other";
        let mut answer = self.transport.send(req, known).await?;
        if has_hop_by_hop(&answer.headers) {
            answer.headers = end_to_end(&answer.headers);
        }
        Ok(answer)
    }
}

impl LegacyClient {
    /// The origin-form URI the gateway gets: the base URL's path, then the request's path and
    /// query. Without a base path the request's own is reused (it shares the request's bytes)
    /// rather than formatted and parsed again.
    fn forwarded_uri(&self, uri: &Uri) -> Result<Uri, UpstreamError> {
        let path_and_query = uri.path_and_query();
        let built = match path_and_query {
            Some(p) if self.prefix.is_empty() => {
                let mut parts = http::uri::Parts::default();
                parts.path_and_query = Some(p.clone());
                Uri::from_parts(parts).map_err(|e| e.to_string())
            }
            _ => {
                let path_and_query = path_and_query.map_or("/", |p| p.as_str());
                format!("{}{}", self.prefix, path_and_query)
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| e.to_string())
            }
        };
        built.map_err(|e| UpstreamError::Connect {
            upstream: self.upstream.name.clone(),
            detail: format!("cannot build the forwarded URI: {e}"),
        })
    }
}

/// Whether `headers` has any hop-by-hop header (`Connection` names the others it adds).
fn has_hop_by_hop(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| HOP_BY_HOP.contains(name))
}

/// A copy of `headers` without hop-by-hop ones, including those `Connection` lists.
///
/// The usual message has none: it is copied whole, in its order, `Content-Length` included (the
/// body was read whole by that length, so it is still right; a `HEAD` answer needs it). One
/// with some is rebuilt by copying the headers that stay (the values share their bytes) rather
/// than cloning the map and removing names from it (one hash lookup per name and a reordering of
/// the rest), `Content-Length` dropped too: a chunked body was buffered, and its length is the
/// buffer's (callgrind: docs/benchmarks.md, issues 14 and 23).
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    if !has_hop_by_hop(headers) {
        return headers.clone();
    }
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.keys_len());
    for (name, value) in headers {
        // Lengths are recomputed for the buffered body.
        let dropped = *name == header::CONTENT_LENGTH
            || HOP_BY_HOP.contains(name)
            || (!listed.is_empty() && listed.contains(name));
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn append_forwarded_for(headers: &mut HeaderMap, ip: IpAddr) {
    let mut joined = String::with_capacity(64);
    if let Some(existing) = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        if !existing.trim().is_empty() {
            joined.push_str(existing);
            joined.push_str(", ");
        }
    }
    push_ip(&mut joined, ip);
    // The formatted text becomes the value's bytes, not copied again.
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(joined)) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
}

/// `ip` as its `Display` writes it; an IPv4 address (the common peer) without `core::fmt`,
/// which cost some 3,000 instructions a request (callgrind, issue 14).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_end_to_end_ones_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert("x-merchant", HeaderValue::from_static("kept"));
        let out = end_to_end(&h);
        assert_eq!(out.len(), 2);
        assert_eq!(out["x-merchant"], "kept");
        assert_eq!(out[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn a_message_without_hop_by_hop_headers_is_copied_whole_in_order() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        h.append("x-b", HeaderValue::from_static("1"));
        h.append("x-b", HeaderValue::from_static("2"));
        h.insert("x-a", HeaderValue::from_static("3"));
        assert!(!has_hop_by_hop(&h));
        let out = end_to_end(&h);
        assert_eq!(out, h);
        let order = |m: &HeaderMap| {
            m.iter()
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&out), order(&h));
        // With a hop-by-hop header, the length goes with it (it may have been chunked).
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let out = end_to_end(&h);
        assert!(out.get(header::CONTENT_LENGTH).is_none());
        assert!(out.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(out.len(), 4);
    }

    fn client(base_url: &str) -> LegacyClient {
        LegacyClient::new(Arc::new(LegacyUpstream {
            name: "legacy".to_owned(),
            base_url: base_url.to_owned(),
            timeout: std::time::Duration::from_secs(1),
            connect_timeout: std::time::Duration::from_secs(1),
            extra_roots: Vec::new(),
            resilience: crate::config::Resilience {
                retries: 0,
                retry_backoff: std::time::Duration::ZERO,
                breaker_failures: 0,
                breaker_cooldown: std::time::Duration::ZERO,
                max_connections: 1,
            },
        }))
    }

    #[test]
    fn the_forwarded_uri_is_the_base_path_then_the_requests() {
        let uri: Uri = "/api/pay/close?x=1&y=%20".parse().unwrap();
        let plain = client("http://127.0.0.1:9").forwarded_uri(&uri).unwrap();
        assert_eq!(plain.to_string(), "/api/pay/close?x=1&y=%20");
        assert!(plain.authority().is_none() && plain.scheme().is_none());
        let prefixed = client("http://127.0.0.1:9/gw").forwarded_uri(&uri).unwrap();
        assert_eq!(prefixed.to_string(), "/gw/api/pay/close?x=1&y=%20");
        let absolute: Uri = "http://merchant.example/api/pay/close".parse().unwrap();
        let from_absolute = client("http://127.0.0.1:9")
            .forwarded_uri(&absolute)
            .unwrap();
        assert_eq!(from_absolute.to_string(), "/api/pay/close");
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, "127.0.0.1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        append_forwarded_for(&mut h, "127.0.0.2".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1, 127.0.0.2");
        append_forwarded_for(&mut h, "::1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "127.0.0.1, 127.0.0.2, ::1");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "10.0.255.9",
            "255.255.255.255",
            "::1",
            "fe80::1:2",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = String::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
    }
}
