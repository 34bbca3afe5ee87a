//! Assembles the proxy's tower stack and runs the listeners a configuration asks for.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
use tower_http::trace::TraceLayer;

use crate::admin::Admin;
use crate::config::Config;
use crate::middleware::dialect_errors::DialectErrorsLayer;
use crate::middleware::in_flight::InFlightLimitLayer;
use crate::middleware::read_body::{BodyLimits, ReadBodyLayer};
use crate::middleware::request_id::RequestIdLayer;
use crate::middleware::traced::Optional;
use crate::proxy::{Gateway, JSON_UTF8};
use crate::reload::Reloader;
use crate::side::SideService;
use crate::telemetry::access::AccessLogLayer;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often the configuration file is checked for changes.
pub const CONFIG_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The proxy's request path: request id (a caller's kept only when plain) → access log → trace
/// → panic guard → dialect errors → body read (bounded, before a slot is taken) → load shedding
/// → gateway.
pub fn proxy_service(
    gateway: Gateway,
    max_in_flight: usize,
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
    let limits = {
        let gateway = gateway.clone();
        move || {
            let server = &gateway.config().server;
            BodyLimits {
                max_bytes: server.max_body_bytes,
                timeout: server.body_read_timeout,
            }
        }
    };
    ServiceBuilder::new()
        .layer(RequestIdLayer::default())
        .layer(AccessLogLayer)
        .layer(Optional::new(
            TraceLayer::new_for_http().make_span_with(request_span::<Incoming>),
            traced(),
        ))
        .layer(CatchPanicLayer::custom(|_panic| panic_answer()))
        .layer(DialectErrorsLayer)
        .layer(ReadBodyLayer::new(limits))
        .layer(InFlightLimitLayer::new(max_in_flight))
        .service(gateway)
}

/// Whether the log filter records the request's span or tower-http's `debug` events: only then
/// is the trace layer in the stack (`middleware::traced`).
fn traced() -> bool {
    use tracing::Level;
    tracing::enabled!(target: "paybridge::app", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_request", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_response", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_body_chunk", Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_eos", Level::DEBUG)
}

/// The trace span of a request: its method and path only. The query string is left out: a GET
/// may carry `sign` (or other values a log must not keep) there.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = req.method().as_str(),
        path = req.uri().path(),
        version = ?req.version(),
    )
}

/// A handler that panicked still answers in the dialect (and the panic is logged by the layer).
fn panic_answer() -> Response<Full<Bytes>> {
    tracing::error!("request handler panicked");
    let mut response = Response::new(Full::new(crate::dialect::jeepay::failure::body(
        &crate::domain::Failure::Internal,
    )));
    response.headers_mut().insert(CONTENT_TYPE, JSON_UTF8);
    response
}

/// Listeners bound for a configuration (port 0 allowed: the bound address is reported).
pub struct Bound {
    pub proxy: TcpListener,
    pub admin: Option<TcpListener>,
    /// Services started with the proxy and stopped after it has drained (the binary's
    /// embedded sandboxes); empty from [`bind`].
    pub side: Vec<SideService>,
}

impl Bound {
    pub fn proxy_addr(&self) -> std::io::Result<SocketAddr> {
        self.proxy.local_addr()
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }
}

/// Binds the proxy listener, and the admin listener when configured.
pub async fn bind(config: &Config) -> std::io::Result<Bound> {
    let proxy = TcpListener::bind(config.server.listen).await?;
    let admin = match config.admin_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    Ok(Bound {
        proxy,
        admin,
        side: Vec::new(),
    })
}

/// Serves until `shutdown` resolves, then drains every listener. With a `reloader`, the
/// configuration is reloaded on SIGHUP, on a change of its file and on `POST /admin/reload`.
pub async fn run(
    gateway: Gateway,
    bound: Bound,
    reloader: Option<Arc<Reloader>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The side listeners (side services, admin) stop after the proxy has drained: sandboxes may
    // still be answering its requests, and /readyz keeps saying "draining" meanwhile.
    let (side_stop_tx, side_stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let mut side_tasks = Vec::new();
    let draining = Arc::new(AtomicBool::new(false));
    // Installed before serving so that every request is counted.
    let upkeep =
        crate::telemetry::metrics().map(|handle| tokio::spawn(crate::telemetry::upkeep(handle)));
    for service in bound.side {
        side_tasks.push(tokio::spawn(service(Box::pin(stopped(
            side_stop_rx.clone(),
        )))));
    }
    if let Some(listener) = bound.admin {
        let admin = Admin {
            gateway: gateway.clone(),
            reloader: reloader.clone(),
            draining: draining.clone(),
            store_readiness: Default::default(),
        };
        let service = tower::service_fn(move |req: Request<Incoming>| admin.clone().handle(req));
        side_tasks.push(tokio::spawn(crate::server::serve(
            listener,
            service,
            stopped(side_stop_rx.clone()),
            SHUTDOWN_GRACE,
        )));
    }
    let watchers = reloader.map(|r| {
        (
            tokio::spawn(r.clone().on_sighup()),
            tokio::spawn(r.on_file_change(CONFIG_POLL_INTERVAL)),
        )
    });
    {
        let draining = draining.clone();
        tokio::spawn(async move {
            shutdown.await;
            draining.store(true, Ordering::Relaxed);
            let _ = stop_tx.send(true);
        });
    }
    // Notifications queued before a restart are delivered after it.
    let notifier = gateway.start_notifier();
    // Orders and refunds left open before a restart are followed up after it.
    let settlement = gateway.start_settlement();
    let server = gateway.config().server.clone();
    let limits = crate::server::Limits {
        grace: SHUTDOWN_GRACE,
        header_read_timeout: server.header_read_timeout,
        max_connections: server.max_connections,
    };
    let service = proxy_service(gateway, server.max_in_flight);
    crate::server::serve(bound.proxy, service, stopped(stop_rx), limits).await;
    if let Some((a, b)) = watchers {
        a.abort();
        b.abort();
    }
    let _ = side_stop_tx.send(true);
    // Jobs in flight keep their leases and are taken again after the restart.
    notifier.abort();
    settlement.abort();
    if let Some(task) = upkeep {
        task.abort();
    }
    for task in side_tasks {
        let _ = task.await;
    }
}
