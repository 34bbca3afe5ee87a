//! The pooled connections to one upstream, with its retries and circuit breaker, bounded in time
//! and size; and what a complete answer is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls_pki_types::CertificateDer;
use tokio::time::Instant;

use super::error::{UpstreamError, MAX_ANSWER_BYTES};
use super::{breaker, pool};
use crate::config::Resilience;

/// A complete upstream answer.
#[derive(Debug)]
pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How long an unused keep-alive connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The pooled connections to one upstream, with its retries and circuit breaker.
#[derive(Clone, Debug)]
pub(super) struct Transport {
    name: String,
    timeout: Duration,
    pool: pool::Pool,
    resilience: Resilience,
    breaker: Arc<breaker::Breaker>,
    /// When the upstream last answered (Unix ms; 0: never), for readiness.
    last_answer: Arc<AtomicU64>,
    /// When a call last failed to get any answer (Unix ms; 0: never).
    last_failure: Arc<AtomicU64>,
    /// The exchange-latency histogram, registered on first use (after the recorder is installed).
    latency: Arc<OnceLock<metrics::Histogram>>,
}

impl Transport {
    /// `base_url`: checked by the configuration (`scheme://authority[/prefix]`).
    pub(super) fn new(
        name: &str,
        base_url: &str,
        timeout: Duration,
        connect_timeout: Duration,
        extra_roots: &[CertificateDer<'static>],
        resilience: Resilience,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(extra_roots))
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        // The configuration validated it; an unusable one fails every call to connect.
        let origin = base_url.parse::<http::Uri>().unwrap_or_default();
        let pool = pool::Pool::new(https, &origin, resilience.max_connections, IDLE_TIMEOUT);
        Transport {
            name: name.to_owned(),
            timeout,
            pool,
            resilience,
            breaker: Arc::new(breaker::Breaker::new(
                name,
                resilience.breaker_failures,
                resilience.breaker_cooldown,
            )),
            last_answer: Arc::new(AtomicU64::new(0)),
            last_failure: Arc::new(AtomicU64::new(0)),
            latency: Arc::new(OnceLock::new()),
        }
    }

