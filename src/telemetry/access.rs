//! One structured access-log line per request (target `paybridge::access`), and the request
//! metrics. The handler fills an [`AccessRecord`] carried in the request's extensions; this
//! layer writes it out when the answer leaves. No secret or signature is ever recorded.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};

/// What the handler learnt about a request.
#[derive(Debug, Default, Clone)]
pub struct AccessRecord {
    pub mch_no: Option<String>,
    /// translate, passthrough, replay, or none when refused before routing.
    pub action: Option<&'static str>,
    pub upstream: Option<String>,
    /// DaxPay's `traceId`, when it gave one.
    pub trace_id: Option<String>,
    /// The Jeepay-dialect code answered (unknown for a passthrough).
    pub code: Option<i64>,
    /// Why a request failed, as a stable name (see `GatewayError::kind`).
    pub error_kind: Option<&'static str>,
    pub fallback: bool,
}

/// The shared record, in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct AccessHandle(Arc<Mutex<AccessRecord>>);

impl AccessHandle {
    pub fn note(&self, f: impl FnOnce(&mut AccessRecord)) {
        if let Ok(mut record) = self.0.lock() {
            f(&mut record);
        }
    }

    fn snapshot(&self) -> AccessRecord {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
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
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let handle = AccessHandle::default();
        req.extensions_mut().insert(handle.clone());
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let operation = operation(req.uri().path());
        let method = req.method().clone();
        let started = Instant::now();
        let future = self.inner.call(req);
        Box::pin(async move {
            let result = future.await;
            let elapsed = started.elapsed();
            let status = result.as_ref().map_or(500, |r| r.status().as_u16());
            let r = handle.snapshot();
            let action = r.action.unwrap_or("none");
            let outcome = match r.code {
                Some(code) => code.to_string(),
                None => format!("http_{}xx", status / 100),
            };
            tracing::info!(
                target: "paybridge::access",
                request_id = %request_id,
                method = %method,
                operation,
                mch_no = r.mch_no.as_deref().unwrap_or("-"),
                action,
                upstream = r.upstream.as_deref().unwrap_or("-"),
                daxpay_trace_id = r.trace_id.as_deref().unwrap_or("-"),
                fallback = r.fallback,
                code = %outcome,
                error = r.error_kind.unwrap_or("-"),
                status,
                latency_us = elapsed.as_micros() as u64,
                "request"
            );
            metrics::counter!("paybridge_requests_total", "operation" => operation, "action" => action, "code" => outcome).increment(1);
            metrics::histogram!("paybridge_request_seconds", "action" => action)
                .record(elapsed.as_secs_f64());
            if let Some(reason) = r.error_kind.and_then(signature_failure) {
                metrics::counter!("paybridge_signature_failures_total", "reason" => reason)
                    .increment(1);
            }
            result
        })
    }
}

/// A bounded label for the path: unknown paths do not make new series.
fn operation(path: &str) -> &'static str {
    match path {
        "/api/pay/close" => "close",
        "/api/pay/cancel" => "cancel",
        "/api/pay/unifiedOrder" => "unified_order",
        "/api/pay/query" => "query",
        "/api/refund/refundOrder" => "refund",
        "/api/refund/query" => "refund_query",
        _ => "other",
    }
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
