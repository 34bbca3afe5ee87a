//! The driver's HTTP plumbing: a small server loop whose handler may also drop the connection
//! without an answer (a fault), and a pooled client.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What a handler does with a request.
pub(crate) enum Reply {
    /// Answer with this status, content type and body.
    Answer(StatusCode, &'static str, Bytes),
    /// Close the connection without an answer.
    Drop,
}

impl Reply {
    pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply::Answer(status, "text/plain;charset=UTF-8", body.into())
    }

    pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply::Answer(status, "application/json;charset=UTF-8", body.into())
    }
}

/// A request as a handler sees it: the path (and query) and the whole body.
pub(crate) struct Call {
    /// Whether it came as a GET (epay's notifications do).
    pub(crate) get: bool,
    pub(crate) path: String,
    pub(crate) body: Bytes,
}

pub(crate) type Handler =
    Arc<dyn Fn(Call) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Serves `handler` on `listener` (HTTP/1.1, keep-alive) until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, handler: Handler) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(std::io::Error::other)?
                        .to_bytes();
                    let path = parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    let get = parts.method == http::Method::GET;
                    match handler(Call { get, path, body }).await {
                        Reply::Answer(status, content_type, body) => Response::builder()
                            .status(status)
                            .header("content-type", content_type)
                            .body(Full::new(body))
                            .map_err(std::io::Error::other),
                        // An error from the service makes hyper close the connection unanswered.
                        Reply::Drop => Err(std::io::Error::other("dropped by the soak")),
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub(crate) fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(20))
        .build(connector)
}

/// An answer: status and body.
pub(crate) struct Got {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// POSTs `body` to `addr` + `path`; `Err` is a transport failure (no answer), described.
pub(crate) async fn post(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<Got, String> {
    let request = Request::post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    exchange(client, request, timeout).await
}

/// GETs `addr` + `path` (with its query); `Err` is a transport failure (no answer), described.
pub(crate) async fn get(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<Got, String> {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("request: {e}"))?;
    exchange(client, request, timeout).await
}

async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Got, String> {
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            if e.is_connect() {
                format!("connect: {e}")
            } else {
                format!("transport: {e}")
            }
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Got { status, body })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout: no answer within {timeout:?}")),
    }
}

/// GET `http://addr/path`'s status, `None` on a transport failure.
pub(crate) async fn get_status(client: &HttpClient, addr: SocketAddr, path: &str) -> Option<u16> {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    let response = tokio::time::timeout(Duration::from_secs(2), client.request(request))
        .await
        .ok()?
        .ok()?;
    Some(response.status().as_u16())
}

/// GET `http://addr/path`'s body as text, `None` on a transport failure.
pub(crate) async fn get_text(client: &HttpClient, addr: SocketAddr, path: &str) -> Option<String> {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .ok()?;
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()?
}
