//! The gateway service: reads a merchant request, decides its route (translate to DaxPay or
//! pass through to a legacy gateway), carries it out, and falls back once where configured.
//!
//! Errors are returned as [`GatewayError`], not rendered here: the
//! [`crate::middleware::dialect_errors`] layer renders them in the caller's dialect.
//! The configuration is swapped atomically on reload; a request keeps the one it started with.

mod passthrough;
mod shadow;
pub mod table;
mod translate;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::config::Config;
use crate::config::ReplayStoreKind;
use crate::dialect::jeepay::wire::error_bytes;
use crate::dialect::jeepay::{Params, Reply};
use crate::error::GatewayError;
use crate::operation::Endpoint;
use crate::replay::{Claim, MemoryStore, RedisStore, Store, StoreError, Ticket};
use crate::server::PeerAddr;
use crate::telemetry::access::{AccessHandle, AccessRecord};
use crate::upstream::{Answered, Upstreams};
use table::{Facts, Route};

/// Jeepay answers with this content type.
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One configuration and the upstream clients built for it.
pub struct Runtime {
    pub config: Arc<Config>,
    upstreams: Upstreams,
}

impl Runtime {
    pub fn new(config: Arc<Config>) -> Self {
        let upstreams = Upstreams::new(&config);
        Runtime { config, upstreams }
    }
}

/// The request path's tower service. Cheap to clone: the state is shared.
#[derive(Clone)]
pub struct Gateway {
    runtime: Arc<ArcSwap<Runtime>>,
    /// Survives reloads: replay protection must not reset with the configuration.
    replay: Option<Store>,
}

impl Gateway {
    /// A gateway whose replay store is kept in memory (a Redis store is connected by [`build`]).
    ///
    /// [`build`]: Gateway::build
    pub fn new(config: Arc<Config>) -> Self {
        let replay = match &config.replay.store {
            ReplayStoreKind::Off => None,
            ReplayStoreKind::Memory { max_entries } => {
                Some(Store::Memory(Arc::new(MemoryStore::new(*max_entries))))
            }
            ReplayStoreKind::Redis { .. } => {
                Some(Store::Memory(Arc::new(MemoryStore::new(100_000))))
            }
        };
        Gateway {
            runtime: Arc::new(ArcSwap::from_pointee(Runtime::new(config))),
            replay,
        }
    }

    /// A gateway with the replay store the configuration names (connecting to Redis).
    pub async fn build(config: Arc<Config>) -> Result<Self, crate::replay::StoreError> {
        let mut gateway = Gateway::new(config.clone());
        if let ReplayStoreKind::Redis { url } = &config.replay.store {
            gateway.replay = Some(Store::Redis(Arc::new(RedisStore::connect(url).await?)));
        }
        Ok(gateway)
    }

    /// Replaces the configuration; requests in flight finish on the one they started with.
    pub fn reload(&self, config: Arc<Config>) {
        self.runtime.store(Arc::new(Runtime::new(config)));
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
    type Error = GatewayError;
    type Future = Detached;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let runtime = self.runtime.load_full();
        let replay = self.replay.clone();
        // Detached: a client that goes away must not cancel a call to a gateway half-way (the
        // close may have been sent; its outcome still has to reach the replay store, and the
        // circuit breaker its verdict).
        Detached(tokio::spawn(async move {
            handle(&runtime, replay.as_ref(), req).await
        }))
    }
}

/// The gateway's answer, from its detached task.
pub struct Detached(tokio::task::JoinHandle<Result<Response<Full<Bytes>>, GatewayError>>);

impl Future for Detached {
    type Output = Result<Response<Full<Bytes>>, GatewayError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                tracing::error!(error = %e, "request handler failed");
                Err(GatewayError::Internal)
            })
        })
    }
}

/// One merchant request, read once and shared by every step.
pub(crate) struct Call {
    pub parts: Parts,
    pub body: Bytes,
    pub endpoint: Option<Endpoint>,
    pub peer: Option<IpAddr>,
    /// The W3C trace context for calls to DaxPay (the caller's trace, a new parent id), made
    /// when a first call needs it: a passed-through request carries the caller's own.
    traceparent: std::sync::OnceLock<HeaderValue>,
}

impl Call {
    /// Where Jeepay finds the parameters: (JSON?, query, parameter body).
    pub fn inbound(&self) -> (bool, Option<&str>, &[u8]) {
        let content_type = self
            .parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let json = contains_ignore_case(content_type, "application/json")
            && self.parts.method != Method::GET;
        // A servlet container reads parameters from a body only when it is a form.
        let form = contains_ignore_case(content_type, "application/x-www-form-urlencoded");
        let body: &[u8] = if json || form { &self.body } else { &[] };
        (json, self.parts.uri.query(), body)
    }

