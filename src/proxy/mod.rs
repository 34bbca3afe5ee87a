//! The gateway service: reads a merchant request, decides its route (translate to DaxPay or
//! pass through to a legacy gateway), carries it out, and falls back once where configured.
//!
//! A translated request goes through one generic pipeline ([`pipeline`]), chosen for its
//! operation by the registry ([`registry`]); a passed-through one is forwarded unchanged
//! ([`passthrough`]). Errors are returned as [`Failure`], not rendered here: the
//! [`crate::middleware::dialect_errors`] layer renders them in the caller's dialect.
//! The configuration is swapped atomically on reload; a request keeps the one it started with.

mod call;
mod context;
mod dialects;
mod ownership;
mod passthrough;
mod pipeline;
mod records;
pub mod registry;
mod replay;
pub mod routing;
pub(crate) mod runtime;
mod serve;
mod unserved;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;

use crate::config::{Config, ReplayStoreKind};
use crate::dialect::epay::Epay;
use crate::dialect::failures::Speaker;
use crate::dialect::jeepay::Jeepay;
use crate::dispatch::{self, Endpoint};
use crate::domain::Failure;
use crate::replay::{DurableStore, MemoryStore, RedisStore, Store};
use crate::telemetry::access::RequestScope;
use context::Context;
pub use dialects::epay_at;
pub use registry::daxpay_call;
pub use runtime::{Runtime, JSON_UTF8};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request path's tower service. Cheap to clone: the state is shared.
#[derive(Clone)]
pub struct Gateway {
    runtime: Arc<ArcSwap<Runtime>>,
    /// Survives reloads: replay protection must not reset with the configuration.
    replay: Option<Store>,
}

impl Gateway {
    /// A gateway whose replay store is the configuration's (a Redis store is kept in memory
    /// until [`build`] connects it).
    ///
    /// [`build`]: Gateway::build
    pub fn new(config: Arc<Config>) -> Self {
        let runtime = Runtime::new(config.clone());
        let replay = match &config.replay.store {
            ReplayStoreKind::Off => None,
            ReplayStoreKind::Orders => Some(Store::Orders(Arc::new(DurableStore::new(
                runtime.orders.clone(),
                config.replay.claim_lease,
            )))),
            ReplayStoreKind::Memory { max_entries } => {
                Some(Store::Memory(Arc::new(MemoryStore::new(*max_entries))))
            }
            ReplayStoreKind::Redis { .. } => {
                Some(Store::Memory(Arc::new(MemoryStore::new(100_000))))
            }
        };
        Gateway {
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            replay,
        }
    }

    /// A gateway with the replay store the configuration names (connecting to Redis).
    pub async fn build(config: Arc<Config>) -> Result<Self, crate::replay::StoreError> {
        let mut gateway = Gateway::new(config.clone());
        if let ReplayStoreKind::Redis { url } = &config.replay.store {
            let redis = RedisStore::connect(url, config.replay.claim_lease).await?;
            gateway.replay = Some(Store::Redis(Arc::new(redis)));
        }
        Ok(gateway)
    }

    /// Replaces the configuration; requests in flight finish on the one they started with.
    pub fn reload(&self, config: Arc<Config>) {
        let orders = self.runtime.load().orders.clone();
        self.runtime
            .store(Arc::new(Runtime::with_orders(config, orders)));
    }

    /// Starts the worker that delivers queued notifications to merchants (one per gateway; it
    /// follows reloads).
    pub fn start_notifier(&self) -> tokio::task::JoinHandle<()> {
        crate::notify::deliver::spawn(self.runtime.clone())
    }

    /// Starts the worker that follows every order and refund up until DaxPay says it is final
    /// (one per gateway; it follows reloads).
    pub fn start_settlement(&self) -> tokio::task::JoinHandle<()> {
        crate::settle::spawn(self.runtime.clone())
    }

    /// The order store (`None`: it could not be opened).
    pub fn orders(&self) -> Option<crate::store::OrderStore> {
        self.runtime.load().orders.clone()
    }

    /// The configuration new requests get.
    pub fn config(&self) -> Arc<Config> {
        self.runtime.load().config.clone()
    }

    /// The upstreams of the active configuration, for readiness.
    pub fn upstream_health(&self) -> Vec<crate::upstream::UpstreamHealth> {
        self.runtime.load().upstreams.health()
    }
}

impl<B> tower::Service<Request<B>> for Gateway
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Failure;
    type Future = Detached;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let runtime = self.runtime.load_full();
        let replay = self.replay.clone();
        Detached(Some(Box::pin(async move {
            handle(&runtime, replay.as_ref(), req).await
        })))
    }
}

/// The boxed request future.
type RequestFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Failure>> + Send>>;

/// The gateway's answer: the request's future, polled in the connection's task, and detached
/// only if that task lets go of it before the answer.
///
/// A client that goes away must not cancel a call to a gateway half-way (the close may have been
/// sent; its outcome still has to reach the replay store, and the circuit breaker its verdict):
/// dropped unfinished, the future is spawned to run to its end. Until issue 14 every request was
/// spawned up front, which cost each one a task (allocation, scheduling, the join handle's
/// wake-up; callgrind: docs/benchmarks.md). A panic in the handler is caught here, logged, and
/// answered as an internal failure, as the joined task's was.
pub struct Detached(Option<RequestFuture>);

