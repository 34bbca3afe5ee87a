//! One structured access-log line per request (target `paybridge::access`), and the request
//! metrics. The handler fills an [`AccessRecord`] carried in the request's extensions; this
//! layer writes it out when the answer leaves. No secret or signature is ever recorded, and every
//! value a caller or an upstream chose is a string field (quoted and escaped in the text format).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::thread::LocalKey;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// What the handler learnt about a request.
///
/// The merchant number and the upstream are shared, not copied: two allocations fewer per
/// request (docs/benchmarks.md's allocation target).
#[derive(Debug, Default, Clone)]
pub struct AccessRecord {
    pub mch_no: Option<SharedText>,
    /// translate, passthrough, replay, or none when refused before routing.
    pub action: Option<&'static str>,
    pub upstream: Option<UpstreamName>,
    /// DaxPay's `traceId`, when it gave one.
    pub trace_id: Option<String>,
    /// The Jeepay-dialect code answered (unknown for a passthrough).
    pub code: Option<i64>,
    /// Why a request failed, as a stable name (see `Failure::kind`).
    pub error_kind: Option<&'static str>,
    pub fallback: bool,
    /// Where the request came in, in its dialect (`None`: Jeepay's, or not yet known): a
    /// failure is answered in that dialect (`middleware::dialect_errors`).
    pub speaker: Option<crate::dialect::failures::Speaker>,
}

/// Text that shares the bytes it was read from (a request body) when it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedText(Bytes);

impl SharedText {
    /// `text` as a view of `source` when it lies inside it, else a copy.
    pub fn within(source: &Bytes, text: &str) -> Self {
        let start = (text.as_ptr() as usize).wrapping_sub(source.as_ptr() as usize);
        let inside = (source.as_ptr() as usize) <= (text.as_ptr() as usize)
            && start
                .checked_add(text.len())
                .is_some_and(|end| end <= source.len());
        if inside {
            SharedText(source.slice(start..start + text.len()))
        } else {
            SharedText(Bytes::copy_from_slice(text.as_bytes()))
        }
    }

    pub fn as_str(&self) -> &str {
        // Built from a `&str` only, so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("-")
    }
}

/// The upstream a request went to: its configuration, shared, for its name.
#[derive(Debug, Clone)]
pub enum UpstreamName {
    DaxPay(Arc<crate::config::Upstream>),
    Legacy(Arc<crate::config::LegacyUpstream>),
}

impl UpstreamName {
    pub fn as_str(&self) -> &str {
        match self {
            UpstreamName::DaxPay(u) => &u.name,
            UpstreamName::Legacy(u) => &u.name,
        }
    }
}

/// The shared record, in the request's extensions (inside its [`RequestScope`]).
#[derive(Debug, Clone, Default)]
pub struct AccessHandle(Arc<Mutex<AccessRecord>>);

/// What the server and the access layer put in a request's extensions, as one value: the
/// caller's address and the access record's handle. One extension, not two: each insert into
/// the map boxes its value (callgrind: about 500 instructions and an allocation a request).
/// The server inserts it with the peer; the access layer, finding none (a service used without
/// the server), inserts one without.
#[derive(Debug, Clone)]
pub struct RequestScope {
    pub peer: Option<std::net::SocketAddr>,
    pub access: AccessHandle,
}

impl RequestScope {
    /// A request's scope: `peer`, and a fresh access record.
    pub fn new(peer: Option<std::net::SocketAddr>) -> Self {
        RequestScope {
            peer,
            access: AccessHandle::default(),
        }
    }

    /// The access record's handle of a request, if a scope is there.
    pub fn access_of(extensions: &http::Extensions) -> Option<&AccessHandle> {
        extensions.get::<RequestScope>().map(|scope| &scope.access)
    }
}

impl AccessHandle {
    pub fn note(&self, f: impl FnOnce(&mut AccessRecord)) {
        if let Ok(mut record) = self.0.lock() {
            f(&mut record);
        }
    }

    /// The record, taken out: only this layer reads it, once the answer is ready.
    fn take(&self) -> AccessRecord {
        self.0
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, B, RB> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = AccessFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let handle = match RequestScope::access_of(req.extensions()) {
            Some(handle) => handle.clone(),
            None => {
                let scope = RequestScope::new(None);
                let handle = scope.access.clone();
                req.extensions_mut().insert(scope);
                handle
            }
        };
        let pending = Pending {
            handle,
            // A clone shares the value's bytes (the request id layer's, or the request's).
            request_id: req
                .headers()
                .get(&crate::middleware::request_id::X_REQUEST_ID)
                .cloned(),
            operation: crate::dispatch::label(req.uri().path()),
            method: req.method().clone(),
            started: Instant::now(),
        };
        AccessFuture {
            inner: self.inner.call(req),
            pending: Some(pending),
        }
    }
}

