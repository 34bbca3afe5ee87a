//! The ~60-line hyper 1 proxy of issue 23, kept beside `examples/hyper_floor.rs` to compare the
//! two (instructions per request, `scripts/callgrind-requests --paths "floor plain"`): body read
//! whole, hyper-util's legacy pooled client, nothing else. It drops no hop-by-hop header and
//! keeps the caller's `Host`, so it is *not* a correct proxy: a yardstick only, loopback only.
//!
//! ```text
//! hyper_plain LISTEN UPSTREAM_AUTHORITY
//! hyper_plain 127.0.0.1:18083 127.0.0.1:19590
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Pooled = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_plain LISTEN UPSTREAM_AUTHORITY");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN: an address and port");
    assert!(listen.ip().is_loopback(), "LISTEN: loopback only");
    let client: Pooled = Client::builder(TokioExecutor::new()).build_http();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: Pooled,
    upstream: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = async {
        let (mut parts, body) = req.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("http://{upstream}{path}").parse::<Uri>().ok()?;
        let answer = client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
            .ok()?;
        let (parts, body) = answer.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some(Response::from_parts(parts, Full::new(body)))
    };
    Ok(answer.await.unwrap_or_else(|| {
        let mut response = Response::new(Full::default());
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        response
    }))
}