    /// Sends `req` (origin-form URI) through the circuit breaker, retrying with backoff while
    /// nothing reached the upstream, all within the upstream's timeout.
    ///
    /// `known`: the call is an operation paybridge knows (every DaxPay call; a forwarded request
    /// on a path of [`crate::dispatch`]). The breaker counts connection failures on any call, but
    /// timeouts, broken answers and HTTP 5xx only on known ones: anyone can send a request to
    /// an unknown path that the gateway answers slowly or with a 500, and that must not open the
    /// circuit for the merchants' payments.
    pub(super) async fn send(
        &self,
        req: Request<Full<Bytes>>,
        known: bool,
    ) -> Result<Answered, UpstreamError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        // One breaker verdict per call: its retries are part of the same call.
        let Some(permit) = self.breaker.guard() else {
            metrics::counter!("paybridge_upstream_errors_total", "upstream" => self.name.clone(), "kind" => "upstream_circuit_open").increment(1);
            return Err(UpstreamError::CircuitOpen {
                upstream: self.name.clone(),
            });
        };
        let mut attempt = 0u32;
        let mut req = req;
        let mut connect_failed = false;
        let result = loop {
            // The first attempt starts now; a retry after its backoff.
            let attempt_started = if attempt == 0 {
                started
            } else {
                Instant::now()
            };
            let failure = match self.send_once(req, attempt_started, deadline).await {
                Ok(answer) => break Ok(answer),
                Err(failure) => failure,
            };
            let error = self.upstream_error(&failure.error);
            connect_failed |= matches!(failure.error, pool::PoolError::Connect(_));
            match failure.unsent {
                Some(unsent)
                    if matches!(failure.error, pool::PoolError::Connect(_))
                        && attempt < self.resilience.retries =>
                {
                    let backoff = self.resilience.retry_backoff * 2u32.saturating_pow(attempt);
                    if Instant::now() + backoff >= deadline {
                        break Err(error);
                    }
                    tracing::debug!(
                        upstream = self.name.as_str(),
                        attempt,
                        error = crate::telemetry::text(&error).as_str(),
                        "nothing sent; retrying"
                    );
                    metrics::counter!("paybridge_upstream_retries_total", "upstream" => self.name.clone()).increment(1);
                    tokio::time::sleep(backoff).await;
                    attempt += 1;
                    req = unsent;
                }
                _ => break Err(error),
            }
        };
        match &result {
            // Waiting for one of our own connections says nothing of the upstream's health
            // (unless an attempt before could not connect).
            Err(UpstreamError::Exhausted { .. }) if !connect_failed => drop(permit),
            // An unknown path's 5xx, timeout or broken answer: no verdict either way.
            Ok(a) if !known && a.status.is_server_error() => drop(permit),
            Err(_) if !known && !connect_failed => drop(permit),
            Ok(a) => permit.record(!a.status.is_server_error()),
            Err(_) => permit.record(false),
        }
        match &result {
            Ok(_) => self.last_answer.store(unix_ms(), Ordering::Relaxed),
            Err(UpstreamError::Exhausted { .. }) => {}
            Err(_) => self.last_failure.store(unix_ms(), Ordering::Relaxed),
        }
        if let Err(e) = &result {
            metrics::counter!("paybridge_upstream_errors_total", "upstream" => self.name.clone(), "kind" => e.kind()).increment(1);
        }
        result
    }

    /// (last answer, last failure), Unix ms.
    pub(super) fn last_contact(&self) -> (u64, u64) {
        (
            self.last_answer.load(Ordering::Relaxed),
            self.last_failure.load(Ordering::Relaxed),
        )
    }

    /// One attempt, begun at `started`: the answer read whole before `deadline`.
    pub(super) async fn send_once(
        &self,
        req: Request<Full<Bytes>>,
        started: Instant,
        deadline: Instant,
    ) -> Result<Answered, pool::Failure> {
        // Half of what is left to get a connection at most: the other half is the exchange's.
        let send_by = started + deadline.saturating_duration_since(started) / 2;
        let (response, lease) = self.pool.send(req, send_by, deadline).await?;
        let (parts, body) = response.into_parts();
        let sent = |error| pool::Failure {
            error,
            unsent: None,
        };
        let body = match pool::by(deadline, Limited::new(body, MAX_ANSWER_BYTES).collect()).await {
            Some(Ok(collected)) => collected.to_bytes(),
            Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(sent(pool::PoolError::AnswerTooLarge))
            }
            Some(Err(e)) => return Err(sent(pool::PoolError::Broken(e.to_string()))),
            None => return Err(sent(pool::PoolError::TimedOut)),
        };
        lease.release();
        let seconds = started.elapsed().as_secs_f64();
        // A handle taken before the recorder exists would stay a no-op: cache only after.
        let histogram =
            || metrics::histogram!("paybridge_upstream_seconds", "upstream" => self.name.clone());
        if crate::telemetry::recorder_installed() {
            self.latency.get_or_init(histogram).record(seconds);
        } else {
            histogram().record(seconds);
        }
        Ok(Answered {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    pub(super) fn upstream_error(&self, error: &pool::PoolError) -> UpstreamError {
        let upstream = self.name.clone();
        match error {
            pool::PoolError::Connect(detail) => UpstreamError::Connect {
                upstream,
                detail: detail.clone(),
            },
            pool::PoolError::Exhausted(open) => UpstreamError::Exhausted {
                upstream,
                open: *open,
            },
            pool::PoolError::TimedOut => UpstreamError::Timeout {
                upstream,
                timeout_ms: self.timeout.as_millis(),
            },
            pool::PoolError::AnswerTooLarge => UpstreamError::TooLarge { upstream },
            pool::PoolError::Broken(detail) => UpstreamError::Broken {
                upstream,
                detail: detail.clone(),
            },
        }
    }
}

/// The system's trust roots, read once.
pub(super) fn system_roots() -> &'static rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            tracing::warn!("no system trust roots found: https upstreams need ca_file");
        }
        roots
    })
}

/// rustls (ring provider) trusting the system's roots plus an upstream's own `ca_file`.
pub(crate) fn tls_config(extra_roots: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut roots = system_roots().clone();
    for cert in extra_roots {
        if let Err(e) = roots.add(cert.clone()) {
            tracing::warn!(
                error = crate::telemetry::text(&e).as_str(),
                "a ca_file certificate is not a usable trust root"
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_root_certificates(roots).with_no_client_auth(),
        Err(e) => {
            // ring supports the default protocol versions, so this does not happen.
            tracing::error!(
                error = crate::telemetry::text(&e).as_str(),
                "TLS configuration failed; using rustls defaults"
            );
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
    }
}

/// The path a base URL puts before every upstream path (`/prefix`, or empty).
pub(super) fn base_path(base_url: &str) -> String {
    base_url
        .parse::<http::Uri>()
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
