//! The plainest correct hyper 1 reverse proxy: the benchmark's reference for "any proxy built on
//! hyper" (`scripts/bench-nginx`, path `hyper`).
//!
//! It does what every proxy must and nothing paybridge adds: the request is read whole, its
//! method, path, query, end-to-end headers and body are sent through a pooled keep-alive client
//! (hyper-util's), and the answer is returned. No routing, parsing, signing, logging, metrics or
//! limits. Measured beside nginx `proxy_pass` and paybridge in one run, it shows how much of the
//! gap to nginx is hyper's own, which no amount of trimming paybridge can remove.
//!
//!     cargo run --release --example hyper_floor -- 127.0.0.1:18082 http://127.0.0.1:19590 [--current-thread]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Upstream = Client<HttpConnector, Full<Bytes>>;

/// Connection-scoped headers (RFC 9110 §7.6.1), not forwarded either way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(upstream)) = (args.first(), args.get(1)) else {
        eprintln!("usage: hyper_floor LISTEN UPSTREAM_BASE_URL [--current-thread]");
        std::process::exit(2);
    };
    let listen: SocketAddr = match listen.parse() {
        Ok(addr @ SocketAddr::V4(v4)) if v4.ip().is_loopback() => addr,
        _ => {
            eprintln!("hyper_floor: listen on a 127.0.0.0/8 address");
            std::process::exit(2);
        }
    };
    let base: Uri = match upstream.parse() {
        Ok(uri) => uri,
        Err(e) => {
            eprintln!("hyper_floor: bad upstream URL: {e}");
            std::process::exit(2);
        }
    };
    let runtime = if args.iter().any(|a| a == "--current-thread") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let result = runtime.and_then(|rt| rt.block_on(serve(listen, base)));
    if let Err(e) = result {
        eprintln!("hyper_floor: {e}");
        std::process::exit(1);
    }
}

async fn serve(listen: SocketAddr, base: Uri) -> std::io::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let listener = TcpListener::bind(listen).await?;
    eprintln!("hyper_floor serving on {listen}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(client.clone(), base.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: Upstream,
    base: Uri,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match exchange(&client, &base, req).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    })
}

async fn exchange(
    client: &Upstream,
    base: &Uri,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut uri = base.clone().into_parts();
    uri.path_and_query = parts.uri.path_and_query().cloned();
    parts.uri = Uri::from_parts(uri)?;
    parts.headers = end_to_end(&parts.headers);
    parts.headers.remove(header::HOST);
    let answer = client
        .request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (mut parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    parts.headers = end_to_end(&parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// `headers` without hop-by-hop ones (and `Content-Length`: the body is re-framed).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let hop = HOP_BY_HOP.contains(&name.as_str()) || name == header::CONTENT_LENGTH;
        if !hop {
            out.append(HeaderName::clone(name), value.clone());
        }
    }
    out
}
