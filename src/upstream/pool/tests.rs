//! The pool against a raw TCP peer on 127.0.0.1.

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
        .with_tls_config(super::super::transport::tls_config(&[]))
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