    pub fn params(&self) -> Result<Params<'_>, GatewayError> {
        let (json, query, body) = self.inbound();
        Params::read(json, query, body)
    }

    /// The `traceparent` of this request's calls to DaxPay (the same for all of them).
    pub fn traceparent(&self) -> &HeaderValue {
        self.traceparent
            .get_or_init(|| crate::telemetry::trace_context::child_of(&self.parts.headers))
    }

    pub fn request_id(&self) -> Option<&HeaderValue> {
        self.parts.headers.get("x-request-id")
    }

    /// Adds to the request's access-log record.
    pub fn note(&self, f: impl FnOnce(&mut AccessRecord)) {
        if let Some(handle) = self.parts.extensions.get::<AccessHandle>() {
            handle.note(f);
        }
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

async fn handle<B>(
    rt: &Runtime,
    replay: Option<&Store>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, GatewayError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
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
        return Err(GatewayError::MethodNotAllowed(req.method().to_string()));
    }
    let (parts, body) = req.into_parts();
    let server = &rt.config.server;
    let body = tokio::time::timeout(
        server.body_read_timeout,
        read_body(body, server.max_body_bytes),
    )
    .await
    .map_err(|_| GatewayError::BodyTimeout)??;
    let call = Call {
        traceparent: std::sync::OnceLock::new(),
        endpoint: Endpoint::from_path(parts.uri.path()),
        peer: parts.extensions.get::<PeerAddr>().map(|p| p.0.ip()),
        parts,
        body,
    };
    // Unreadable parameters match no merchant condition; the chosen route reports them.
    let params = call.params().ok();
    fn text<'a>(t: Option<&'a crate::dialect::jeepay::wire::Text<'_>>) -> Option<&'a str> {
        t.map(|t| t.as_str()).filter(|s| !s.is_empty())
    }
    let (mch_no, app_id) = params.as_ref().map_or((None, None), |p| {
        (text(p.mch_no.as_ref()), text(p.app_id.as_ref()))
    });
    let facts = Facts {
        path: call.parts.uri.path(),
        mch_no,
        app_id,
        headers: &call.parts.headers,
    };
    let decision = table::decide(&rt.config.routing, &facts, false);
    call.note(|r| r.mch_no = mch_no.map(str::to_owned));
    let rule = decision.rule_name;
    match decision.route {
        Route::Translate { upstream, fallback } => {
            let endpoint = call
                .endpoint
                .ok_or_else(|| GatewayError::NotFound(call.parts.uri.path().to_owned()))?;
            let routed = Routed {
                call: &call,
                params: params.as_ref(),
                rule,
            };
            translated(rt, replay, &routed, endpoint, upstream, fallback).await
        }
        Route::Passthrough {
            upstream,
            fallback,
            shadow,
        } => {
            let routed = Routed {
                call: &call,
                params: params.as_ref(),
                rule,
            };
            passed_through(rt, &routed, upstream, fallback, shadow).await
        }
    }
}

/// A request whose route is decided: the request, its parameters as read for routing (`None`:
/// unreadable), and the rule that matched.
struct Routed<'a> {
    call: &'a Call,
    params: Option<&'a Params<'a>>,
    rule: &'a str,
}

/// A translated request: verified, checked against the replay store, carried out on DaxPay
/// (falling back once to the legacy gateway for an order DaxPay verifiably does not have), and
/// its outcome recorded for duplicates.
async fn translated(
    rt: &Runtime,
    replay: Option<&Store>,
    routed: &Routed<'_>,
    endpoint: Endpoint,
    upstream: Option<&Arc<crate::config::Upstream>>,
    fallback: Option<&Arc<crate::config::LegacyUpstream>>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let (call, rule) = (routed.call, routed.rule);
    call.note(|r| r.action = Some("translate"));
    let prepared = translate::prepare(rt, call, routed.params, endpoint, upstream)?;
    call.note(|r| r.upstream = Some(prepared.upstream.name.clone()));
    let (ticket, retry) = match claim(rt, replay, &prepared).await? {
        Claimed::Replay { stored, code } => {
            call.note(|r| {
                r.action = Some("replay");
                r.code = code;
            });
            metrics::counter!("paybridge_replays_total").increment(1);
            tracing::info!(mch_no = %prepared.merchant.mch_no, "duplicate request: the first answer is replayed");
            return Ok(stored);
        }
        Claimed::Go { ticket, retry } => (ticket, retry),
    };
    let outcome = if retry {
        translate::resume(rt, call, &prepared).await
    } else {
        translate::execute(rt, call, &prepared).await
    };
    let outcome = match (outcome, fallback) {
        (Err(GatewayError::OrderNotFound { verified: true }), Some(legacy)) => {
            fallback_taken("daxpay_to_legacy", rule, &prepared.merchant.mch_no);
            call.note(|r| {
                r.fallback = true;
                r.upstream = Some(legacy.name.clone());
            });
            passthrough::forward(rt, call, legacy).await
        }
        (outcome, _) => outcome.map(|reply| {
            call.note(|r| r.code = Some(prepared.merchant.success.code));
            reply_answer(reply)
        }),
    };
    record(call, ticket, outcome).await
}