pin_project! {
    /// The inner service's answer; the access line and the metrics are written when it is ready.
    pub struct AccessFuture<F> {
        #[pin]
        inner: F,
        // Taken when the answer is ready, so a request is logged once.
        pending: Option<Pending>,
    }
}

impl<F, RB, E> Future for AccessFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            let status = result.as_ref().map_or(500, |r| r.status().as_u16());
            pending.finish(status);
        }
        Poll::Ready(result)
    }
}

/// What the layer knows of a request before the handler runs.
struct Pending {
    handle: AccessHandle,
    request_id: Option<HeaderValue>,
    operation: &'static str,
    method: Method,
    started: Instant,
}

impl Pending {
    /// Writes the access line and the request metrics for an answer with `status`.
    fn finish(self, status: u16) {
        let elapsed = self.started.elapsed();
        let r = self.handle.take();
        let action = r.action.unwrap_or("none");
        let outcome = match r.code {
            Some(code) => Outcome::Code(code),
            None => Outcome::StatusClass(status / 100),
        };
        let operation = self.operation;
        tracing::info!(
            target: "paybridge::access",
            // Caller-controlled values are string fields, never `%`: the text format quotes and
            // escapes them, so a newline or `key=value` inside cannot forge a line or a field.
            request_id = self
                .request_id
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
            method = self.method.as_str(),
            operation,
            mch_no = r.mch_no.as_ref().map_or("-", SharedText::as_str),
            action,
            upstream = r.upstream.as_ref().map_or("-", UpstreamName::as_str),
            daxpay_trace_id = r.trace_id.as_deref().unwrap_or("-"),
            fallback = r.fallback,
            code = %outcome,
            error = r.error_kind.unwrap_or("-"),
            status,
            latency_us = elapsed.as_micros() as u64,
            "request"
        );
        cached(&REQUESTS, (operation, action, outcome), || {
            metrics::counter!("paybridge_requests_total", "operation" => operation, "action" => action, "code" => outcome.to_string())
        })
        .increment(1);
        cached(
            &LATENCIES,
            action,
            || metrics::histogram!("paybridge_request_seconds", "action" => action),
        )
        .record(elapsed.as_secs_f64());
        if let Some(reason) = r.error_kind.and_then(signature_failure) {
            metrics::counter!("paybridge_signature_failures_total", "reason" => reason)
                .increment(1);
        }
    }
}

/// The `code` label and log field: the Jeepay-dialect code answered, else `http_<class>xx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Outcome {
    Code(i64),
    StatusClass(u16),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without `core::fmt`'s integer formatting: written on every access line (issue 23).
        match self {
            Outcome::Code(code) => f.write_str(itoa::Buffer::new().format(*code)),
            Outcome::StatusClass(class) => {
                f.write_str("http_")?;
                f.write_str(itoa::Buffer::new().format(*class))?;
                f.write_str("xx")
            }
        }
    }
}

/// Metric handles kept per thread, by their labels: a request then neither builds label strings
/// nor looks its series up in the registry. The labels come from small fixed sets and the
/// configured codes; the bound only guards against a surprise, beyond it handles are not kept.
/// (The recorder has no idle timeout: a kept handle stays its series' for good.)
const CACHED: usize = 256;

type Cache<K, H> = &'static LocalKey<RefCell<Labels<K, H>>>;
type Labels<K, H> = HashMap<K, H, BuildHasherDefault<LabelHasher>>;

thread_local! {
    static REQUESTS: RefCell<Labels<(&'static str, &'static str, Outcome), Counter>> =
        RefCell::new(HashMap::default());
    static LATENCIES: RefCell<Labels<&'static str, Histogram>> = RefCell::new(HashMap::default());
}

/// FxHash (rustc's own hasher) for the caches' keys: a few short labels from fixed sets, in a
/// map of at most [`CACHED`] entries, so SipHash's defence against chosen keys buys nothing
/// there, and it cost some 500 instructions a request (callgrind, issue 23).
#[derive(Default)]
struct LabelHasher(u64);

