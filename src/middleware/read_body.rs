//! Reads the request body, bounded in size and time, *before* the in-flight limit is asked for a
//! permit: a client that sends its body slowly holds only its own connection (bounded by
//! `server.max_connections` and `server.body_read_timeout_ms`), never one of the
//! `server.max_in_flight` slots that requests being handled need.
//!
//! A declared `Content-Length` over the limit is refused at once, without reading the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::Request;
use http_body_util::{BodyExt, Full, Limited};
use tower::{Layer, Service};

use crate::domain::Failure;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The limits of one request body, read per request (they follow configuration reloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct ReadBodyLayer<L> {
    limits: L,
}

impl<L> ReadBodyLayer<L>
where
    L: Fn() -> BodyLimits + Clone,
{
    /// `limits`: the limits a new request gets.
    pub fn new(limits: L) -> Self {
        ReadBodyLayer { limits }
    }
}

impl<S, L: Clone> Layer<S> for ReadBodyLayer<L> {
    type Service = ReadBody<S, L>;
    fn layer(&self, inner: S) -> Self::Service {
        ReadBody {
            inner,
            limits: self.limits.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ReadBody<S, L> {
    inner: S,
    limits: L,
}

impl<S, L, B> Service<Request<B>> for ReadBody<S, L>
where
    S: Service<Request<Full<Bytes>>, Error = Failure> + Clone + Send + 'static,
    S::Future: Send + 'static,
    L: Fn() -> BodyLimits,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Failure>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        // Readiness is the inner service's business once the body is in (the in-flight limit
        // answers "busy" from `call`, never from here).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let limits = (self.limits)();
        // The clone that was ready is the one that is called (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            if declared_length(&parts.headers).is_some_and(|n| n > limits.max_bytes as u64) {
                return Err(Failure::BodyTooLarge {
                    limit: limits.max_bytes,
                });
            }
            let body = tokio::time::timeout(limits.timeout, read(body, limits.max_bytes))
                .await
                .map_err(|_| Failure::BodyTimeout)??;
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            inner
                .call(Request::from_parts(parts, Full::new(body)))
                .await
        })
    }
}

/// The `Content-Length` a request declares (hyper has already refused a malformed or
/// conflicting one).
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The whole body, at most `limit` bytes.
pub async fn read<B>(body: B, limit: usize) -> Result<Bytes, Failure>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Failure::BodyTooLarge { limit })
        }
        Err(e) => Err(Failure::Unreadable(format!("body could not be read: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn limits() -> BodyLimits {
        BodyLimits {
            max_bytes: 8,
            timeout: Duration::from_millis(200),
        }
    }

    fn echo() -> impl Service<
        Request<Full<Bytes>>,
        Response = Bytes,
        Error = Failure,
        Future = impl Send + 'static,
    > + Clone
           + Send
           + 'static {
        tower::service_fn(|req: Request<Full<Bytes>>| async move {
            Ok::<_, Failure>(req.into_body().collect().await.unwrap().to_bytes())
        })
    }

    #[tokio::test]
    async fn a_body_is_read_whole_before_the_inner_service_runs() {
        let svc = ReadBodyLayer::new(limits).layer(echo());
        let req = Request::new(Full::new(Bytes::from_static(b"12345678")));
        assert_eq!(svc.oneshot(req).await.unwrap(), "12345678");
    }

    #[tokio::test]
    async fn too_large_declared_or_sent_is_refused() {
        let svc = ReadBodyLayer::new(limits).layer(echo());
        let req = Request::builder()
            .header(CONTENT_LENGTH, "10000000")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert!(matches!(
            svc.clone().oneshot(req).await,
            Err(Failure::BodyTooLarge { limit: 8 })
        ));
        let req = Request::new(Full::new(Bytes::from_static(b"123456789")));
        assert!(matches!(
            svc.oneshot(req).await,
            Err(Failure::BodyTooLarge { limit: 8 })
        ));
    }
}