/// A request passed through unchanged (shadowed first when asked), translated once instead
/// when the legacy gateway says the order does not exist and a fallback is configured.
async fn passed_through(
    rt: &Runtime,
    routed: &Routed<'_>,
    upstream: &Arc<crate::config::LegacyUpstream>,
    fallback: Option<&crate::config::DaxTarget>,
    shadow: Option<&crate::config::DaxTarget>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let (call, rule) = (routed.call, routed.rule);
    call.note(|r| {
        r.action = Some("passthrough");
        r.upstream = Some(upstream.name.clone());
    });
    if let (Some(target), Some(endpoint)) = (shadow, call.endpoint) {
        shadow::log(rt, call, routed.params, endpoint, target, rule);
    }
    let answer = passthrough::forward(rt, call, upstream).await?;
    match (fallback, call.endpoint) {
        (Some(target), Some(endpoint)) if passthrough::says_no_such_order(&answer) => {
            // A request paybridge cannot translate (no merchant key, a bad signature...) keeps
            // the legacy gateway's answer.
            let prepared = match translate::prepare(
                rt,
                call,
                routed.params,
                endpoint,
                target.upstream(),
            ) {
                Ok(prepared) => prepared,
                Err(e) => {
                    tracing::info!(rule, reason = %e, "no fallback to DaxPay: the request cannot be translated");
                    return Ok(passthrough::into_response(answer));
                }
            };
            fallback_taken("legacy_to_daxpay", rule, &prepared.merchant.mch_no);
            call.note(|r| r.fallback = true);
            translate::execute(rt, call, &prepared)
                .await
                .map(reply_response)
        }
        _ => Ok(passthrough::into_response(answer)),
    }
}

fn fallback_taken(direction: &'static str, rule: &str, mch_no: &str) {
    tracing::info!(
        direction,
        rule,
        mch_no,
        "fallback: order does not exist, trying the other gateway"
    );
    metrics::counter!("paybridge_fallbacks_total", "direction" => direction).increment(1);
}

fn reply_response(reply: Reply) -> Response<Full<Bytes>> {
    passthrough::into_response(reply_answer(reply))
}

fn reply_answer(reply: Reply) -> Answered {
    let mut headers = http::HeaderMap::new();
    headers.insert(CONTENT_TYPE, JSON_UTF8);
    Answered {
        status: http::StatusCode::OK,
        headers,
        body: reply.to_bytes(),
    }
}

/// The `code` of a Jeepay-dialect answer body, if it is one.
fn jeepay_code(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Coded {
        code: i64,
    }
    serde_json::from_slice::<Coded>(body).ok().map(|c| c.code)
}

enum Claimed {
    Replay {
        stored: Response<Full<Bytes>>,
        /// The replayed answer's Jeepay code, for the access log.
        code: Option<i64>,
    },
    Go {
        ticket: Option<Ticket>,
        retry: bool,
    },
}

/// Claims a verified request in the replay store.
async fn claim(
    rt: &Runtime,
    replay: Option<&Store>,
    p: &translate::Prepared,
) -> Result<Claimed, GatewayError> {
    let Some(store) = replay else {
        return Ok(Claimed::Go {
            ticket: None,
            retry: false,
        });
    };
    let ttl = rt.config.replay.ttl;
    // Long enough for the first request's close, and its resolution by query.
    let wait = p.upstream.timeout * 2 + Duration::from_secs(1);
    match store.claim(p.replay_key(), ttl, wait).await {
        Ok(Claim::Fresh(ticket)) => Ok(Claimed::Go {
            ticket: Some(ticket),
            retry: false,
        }),
        Ok(Claim::Retry(ticket)) => Ok(Claimed::Go {
            ticket: Some(ticket),
            retry: true,
        }),
        Ok(Claim::Replay(bytes)) => {
            let (stored, code) = decode_stored(bytes)?;
            Ok(Claimed::Replay { stored, code })
        }
        Err(StoreError::StillInProgress) => Err(GatewayError::DuplicateInProgress),
        Err(e @ StoreError::Unavailable(_)) => {
            metrics::counter!("paybridge_replay_store_errors_total").increment(1);
            if rt.config.replay.fail_open {
                tracing::error!(error = %e, "replay store unavailable: carrying on without replay protection");
                Ok(Claimed::Go {
                    ticket: None,
                    retry: false,
                })
            } else {
                tracing::error!(error = %e, "replay store unavailable: refusing");
                Err(GatewayError::ReplayStoreDown)
            }
        }
    }
}

