//! Assembles the proxy's tower stack and runs the listeners a configuration asks for.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::error::GatewayError;
use crate::middleware::dialect_errors::DialectErrorsLayer;
use crate::middleware::request_id::MakeId;
use crate::route::{Gateway, JSON_UTF8};
use crate::sandbox::{self, Sandbox};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The proxy's request path: request id → trace → panic guard → dialect errors → gateway.
pub fn proxy_service(
    config: Arc<Config>,
) -> impl Service<
    Request<Incoming>,
    Response = Response<
        impl hyper::body::Body<
                Data = Bytes,
                Error = impl Into<Box<dyn std::error::Error + Send + Sync>>,
            > + Send
            + 'static,
    >,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeId::default()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(CatchPanicLayer::custom(|_panic| panic_answer()))
        .layer(DialectErrorsLayer)
        .service(Gateway::new(config))
}

/// A handler that panicked still answers in the dialect (and the panic is logged by the layer).
fn panic_answer() -> Response<Full<Bytes>> {
    tracing::error!("request handler panicked");
    let mut response = Response::new(Full::new(Bytes::from(
        GatewayError::Internal.reply().to_json(),
    )));
    response.headers_mut().insert(CONTENT_TYPE, JSON_UTF8);
    response
}

/// Listeners bound for a configuration (port 0 allowed: the bound address is reported).
pub struct Bound {
    pub proxy: TcpListener,
    pub sandbox: Option<(TcpListener, Sandbox)>,
}

impl Bound {
    pub fn proxy_addr(&self) -> std::io::Result<SocketAddr> {
        self.proxy.local_addr()
    }
}

/// Binds the proxy listener, and the sandbox's when the configuration embeds one.
pub async fn bind(config: &Config) -> std::io::Result<Bound> {
    let proxy = TcpListener::bind(config.server.listen).await?;
    let sandbox = match config.sandbox.as_ref().filter(|s| s.embedded) {
        Some(sb) => Some((TcpListener::bind(sb.listen).await?, Sandbox::new(sb))),
        None => None,
    };
    Ok(Bound { proxy, sandbox })
}

/// Serves until `shutdown` resolves, then drains both listeners.
pub async fn run(
    config: Arc<Config>,
    bound: Bound,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let sandbox_task = bound.sandbox.map(|(listener, sandbox)| {
        tokio::spawn(sandbox::run(listener, sandbox, stopped(stop_rx.clone())))
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    crate::server::serve(
        bound.proxy,
        proxy_service(config),
        stopped(stop_rx),
        SHUTDOWN_GRACE,
    )
    .await;
    if let Some(task) = sandbox_task {
        let _ = task.await;
    }
}