impl Future for Detached {
    type Output = Result<Response<Full<Bytes>>, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let Some(future) = self.0.as_mut() else {
            return Poll::Ready(Err(Failure::Internal));
        };
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx)));
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => output,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(
                    error = format!("request handler panicked with message {message:?}").as_str(),
                    "request handler failed"
                );
                Err(Failure::Internal)
            }
        };
        self.0 = None;
        Poll::Ready(output)
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(future) = self.0.take() {
            // Outside a runtime (it is shutting down) there is nothing left to finish it on.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = future.await;
                });
            }
        }
    }
}

async fn handle<B>(
    rt: &Runtime,
    replay: Option<&Store>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Failure>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Each branch below is boxed where it starts: unboxed, this future would be as large as the
    // largest of them (the translate pipeline down to the DaxPay exchange, some 9 KiB), and
    // every request would copy all of it into its task, passthrough included. Boxed, a request
    // copies only the branch it takes (callgrind: docs/benchmarks.md, issue 14).
    // Jeepay maps its endpoints for every method; HEAD, OPTIONS, TRACE and CONNECT make no
    // sense for a signed, state-changing call.
    if ![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ]
    .contains(req.method())
    {
        return Err(Failure::MethodNotAllowed(req.method().to_string()));
    }
    let (parts, body) = req.into_parts();
    let server = &rt.config.server;
    let body = match in_memory(body) {
        Ok(body) if body.len() > server.max_body_bytes => {
            return Err(Failure::BodyTooLarge {
                limit: server.max_body_bytes,
            })
        }
        Ok(body) => body,
        Err(body) => tokio::time::timeout(
            server.body_read_timeout,
            read_body(body, server.max_body_bytes),
        )
        .await
        .map_err(|_| Failure::BodyTimeout)??,
    };
    // The path read as Jeepay's servlet stack reads it: an alias of a translated path is that
    // operation, a look-alike is refused, never forwarded raw (`dispatch::target`). epay's own
    // paths are exact (PHP serves no aliases).
    let target = dispatch::target(parts.uri.path());
    // An epay endpoint paybridge does not serve (`proxy::unserved`).
    let mut unserved = None;
    let other_path = target == dispatch::Target::Other;
    let op = match target {
        // paybridge's own relay endpoints: DaxPay's callbacks and payers' browsers coming back.
        dispatch::Target::Relay(relay) => {
            return Ok(match (relay, &parts.method) {
                (dispatch::Relay::Callback(token), &Method::POST) => {
                    Box::pin(crate::notify::intake::callback(rt, token, &body)).await
                }
                (dispatch::Relay::Return(token), &Method::GET) => {
                    Box::pin(crate::notify::returning::redirect(rt, token)).await
                }
                _ => return Err(Failure::MethodNotAllowed(parts.method.to_string())),
            })
        }
        dispatch::Target::Refused => return Err(Failure::NotFound(parts.uri.path().to_owned())),
        dispatch::Target::Operation(op) => Some(Endpoint::Jeepay(op)),
        dispatch::Target::Epay(endpoint) => Some(Endpoint::Epay(endpoint)),
        dispatch::Target::EpayApi => match dialects::api_php(parts.uri.query()) {
            Ok(endpoint) => Some(Endpoint::Epay(endpoint)),
            Err(act) => {
                unserved = Some(act);
                None
            }
        },
        dispatch::Target::Other => None,
    };
    let peer = parts
        .extensions
        .get::<RequestScope>()
        .and_then(|scope| scope.peer)
        .map(|peer| peer.ip());
    let cx = Context::new(parts, body, op, peer);
    if other_path {
        unserved = unserved.or(dialects::unserved_v2(&cx));
    }
    if let Some(unserved) = unserved {
        return Box::pin(unserved::serve(rt, &cx, unserved)).await;
    }
    // `/api/pay/query` and `/api/pay/close` are epay V2's too: its parameters decide.
    let endpoint = match op {
        Some(Endpoint::Jeepay(kind)) => dialects::shared_path(&cx, kind)?,
        other => other,
    };
    if let Some(endpoint @ Endpoint::Epay(_)) = endpoint {
        cx.note(|r| {
            r.speaker = Some(Speaker {
                endpoint,
                platform_key: rt.config.epay.platform_key.clone(),
            })
        });
        return serve::serve::<Epay>(rt, replay, &cx, Some(endpoint)).await;
    }
    // Not boxed: its branches are (an allocation fewer per request).
    serve::serve::<Jeepay>(rt, replay, &cx, endpoint).await
}

/// The bytes of a body already in memory: a `Full<Bytes>`, which is what
/// [`crate::middleware::read_body`] hands on (on the proxy's stack the body is read, bounded in
/// size and time, before an in-flight slot is taken). Taken as they are, without collecting them
/// again under a second timer (callgrind: some 1,500 instructions a request). Any other body is
/// given back, to be read by [`read_body`].
fn in_memory<B: 'static>(body: B) -> Result<Bytes, B> {
    let mut slot = Some(body);
    let any: &mut dyn std::any::Any = &mut slot;
    match any.downcast_mut::<Option<Full<Bytes>>>() {
        Some(full) => Ok(full.take().map(whole).unwrap_or_default()),
        None => slot.map_or_else(|| Ok(Bytes::new()), Err),
    }
}

/// The one data frame of a `Full` body (always ready: nothing waits on the waker).
fn whole(mut body: Full<Bytes>) -> Bytes {
    use hyper::body::Body as _;
    let mut cx = TaskContext::from_waker(std::task::Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// The body, bounded (already read by [`crate::middleware::read_body`] on the proxy's stack,
/// before an in-flight slot was taken; read here for a gateway used without that layer).
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Failure>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    crate::middleware::read_body::read(body, limit).await
}
