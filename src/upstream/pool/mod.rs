//! Keep-alive HTTP/1.1 connections to one upstream, on hyper's connection-level API.
//!
//! Why not hyper-util's pooled `Client`: this path runs on every payment call, and the generic
//! client cost 15 heap allocations per request (pool key, checkout envelope, connection
//! metadata, `Host` header) where a dedicated pool for one origin needs 2 or 3. It also lets the
//! pool bound the connections it opens, and it keeps exact track of what was sent: hyper hands
//! back a request it never wrote ([`hyper::client::conn::TrySendError::take_message`]), so a stale keep-alive
//! connection costs a second try on another connection and never a copy of the request.
//!
//! * At most `max_connections` connections are open (in use or idle); a request beyond that
//!   waits for one to come back, within its caller's deadline (nothing is sent meanwhile).
//! * Idle connections are reused newest first and closed after `idle_timeout`.
//! * A connection is reused only after its answer was read to the end.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::Service;

use super::error::error_chain;

type Sender = SendRequest<Full<Bytes>>;

/// Why a request got no answer from the pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No connection could be made: nothing was sent.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Every connection stayed busy until the deadline: nothing was sent.
    #[error("no free connection before the deadline ({0} open)")]
    Exhausted(usize),
    /// Sent, and no answer before the deadline.
    #[error("no answer before the deadline")]
    TimedOut,
    /// The request may have been written, then the exchange failed.
    #[error("connection broke after sending: {0}")]
    Broken(String),
    /// The answer was longer than its reader accepts (set by the reader of the body).
    #[error("answer too large")]
    AnswerTooLarge,
}

/// A failed send; a request that was certainly not sent comes back for another try.
#[derive(Debug)]
pub struct Failure {
    pub error: PoolError,
    pub unsent: Option<Request<Full<Bytes>>>,
}

impl Failure {
    fn unsent(error: PoolError, request: Request<Full<Bytes>>) -> Self {
        Failure {
            error,
            unsent: Some(request),
        }
    }

    fn sent(error: PoolError) -> Self {
        Failure {
            error,
            unsent: None,
        }
    }
}

/// The connections to one origin. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority` of the upstream: what the connector dials.
    origin: Option<Uri>,
    /// The `Host` header every request carries.
    host: HeaderValue,
    max_connections: usize,
    idle_timeout: Duration,
    /// One permit per open connection.
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    /// Signalled when a connection goes back to the idle list.
    returned: Notify,
    reaper_started: std::sync::Once,
}

struct Idle {
    sender: Sender,
    since: Instant,
    permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.inner.origin)
            .field("max_connections", &self.inner.max_connections)
            .finish_non_exhaustive()
    }
}

/// A connection checked out of the pool; [`Lease::release`] gives it back for reuse.
pub struct Lease {
    sender: Sender,
    permit: OwnedSemaphorePermit,
    pool: Arc<Inner>,
}

impl Lease {
    /// Returns the connection to the idle list (call only once its answer was read whole).
    /// A connection that hyper has closed (for example after `Connection: close`) is dropped.
    pub fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push(Idle {
                sender: self.sender,
                since: Instant::now(),
                permit: self.permit,
            });
        }
        self.pool.returned.notify_one();
    }
}

impl Pool {
    /// `origin`: `scheme://authority` (any path is ignored). An origin without a host (the
    /// configuration refuses those) makes every call fail to connect.
    pub fn new(
        connector: HttpsConnector<HttpConnector>,
        origin: &Uri,
        max_connections: usize,
        idle_timeout: Duration,
    ) -> Self {
        let authority = origin.authority().cloned();
        let host = host_header(origin).unwrap_or(HeaderValue::from_static("invalid"));
        let origin = authority.and_then(|authority| {
            Uri::builder()
                .scheme(origin.scheme_str().unwrap_or("http"))
                .authority(authority)
                .path_and_query("/")
                .build()
                .ok()
        });
        let max_connections = max_connections.max(1);
        Pool {
            inner: Arc::new(Inner {
                connector,
                origin,
                host,
                max_connections,
                idle_timeout,
                permits: Arc::new(Semaphore::new(max_connections)),
                idle: Mutex::new(Vec::new()),
                returned: Notify::new(),
                reaper_started: std::sync::Once::new(),
            }),
        }
    }

    /// Connections open now (in use or idle).
    pub fn open(&self) -> usize {
        self.inner.max_connections - self.inner.permits.available_permits()
    }

