//! Accepting connections and serving a tower service over HTTP/1.1, with graceful shutdown.
//!
//! Shared by the proxy and the sandbox: the listener is bound by the caller (port 0 in tests),
//! each connection gets the peer address as a request extension, and on shutdown the listener
//! stops accepting while in-flight requests are given `grace` to finish.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// Limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long in-flight requests may take to finish after shutdown.
    pub grace: Duration,
    /// How long a client may take to send its request head (slow-loris protection).
    pub header_read_timeout: Duration,
    /// Open connections at most; further ones wait in the kernel's backlog until one closes.
    pub max_connections: usize,
}

impl Limits {
    pub fn with_grace(grace: Duration) -> Self {
        Limits {
            grace,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

impl From<Duration> for Limits {
    fn from(grace: Duration) -> Self {
        Limits::with_grace(grace)
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains for at most the grace
/// period.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    limits: impl Into<Limits>,
) where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limits = limits.into();
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, stop accepting until one closes (back-pressure, not errors).
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = crate::telemetry::text(&err).as_str(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut()
                    .insert(crate::telemetry::access::RequestScope::new(Some(peer)));
                req
            });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%peer, error = crate::telemetry::text(&err).as_str(), "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.grace) => tracing::warn!(grace = ?limits.grace, "grace period over; closing remaining connections"),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
