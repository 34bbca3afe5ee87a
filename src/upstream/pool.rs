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

use std::sync::{Arc, Mutex, Weak};
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

use super::error_chain;

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
            match tokio::time::timeout_at(send_by, lease.sender.ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) if reused => continue,
                Ok(Err(e)) => {
                    return Err(Failure::unsent(PoolError::Connect(error_chain(&e)), req))
                }
                Err(_) => {
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
                tracing::debug!(error = %e, "upstream connection ended");
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
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use hyper_rustls::HttpsConnectorBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// What the fake upstream does with each connection.
    #[derive(Clone, Copy)]
    struct Behaviour {
        /// Answers per connection before it closes (silently, no `Connection: close`).
        answers_per_connection: usize,
        delay: Duration,
    }

    #[derive(Default)]
    struct Seen {
        connections: AtomicUsize,
        requests: AtomicUsize,
        open: AtomicUsize,
        max_open: AtomicUsize,
    }

    async fn upstream(behaviour: Behaviour) -> (Uri, Arc<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Seen::default());
        let counters = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counters.connections.fetch_add(1, Ordering::SeqCst);
                let open = counters.open.fetch_add(1, Ordering::SeqCst) + 1;
                counters.max_open.fetch_max(open, Ordering::SeqCst);
                let counters = counters.clone();
                tokio::spawn(async move {
                    serve(socket, behaviour, &counters).await;
                    counters.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        (origin.parse().unwrap(), seen)
    }

    async fn serve(mut socket: TcpStream, behaviour: Behaviour, seen: &Seen) {
        let mut buffer = Vec::new();
        for _ in 0..behaviour.answers_per_connection {
            // Requests here have no body: a head ends the request.
            while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
            let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            buffer.drain(..end);
            seen.requests.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(behaviour.delay).await;
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if socket.write_all(answer).await.is_err() {
                return;
            }
        }
    }

    fn pool(origin: &Uri, max_connections: usize, idle_timeout: Duration) -> Pool {
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(super::super::tls_config(&[]))
            .https_or_http()
            .enable_http1()
            .wrap_connector(HttpConnector::new());
        Pool::new(connector, origin, max_connections, idle_timeout)
    }

    fn get() -> Request<Full<Bytes>> {
        Request::builder()
            .uri("/unipay/close")
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    async fn call(pool: &Pool, within: Duration) -> Result<Bytes, PoolError> {
        let deadline = Instant::now() + within;
        let (response, lease) = pool
            .send(get(), deadline, deadline)
            .await
            .map_err(|f| f.error)?;
        let body = response.into_body().collect().await.unwrap().to_bytes();
        lease.release();
        Ok(body)
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn one_connection_serves_sequential_requests() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::ZERO,
        })
        .await;
        let pool = pool(&origin, 8, Duration::from_secs(60));
        for _ in 0..20 {
            assert_eq!(call(&pool, SECOND).await.unwrap(), "ok");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 20);
        assert_eq!(pool.open(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_peer_closed_is_replaced_without_sending_twice() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: 1,
            delay: Duration::ZERO,
        })
        .await;
        let pool = pool(&origin, 8, Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(call(&pool, SECOND).await.unwrap(), "ok");
            // Give the close time to arrive, or not: both paths must work.
            tokio::task::yield_now().await;
        }
        assert_eq!(seen.requests.load(Ordering::SeqCst), 10, "no request twice");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn connections_are_capped_and_callers_wait_for_one() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::from_millis(30),
        })
        .await;
        let pool = pool(&origin, 2, Duration::from_secs(60));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { call(&pool, 5 * SECOND).await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().unwrap(), "ok");
        }
        assert_eq!(seen.max_open.load(Ordering::SeqCst), 2);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_caller_that_cannot_get_a_connection_sends_nothing() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::from_millis(400),
        })
        .await;
        let pool = pool(&origin, 1, Duration::from_secs(60));
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move { call(&pool, 5 * SECOND).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let failure = pool
            .send(
                get(),
                Instant::now() + Duration::from_millis(100),
                Instant::now() + 5 * SECOND,
            )
            .await
            .err()
            .expect("no connection was free");
        assert!(matches!(failure.error, PoolError::Exhausted(1)));
        assert!(failure.unsent.is_some(), "the request comes back");
        assert_eq!(first.await.unwrap().unwrap(), "ok");
        assert_eq!(seen.requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_written_once_the_time_to_send_is_over() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::ZERO,
        })
        .await;
        let pool = pool(&origin, 4, Duration::from_secs(60));
        call(&pool, SECOND).await.unwrap();
        for _ in 0..50 {
            // An idle connection is there, but the time to send has just run out.
            let now = Instant::now();
            let failure = pool
                .send(get(), now, now + SECOND)
                .await
                .err()
                .expect("too late to send");
            assert!(matches!(failure.error, PoolError::Exhausted(_)));
            assert!(failure.unsent.is_some(), "the request comes back");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            seen.requests.load(Ordering::SeqCst),
            1,
            "none of them written"
        );
    }

    #[test]
    fn host_is_the_host_and_a_port_that_is_not_the_default() {
        let host = |origin: &str| host_header(&origin.parse().unwrap()).unwrap();
        assert_eq!(host("http://127.0.0.1:9090"), "127.0.0.1:9090");
        assert_eq!(host("http://gw.example:80"), "gw.example");
        assert_eq!(host("https://gw.example:443/daxpay"), "gw.example");
        assert_eq!(host("https://gw.example:8443"), "gw.example:8443");
        assert_eq!(
            host("http://user:secret@gw.example:8080"),
            "gw.example:8080"
        );
        assert_eq!(host("http://[::1]:9090"), "[::1]:9090");
    }

    #[tokio::test]
    async fn a_refused_connection_returns_the_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin: Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        let failure = pool(&origin, 4, Duration::from_secs(60))
            .send(get(), Instant::now() + SECOND, Instant::now() + SECOND)
            .await
            .err()
            .expect("nothing listens");
        assert!(matches!(failure.error, PoolError::Connect(_)));
        assert!(failure.unsent.is_some());
    }

    #[tokio::test]
    async fn no_answer_before_the_deadline_is_a_timeout_after_sending() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::from_secs(5),
        })
        .await;
        let pool = pool(&origin, 4, Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_millis(200);
        let failure = pool
            .send(get(), deadline, deadline)
            .await
            .err()
            .expect("the upstream is slow");
        assert!(matches!(failure.error, PoolError::TimedOut));
        assert!(failure.unsent.is_none());
        assert_eq!(seen.requests.load(Ordering::SeqCst), 1);
        assert_eq!(pool.open(), 0, "the connection is not reused");
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_the_idle_timeout() {
        let (origin, seen) = upstream(Behaviour {
            answers_per_connection: usize::MAX,
            delay: Duration::ZERO,
        })
        .await;
        let pool = pool(&origin, 4, Duration::from_millis(200));
        call(&pool, SECOND).await.unwrap();
        assert_eq!(pool.open(), 1);
        let started = std::time::Instant::now();
        while seen.open.load(Ordering::SeqCst) > 0 {
            assert!(started.elapsed() < Duration::from_secs(5), "never closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pool.open(), 0);
    }
}
