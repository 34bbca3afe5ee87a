//! The request's trace span, only where someone records it.
//!
//! tower-http's `TraceLayer` makes a `debug` span per request and wraps the answer's body to
//! watch its end: at the default log level (`info`) nobody records either, and it cost about
//! 1,100 instructions a request (callgrind, docs/benchmarks.md). [`Optional`] puts a layer in
//! the stack only when the log filter records what it makes (decided once, when the stack is
//! built: the filter is fixed at start); otherwise requests go straight to the inner service.
//! What the trace layer does record at `info`, the `ERROR` event `response failed` for a 5xx
//! answer (target `tower_http::trace::on_failure`, its classification and latency in
//! milliseconds), is written here in the same words when the layer is left out.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body_util::Either;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// `layer` when `on`, else nothing but tower-http's failure event.
#[derive(Clone, Debug)]
pub struct Optional<L> {
    layer: L,
    on: bool,
}

impl<L> Optional<L> {
    pub fn new(layer: L, on: bool) -> Self {
        Optional { layer, on }
    }
}

impl<S: Clone, L: Layer<S>> Layer<S> for Optional<L> {
    type Service = OptionalService<S, L::Service>;
    fn layer(&self, inner: S) -> Self::Service {
        OptionalService {
            layered: self.on.then(|| self.layer.layer(inner.clone())),
            inner,
        }
    }
}

#[derive(Clone, Debug)]
pub struct OptionalService<S, T> {
    /// The inner service behind the layer, when the layer is on.
    layered: Option<T>,
    inner: S,
}

impl<S, T, B, SB, TB> Service<Request<B>> for OptionalService<S, T>
where
    S: Service<Request<B>, Response = Response<SB>>,
    T: Service<Request<B>, Response = Response<TB>, Error = S::Error>,
{
    type Response = Response<Either<TB, SB>>;
    type Error = S::Error;
    type Future = OptionalFuture<T::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        match &mut self.layered {
            Some(layered) => layered.poll_ready(cx),
            None => self.inner.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match &mut self.layered {
            Some(layered) => OptionalFuture::Layered {
                future: layered.call(req),
            },
            None => OptionalFuture::Plain {
                future: self.inner.call(req),
                started: Instant::now(),
            },
        }
    }
}

pin_project! {
    #[project = OptionalProj]
    pub enum OptionalFuture<T, S> {
        Layered { #[pin] future: T },
        Plain { #[pin] future: S, started: Instant },
    }
}

impl<T, S, TB, SB, E> Future for OptionalFuture<T, S>
where
    T: Future<Output = Result<Response<TB>, E>>,
    S: Future<Output = Result<Response<SB>, E>>,
{
    type Output = Result<Response<Either<TB, SB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            OptionalProj::Layered { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Left)))
            }
            OptionalProj::Plain { future, started } => {
                let response = ready!(future.poll(cx))?;
                if response.status().is_server_error() {
                    failed(response.status(), started.elapsed());
                }
                Poll::Ready(Ok(response.map(Either::Right)))
            }
        }
    }
}

/// tower-http's `DefaultOnFailure` for a 5xx answer (`ServerErrorsAsFailures`), word for word.
fn failed(status: http::StatusCode, latency: std::time::Duration) {
    tracing::error!(
        target: "tower_http::trace::on_failure",
        classification = %format_args!("Status code: {status}"),
        latency = %format_args!("{} ms", latency.as_millis()),
        "response failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    fn answer(
        status: u16,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future = impl Send>
           + Clone {
        tower::service_fn(move |_req: Request<()>| async move {
            let mut response = Response::new("body".to_owned());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, Infallible>(response)
        })
    }

    /// A layer that marks the answers it passes.
    #[derive(Clone)]
    struct Mark;
    impl<S> Layer<S> for Mark {
        type Service = tower::util::MapResponse<S, fn(Response<String>) -> Response<String>>;
        fn layer(&self, inner: S) -> Self::Service {
            tower::util::MapResponse::new(inner, |mut r: Response<String>| {
                r.headers_mut()
                    .insert("marked", http::HeaderValue::from_static("1"));
                r
            })
        }
    }

    #[tokio::test]
    async fn the_layer_runs_only_when_on() {
        for on in [true, false] {
            let service = Optional::new(Mark, on).layer(answer(200));
            let response = service.oneshot(Request::new(())).await.unwrap();
            assert_eq!(response.headers().contains_key("marked"), on);
            assert_eq!(response.status(), 200);
            match response.into_body() {
                Either::Left(body) => assert!(on && body == "body"),
                Either::Right(body) => assert!(!on && body == "body"),
            }
        }
    }

    /// The lines an `info` subscriber writes while `f` runs.
    fn logged(f: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn serve(status: u16, on: bool) -> u16 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let service = Optional::new(Mark, on).layer(answer(status));
        let response = runtime.block_on(service.oneshot(Request::new(()))).unwrap();
        response.status().as_u16()
    }

    #[test]
    fn a_server_error_is_logged_as_tower_http_logs_it_without_the_layer() {
        let lines = logged(|| assert_eq!(serve(503, false), 503));
        assert!(
            lines.contains("ERROR tower_http::trace::on_failure: response failed")
                && lines.contains("classification=Status code: 503 Service Unavailable")
                && lines.contains("latency=0 ms"),
            "{lines}"
        );
        assert_eq!(logged(|| assert_eq!(serve(200, false), 200)), "");
        assert_eq!(logged(|| assert_eq!(serve(404, false), 404)), "");
    }

    /// The same answer through tower-http's own layer, for the words.
    #[test]
    fn tower_https_own_failure_line_reads_the_same() {
        let lines = logged(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let failing = tower::service_fn(|_req: Request<String>| async {
                let mut response = Response::new(String::new());
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                Ok::<_, Infallible>(response)
            });
            let service = tower_http::trace::TraceLayer::new_for_http().layer(failing);
            runtime
                .block_on(service.oneshot(Request::new(String::new())))
                .unwrap();
        });
        assert!(
            lines.contains("ERROR tower_http::trace::on_failure: response failed")
                && lines.contains("classification=Status code: 503 Service Unavailable")
                && lines.contains("latency=0 ms"),
            "{lines}"
        );
    }
}