/// Stores the outcome for duplicates: definitive answers are replayed; an unknown outcome is
/// remembered so a retry resolves it; nothing is kept when nothing was done.
async fn record(
    call: &Call,
    ticket: Option<Ticket>,
    outcome: Result<Answered, GatewayError>,
) -> Result<Response<Full<Bytes>>, GatewayError> {
    let Some(ticket) = ticket else {
        return outcome.map(passthrough::into_response);
    };
    match outcome {
        Ok(answer) => {
            let content_type = answer.headers.get(CONTENT_TYPE);
            let stored = encode_stored(answer.status, content_type, &answer.body);
            ticket.complete(stored).await;
            Ok(passthrough::into_response(answer))
        }
        Err(e @ (GatewayError::Refused(_) | GatewayError::OrderNotFound { .. })) => {
            // Rendered once, here: the stored bytes are the answer too.
            let body = error_bytes(e.code(), &e);
            let stored = encode_stored(e.status(), Some(&JSON_UTF8), &body);
            ticket.complete(stored.clone()).await;
            call.note(|r| {
                r.code = Some(e.code());
                r.error_kind = Some(e.kind());
            });
            tracing::debug!(kind = e.kind(), msg = %e, "request refused");
            stored_response(stored).map_err(|()| corrupt_entry())
        }
        Err(GatewayError::Upstream(u)) if u.maybe_sent() => {
            ticket.unknown().await;
            Err(GatewayError::Upstream(u))
        }
        Err(e) => Err(e),
    }
}

/// `status (2 bytes) · content-type length (2) · content-type · body`.
fn encode_stored(status: StatusCode, content_type: Option<&HeaderValue>, body: &[u8]) -> Bytes {
    let content_type = content_type.map_or(&b""[..], |v| v.as_bytes());
    let ct_len = content_type.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(4 + ct_len + body.len());
    out.extend_from_slice(&status.as_u16().to_be_bytes());
    out.extend_from_slice(&(ct_len as u16).to_be_bytes());
    out.extend_from_slice(&content_type[..ct_len]);
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// A stored entry's status, content type and where its body starts.
fn stored_head(stored: &[u8]) -> Option<(StatusCode, &[u8], usize)> {
    let head = stored.get(..4)?;
    let status = StatusCode::from_u16(u16::from_be_bytes([head[0], head[1]])).ok()?;
    let body_start = 4 + usize::from(u16::from_be_bytes([head[2], head[3]]));
    Some((status, stored.get(4..body_start)?, body_start))
}

/// The answer held in a stored entry (its body shares the entry's bytes).
fn stored_response(stored: Bytes) -> Result<Response<Full<Bytes>>, ()> {
    let (status, content_type, body_start) = stored_head(&stored).ok_or(())?;
    let content_type = match content_type {
        b"" => None,
        ct if ct == JSON_UTF8.as_bytes() => Some(JSON_UTF8),
        ct => Some(HeaderValue::from_bytes(ct).map_err(|_| ())?),
    };
    let mut response = Response::new(Full::new(stored.slice(body_start..)));
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(response)
}

fn corrupt_entry() -> GatewayError {
    tracing::error!("replay store returned a malformed entry");
    GatewayError::Internal
}

/// A replayed answer, marked as such, and its Jeepay code for the access log.
fn decode_stored(stored: Bytes) -> Result<(Response<Full<Bytes>>, Option<i64>), GatewayError> {
    let code = stored_head(&stored).and_then(|(_, _, start)| jeepay_code(&stored[start..]));
    let mut response = stored_response(stored).map_err(|()| corrupt_entry())?;
    response
        .headers_mut()
        .insert("x-paybridge-replay", HeaderValue::from_static("true"));
    Ok((response, code))
}

async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, GatewayError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(e) => Err(GatewayError::Conversion(format!(
            "body could not be read: {e}"
        ))),
    }
}
