//! The sandbox's one HTTP client call: a JSON POST over plain HTTP/1.1, one connection per
//! attempt, the whole exchange (connect, send, read the answer) bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// DaxPay's callback timeout (`MerchantCallbackSendService`: 5 s).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read; a receiver only needs to say `SUCCESS`.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Whether the sandbox can send to `url`: `http://` with a host. `https://` is not
/// supported (a sandbox; the receiver is local).
pub(crate) fn sendable(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(other) => return Err(format!("`{other}` URLs are not supported by the sandbox")),
        None => return Err("no scheme".to_owned()),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err("no host".to_owned()),
    }
}

/// POSTs `body` as JSON to `url`; the answer's body as text, or why there is none.
pub(crate) async fn post_json(url: &str, body: &str, content_type: &str) -> Result<String, String> {
    match tokio::time::timeout(TIMEOUT, exchange(url, body, content_type)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn exchange(url: &str, body: &str, content_type: &str) -> Result<String, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let authority = uri.authority().ok_or("no host")?.clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The connection is driven beside the exchange and dropped with it at the latest.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(TIMEOUT, conn).await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::post(path)
        .header(HOST, authority.as_str())
        .header(CONTENT_TYPE, content_type)
        .header(CONNECTION, "close")
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let bytes = Limited::new(response.into_body(), ANSWER_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("answer: {e}"))?
        .to_bytes();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
