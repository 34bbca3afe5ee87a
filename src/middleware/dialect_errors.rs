//! Renders [`Failure`]s as answers in the caller's dialect, in one place.
//!
//! Everything below this layer returns `Result<Response, Failure>`; everything above sees an
//! infallible service. Operator faults are logged here with their full detail (never secrets);
//! the merchant gets only the short reason.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::dialect::failures::{failure_answer, Speaker};
use crate::domain::Failure;
use crate::telemetry::access::{AccessHandle, RequestScope};

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
    not_ready: Option<Failure>,
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
    S: Service<http::Request<B>, Response = Response<Full<Bytes>>, Error = Failure>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = DialectErrorsFuture<S::Future>;

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
        let access = RequestScope::access_of(req.extensions()).cloned();
        if let Some(error) = self.not_ready.take() {
            return DialectErrorsFuture {
                inner: None,
                not_ready: Some(error),
                access,
            };
        }
        DialectErrorsFuture {
            inner: Some(self.inner.call(req)),
            not_ready: None,
            access,
        }
    }
}

pin_project! {
    /// The answer of [`DialectErrors`]: the inner service's, or its error rendered.
    pub struct DialectErrorsFuture<F> {
        // `None` when the inner service was not ready and `not_ready` is the answer.
        #[pin]
        inner: Option<F>,
        not_ready: Option<Failure>,
        access: Option<AccessHandle>,
    }
}

impl<F> Future for DialectErrorsFuture<F>
where
    F: Future<Output = Result<Response<Full<Bytes>>, Failure>>,
{
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.inner.as_pin_mut() else {
            // Not ready, or polled again after answering (a caller's bug: an internal error,
            // not a panic).
            let error = this.not_ready.take().unwrap_or(Failure::Internal);
            return Poll::Ready(Ok(answer(this.access.take().as_ref(), &error)));
        };
        Poll::Ready(Ok(match ready!(future.poll(cx)) {
            Ok(response) => response,
            Err(error) => answer(this.access.as_ref(), &error),
        }))
    }
}

/// The answer for `error`, in the dialect the request came in (as the handler noted it), and
/// noted in the access log.
fn answer(access: Option<&AccessHandle>, error: &Failure) -> Response<Full<Bytes>> {
    let mut speaker: Option<Speaker> = None;
    if let Some(handle) = access {
        handle.note(|r| speaker = r.speaker.clone());
    }
    let (response, code) = render_for(error, speaker.as_ref());
    if let Some(handle) = access {
        handle.note(|r| {
            r.code = code;
            r.error_kind = Some(error.kind());
        });
    }
    response
}

/// The answer for `error` in Jeepay's dialect, logged at a level that fits whose fault it is.
pub fn render(error: &Failure) -> Response<Full<Bytes>> {
    render_for(error, None).0
}

/// The answer for `error` in `speaker`'s dialect (`None`: Jeepay's), and its code.
fn render_for(error: &Failure, speaker: Option<&Speaker>) -> (Response<Full<Bytes>>, Option<i64>) {
    match error {
        e if e.is_operator_fault() => {
            tracing::warn!(
                kind = error.kind(),
                error = crate::telemetry::text(error).as_str(),
                "upstream fault"
            )
        }
        Failure::Internal => tracing::error!(kind = error.kind(), "internal error"),
        // The access-log line already says what the merchant was answered.
        _ => tracing::debug!(
            kind = error.kind(),
            error = crate::telemetry::text(error).as_str(),
            "request refused"
        ),
    }
    let answer = failure_answer(error, speaker);
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, answer.content_type);
    (response, answer.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::jeepay::failure as jeepay;
    use crate::proxy::JSON_UTF8;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn answer(
        svc: impl Service<http::Request<()>, Response = Response<Full<Bytes>>, Error = Infallible>,
    ) -> (Response<Bytes>, AccessHandle) {
        let scope = RequestScope::new(None);
        let handle = scope.access.clone();
        let mut req = http::Request::new(());
        req.extensions_mut().insert(scope);
        let response = svc.oneshot(req).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts, body), handle)
    }

    fn noted(handle: &AccessHandle) -> (Option<i64>, Option<&'static str>) {
        let mut seen = (None, None);
        handle.note(|r| seen = (r.code, r.error_kind));
        seen
    }

    #[tokio::test]
    async fn errors_are_answered_in_the_dialect_and_noted() {
        let failing = tower::service_fn(|_: http::Request<()>| async {
            Err::<Response<Full<Bytes>>, _>(Failure::OrderNotFound { verified: true })
        });
        let (response, handle) = answer(DialectErrorsLayer.layer(failing)).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], JSON_UTF8);
        assert_eq!(
            response.body(),
            &Bytes::from_static("{\"code\":9999,\"msg\":\"订单不存在\"}".as_bytes())
        );
        assert_eq!(noted(&handle), (Some(9999), Some("order_not_found")));

        let fine = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, Failure>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        let (response, handle) = answer(DialectErrorsLayer.layer(fine)).await;
        assert_eq!(response.body(), &Bytes::from_static(b"ok"));
        assert_eq!(noted(&handle), (None, None));
    }

    /// Ready only with an error.
    #[derive(Clone)]
    struct NeverReady;

    impl Service<http::Request<()>> for NeverReady {
        type Response = Response<Full<Bytes>>;
        type Error = Failure;
        type Future = std::future::Ready<Result<Self::Response, Failure>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
            Poll::Ready(Err(Failure::ReplayStoreDown))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
        }
    }

    #[tokio::test]
    async fn an_inner_service_not_ready_is_answered_by_the_next_call() {
        let (response, handle) = answer(DialectErrorsLayer.layer(NeverReady)).await;
        assert_eq!(
            response.body(),
            &Bytes::from(jeepay::reply(&Failure::ReplayStoreDown).to_json())
        );
        assert_eq!(noted(&handle), (Some(10), Some("replay_store_down")));
    }
}
