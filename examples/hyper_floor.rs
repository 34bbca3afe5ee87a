//! The plainest correct hyper 1 reverse proxy: `scripts/bench-nginx`'s reference for "any proxy
//! built on hyper" (path `hyper`), measured in the same run as nginx `proxy_pass` and paybridge.
//!
//! ```text
//! hyper_floor LISTEN UPSTREAM_BASE_URL [--current-thread]
//! hyper_floor 127.0.0.1:18082 http://127.0.0.1:19590
//! ```
//!
//! Every request is forwarded with its method, path and query (after the base URL's path, if it
//! has one), its headers minus the hop-by-hop ones (RFC 9110 §7.6.1, `Host` set from the base URL
//! as nginx does) and its body, read whole, through hyper-util's legacy pooled client (keep-alive,
//! `TCP_NODELAY`); the upstream's status, headers (minus hop-by-hop) and body, read whole, are the
//! answer. An upstream that cannot be reached or breaks off answers 502, a request whose body
//! breaks off or that has no path (CONNECT) 400: nothing a client sends makes it panic.
//!
//! It is what every hyper proxy pays and nothing more: no routing, parsing, signing, logging,
//! metrics, timeouts or limits (so: loopback only, for benchmarks). The runtime is tokio's
//! multi-thread one, as paybridge's (`--current-thread` for the other); pinned to one CPU, it runs
//! one worker. Whatever paybridge costs above this proxy is paybridge's own; whatever this proxy
//! costs above nginx, no trimming of paybridge's code removes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Connection-scoped headers, never forwarded (with any that `Connection` names). Constants,
/// not strings: a name given as `&str` is parsed again on every lookup (about 5,000 instructions
/// a request for the two passes, callgrind, issue 23).
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

struct Proxy {
    client: Client<HttpConnector, Full<Bytes>>,
    authority: Authority,
    /// The base URL's path without its trailing `/` (usually empty).
    prefix: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let current_thread = args.iter().any(|a| a == "--current-thread");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [listen, upstream] = positional[..] else {
        eprintln!("usage: hyper_floor LISTEN UPSTREAM_BASE_URL [--current-thread]");
        return ExitCode::from(2);
    };
    let listen: SocketAddr = match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => addr,
        _ => {
            eprintln!(
                "hyper_floor: LISTEN must be a loopback address and port, such as 127.0.0.1:18082"
            );
            return ExitCode::from(2);
        }
    };
    let (authority, prefix) = match base_url(upstream) {
        Ok(base) => base,
        Err(why) => {
            eprintln!("hyper_floor: UPSTREAM_BASE_URL {upstream:?}: {why}");
            return ExitCode::from(2);
        }
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let proxy = Arc::new(Proxy {
        client: Client::builder(TokioExecutor::new()).build(connector),
        authority,
        prefix,
    });
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match runtime.and_then(|rt| rt.block_on(serve(listen, proxy))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `http://host:port[/path]`: the authority and the path prefix (no TLS, no query).
fn base_url(url: &str) -> Result<(Authority, String), &'static str> {
    let uri: Uri = url.parse().map_err(|_| "not a URL")?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err("only http:// is supported");
    }
    if uri.query().is_some() {
        return Err("a base URL has no query");
    }
    let authority = uri.authority().ok_or("no host")?.clone();
    Ok((authority, uri.path().trim_end_matches('/').to_owned()))
}

async fn serve(listen: SocketAddr, proxy: Arc<Proxy>) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(proxy.clone(), req));
            // A connection's error (reset, malformed request) ends that connection only.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    proxy: Arc<Proxy>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(proxy.exchange(req).await.unwrap_or_else(|status| {
        let mut response = Response::new(Full::default());
        *response.status_mut() = status;
        response
    }))
}

impl Proxy {
    async fn exchange(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, StatusCode> {
        let (mut parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(StatusCode::BAD_REQUEST),
        };
        parts.uri = self
            .upstream_uri(&parts.uri)
            .ok_or(StatusCode::BAD_REQUEST)?;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        // The client writes Host from the URI: the upstream's, as nginx's proxy_pass does.
        parts.headers.remove(HOST);
        let request = Request::from_parts(parts, Full::new(body));
        let answer = self.client.request(request).await;
        let (mut parts, body) = answer.map_err(|_| StatusCode::BAD_GATEWAY)?.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(StatusCode::BAD_GATEWAY),
        };
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Full::new(body)))
    }

    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let path = uri.path_and_query()?;
        let path = if self.prefix.is_empty() {
            path.clone()
        } else {
            PathAndQuery::try_from(format!("{}{path}", self.prefix)).ok()?
        };
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .ok()
    }
}

/// Removes the hop-by-hop headers and those `Connection` names. A body that came chunked is
/// forwarded whole, so a `Content-Length` beside `Transfer-Encoding` goes too (hyper writes the
/// buffered length); otherwise `Content-Length` stays (it is right, and a HEAD answer needs it).
///
/// The common case, none of them present, is one pass over the names and no change.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        headers.remove(CONTENT_LENGTH);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}
