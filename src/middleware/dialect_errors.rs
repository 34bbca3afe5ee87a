//! Renders [`GatewayError`]s as answers in the caller's dialect, in one place.
//!
//! Everything below this layer returns `Result<Response, GatewayError>`; everything above sees an
//! infallible service. Operator faults are logged here with their full detail (never secrets);
//! the merchant gets only the short reason.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::Full;
use tower::{Layer, Service};

use crate::error::GatewayError;
use crate::route::JSON_UTF8;
use crate::telemetry::access::AccessHandle;

#[derive(Clone, Copy, Debug, Default)]
pub struct DialectErrorsLayer;

impl<S> Layer<S> for DialectErrorsLayer {
    type Service = DialectErrors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DialectErrors {
            inner,
            not_ready: None,
        }
    }
}

#[derive(Debug)]
pub struct DialectErrors<S> {
    inner: S,
    /// An error the inner service reported from `poll_ready`, answered by the next `call`.
    not_ready: Option<GatewayError>,
}

impl<S: Clone> Clone for DialectErrors<S> {
    fn clone(&self) -> Self {
        DialectErrors {
            inner: self.inner.clone(),
            not_ready: None,
        }
    }
}

impl<S, B> Service<http::Request<B>> for DialectErrors<S>
where
    S: Service<http::Request<B>, Response = Response<Full<Bytes>>, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(error)) => {
                self.not_ready = Some(error);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let access = req.extensions().get::<AccessHandle>().cloned();
        let note = move |error: &GatewayError| {
            if let Some(handle) = &access {
                handle.note(|r| {
                    r.code = Some(error.code());
                    r.error_kind = Some(error.kind());
                });
            }
        };
        if let Some(error) = self.not_ready.take() {
            note(&error);
            return Box::pin(async move { Ok(render(&error)) });
        }
        let future = self.inner.call(req);
        Box::pin(async move {
            Ok(match future.await {
                Ok(response) => response,
                Err(error) => {
                    note(&error);
                    render(&error)
                }
            })
        })
    }
}

/// The answer for `error`, logged at a level that fits whose fault it is.
pub fn render(error: &GatewayError) -> Response<Full<Bytes>> {
    match error {
        GatewayError::Upstream(detail) => {
            tracing::warn!(kind = error.kind(), error = %detail, "upstream fault")
        }
        GatewayError::Internal => tracing::error!(kind = error.kind(), "internal error"),
        GatewayError::Conversion(detail) => {
            tracing::debug!(kind = error.kind(), detail = %detail, "request refused")
        }
        // The access-log line already says what the merchant was answered.
        _ => tracing::debug!(kind = error.kind(), msg = %error, "request refused"),
    }
    let mut response = Response::new(Full::new(Bytes::from(error.reply().to_json())));
    *response.status_mut() = error.status();
    response.headers_mut().insert(CONTENT_TYPE, JSON_UTF8);
    response
}