impl LabelHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for LabelHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut word = [0; 8];
        word[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(word));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The handle for `key`: kept from an earlier request, else from `register` (and kept when
/// paybridge's recorder is installed and the cache has room).
fn cached<K: Eq + Hash, H: Clone>(cache: Cache<K, H>, key: K, register: impl Fn() -> H) -> H {
    if !super::recorder_installed() {
        // A handle registered now would stay a no-op after the recorder is installed.
        return register();
    }
    cache
        .try_with(|cache| {
            // Not re-entered (registering does not come back here); failing is only a miss.
            let mut cache = cache.try_borrow_mut().ok()?;
            if let Some(handle) = cache.get(&key) {
                return Some(handle.clone());
            }
            if cache.len() >= CACHED {
                return None;
            }
            let handle = register();
            cache.insert(key, handle.clone());
            Some(handle)
        })
        .ok()
        .flatten()
        .unwrap_or_else(register)
}

fn signature_failure(kind: &str) -> Option<&'static str> {
    match kind {
        "bad_signature" => Some("merchant_request"),
        "upstream_bad_signature" => Some("upstream_answer"),
        "upstream_unsigned_success" => Some("upstream_unsigned"),
        "upstream_rejected_signature" => Some("rejected_by_upstream"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[test]
    fn outcomes_read_as_the_code_or_the_status_class() {
        assert_eq!(Outcome::Code(0).to_string(), "0");
        assert_eq!(Outcome::Code(-20041).to_string(), "-20041");
        assert_eq!(Outcome::StatusClass(5).to_string(), "http_5xx");
    }

    /// A handler that notes `action` and, when given, `code`, and answers `status`.
    async fn request(action: &'static str, code: Option<i64>, status: u16) {
        let svc = AccessLogLayer.layer(tower::service_fn(move |req: Request<()>| async move {
            if let Some(handle) = RequestScope::access_of(req.extensions()) {
                handle.note(|r| {
                    r.action = Some(action);
                    r.code = code;
                });
            }
            let mut response = Response::new(());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, Infallible>(response)
        }));
        let req = Request::post("/api/pay/close")
            .header("x-request-id", "r-1")
            .body(())
            .unwrap();
        assert_eq!(svc.oneshot(req).await.unwrap().status().as_u16(), status);
    }

    fn count(text: &str, series: &str) -> u64 {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn every_request_is_counted_with_kept_handles_and_beyond_the_bound() {
        let prometheus = crate::telemetry::metrics().expect("no other recorder in unit tests");
        for _ in 0..3 {
            request("access_test", Some(4242), 200).await;
        }
        request("access_test", None, 404).await;
        // More series than the cache keeps: the ones beyond it are still counted.
        for code in 0..(CACHED as i64 + 20) {
            request("access_bound_test", Some(code), 200).await;
        }
        let text = prometheus.render();
        let series = |action: &str, code: &str| {
            format!(
                r#"paybridge_requests_total{{operation="close",action="{action}",code="{code}"}}"#
            )
        };
        assert_eq!(count(&text, &series("access_test", "4242")), 3, "{text}");
        assert_eq!(
            count(&text, &series("access_test", "http_4xx")),
            1,
            "{text}"
        );
        for code in [0, CACHED as i64 - 1, CACHED as i64 + 19] {
            let s = series("access_bound_test", &code.to_string());
            assert_eq!(count(&text, &s), 1, "{s}");
        }
        assert_eq!(
            count(
                &text,
                r#"paybridge_request_seconds_count{action="access_test"}"#
            ),
            4,
            "{text}"
        );
    }

    #[test]
    fn the_record_is_taken_once() {
        let handle = AccessHandle::default();
        let body = Bytes::from_static(b"M1");
        handle.note(|r| r.mch_no = Some(SharedText::within(&body, "M1")));
        assert_eq!(
            handle.take().mch_no.as_ref().map(SharedText::as_str),
            Some("M1")
        );
        assert_eq!(handle.take().mch_no, None);
    }

    #[test]
    fn shared_text_is_a_view_of_its_source_or_a_copy() {
        let body = Bytes::from(r#"{"mchNo":"M1623984572"}"#.to_owned());
        let text = std::str::from_utf8(&body[10..21]).unwrap();
        let shared = SharedText::within(&body, text);
        assert_eq!(shared.as_str(), "M1623984572");
        assert_eq!(shared.0.as_ptr(), text.as_ptr(), "not copied");
        // Text from elsewhere (an unescaped JSON string, say) is copied.
        let other = String::from("M1623984572");
        let copied = SharedText::within(&body, &other);
        assert_eq!(copied.as_str(), "M1623984572");
        assert_ne!(copied.0.as_ptr(), other.as_ptr());
        // Right after the source's end, or overlapping it, is not inside.
        let tail = SharedText::within(&body.slice(..10), text);
        assert_eq!(tail.as_str(), "M1623984572");
        assert_eq!(SharedText::within(&Bytes::new(), "").as_str(), "");
    }
}