    /// Sends `req` (origin-form URI; `Host` is set here) on a pooled connection, or a new one,
    /// and waits for the answer's head until `deadline`. Getting a connection (waiting for one,
    /// or connecting) must be done by `send_by`, or nothing is sent: a request written with no
    /// time left for its answer would end "outcome unknown" while the upstream carries it out.
    /// The body is the caller's to read; the lease goes back with [`Lease::release`] after it.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        send_by: Instant,
        deadline: Instant,
    ) -> Result<(Response<Incoming>, Lease), Failure> {
        let send_by = send_by.min(deadline);
        req.headers_mut()
            .insert(http::header::HOST, self.inner.host.clone());
        loop {
            let (mut lease, reused) = match self.checkout(send_by).await {
                Ok(checked_out) => checked_out,
                Err(error) => return Err(Failure::unsent(error, req)),
            };
            // A keep-alive connection may have been closed by the peer since its last use.
            match by(send_by, lease.sender.ready()).await {
                Some(Ok(())) => {}
                Some(Err(_)) if reused => continue,
                Some(Err(e)) => {
                    return Err(Failure::unsent(PoolError::Connect(error_chain(&e)), req))
                }
                None => {
                    let error = PoolError::Connect("timed out waiting for the connection".into());
                    return Err(Failure::unsent(error, req));
                }
            }
            // `try_send_request` queues the request before anything is awaited, and a timer
            // that is already due does not stop it: look at the clock first.
            if Instant::now() >= send_by {
                return Err(Failure::unsent(PoolError::Exhausted(self.open()), req));
            }
            let sent = tokio::time::timeout_at(deadline, lease.sender.try_send_request(req));
            match sent.await {
                Ok(Ok(response)) => return Ok((response, lease)),
                Ok(Err(mut e)) => match e.take_message() {
                    // Never written: the peer closed the idle connection just now.
                    Some(unsent) if reused => req = unsent,
                    Some(unsent) => {
                        let error = PoolError::Connect(error_chain(e.error()));
                        return Err(Failure::unsent(error, unsent));
                    }
                    None => return Err(Failure::sent(PoolError::Broken(error_chain(e.error())))),
                },
                // Dropping the exchange closes the connection (hyper cannot abort one HTTP/1
                // request and keep the connection).
                Err(_) => return Err(Failure::sent(PoolError::TimedOut)),
            }
        }
    }

    /// An idle connection (`true`), else a new one (`false`), else waits for either, until
    /// `deadline`.
    async fn checkout(&self, deadline: Instant) -> Result<(Lease, bool), PoolError> {
        // The usual case first, with nothing registered to wait: an idle connection.
        if let Some(idle) = self.take_idle() {
            return Ok((self.lease(idle.sender, idle.permit), true));
        }
        loop {
            if Instant::now() >= deadline {
                return Err(PoolError::Exhausted(self.open()));
            }
            // Registered before looking, so a connection returned meanwhile is not missed.
            let returned = self.inner.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(idle) = self.take_idle() {
                return Ok((self.lease(idle.sender, idle.permit), true));
            }
            let permit = match self.inner.permits.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    let freed = self.inner.permits.clone().acquire_owned();
                    tokio::select! {
                        _ = returned => continue,
                        permit = freed => permit.map_err(|_| PoolError::Connect("pool closed".into()))?,
                        _ = tokio::time::sleep_until(deadline) => {
                            return Err(PoolError::Exhausted(self.open()));
                        }
                    }
                }
            };
            return match tokio::time::timeout_at(deadline, self.connect(permit)).await {
                Ok(result) => result.map(|lease| (lease, false)),
                Err(_) => Err(PoolError::Connect("timed out connecting".into())),
            };
        }
    }

    /// The newest idle connection still open and not expired; the others found on the way
    /// are closed.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.inner.idle.lock().ok()?;
        while let Some(candidate) = idle.pop() {
            if !candidate.sender.is_closed() && candidate.since.elapsed() < self.inner.idle_timeout
            {
                return Some(candidate);
            }
        }
        None
    }

    fn lease(&self, sender: Sender, permit: OwnedSemaphorePermit) -> Lease {
        Lease {
            sender,
            permit,
            pool: self.inner.clone(),
        }
    }

    async fn connect(&self, permit: OwnedSemaphorePermit) -> Result<Lease, PoolError> {
        self.start_reaper();
        let origin = self
            .inner
            .origin
            .clone()
            .ok_or_else(|| PoolError::Connect("base_url has no host".to_owned()))?;
        let stream = self
            .inner
            .connector
            .clone()
            .call(origin)
            .await
            .map_err(|e| PoolError::Connect(error_chain(e.as_ref())))?;
        let (sender, connection) = http1::Builder::new()
            .handshake::<_, Full<Bytes>>(stream)
            .await
            .map_err(|e| PoolError::Connect(error_chain(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(
                    error = crate::telemetry::text(&e).as_str(),
                    "upstream connection ended"
                );
            }
        });
        Ok(self.lease(sender, permit))
    }

    /// Closes idle connections past their timeout even when no request comes to notice them.
    fn start_reaper(&self) {
        self.inner.reaper_started.call_once(|| {
            let pool = Arc::downgrade(&self.inner);
            let every = (self.inner.idle_timeout / 2).max(Duration::from_millis(100));
            tokio::spawn(reap(pool, every));
        });
    }
}

/// `Host` for `origin` as RFC 9110 §7.2 has it: the host, and the port only when it is not the
/// scheme's default (never any `user:password@`).
fn host_header(origin: &Uri) -> Option<HeaderValue> {
    let host = origin.host()?;
    let default_port = match origin.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match origin.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_str(&value).ok()
}

/// `future`'s output if it comes by `deadline` (`None`: it did not). One that is ready at once
/// (a keep-alive connection's readiness, an answer's body that came with its head) is polled
/// once and given no timer: making and dropping one cost some 300 instructions (callgrind,
/// issue 23).
pub(super) async fn by<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    if let Poll::Ready(output) =
        std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
    {
        return Some(output);
    }
    tokio::time::timeout_at(deadline, future).await.ok()
}

async fn reap(pool: Weak<Inner>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let timeout = pool.idle_timeout;
        if let Ok(mut idle) = pool.idle.lock() {
            idle.retain(|c| !c.sender.is_closed() && c.since.elapsed() < timeout);
        };
    }
}

#[cfg(test)]
mod tests;
