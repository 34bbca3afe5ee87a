//! What paybridge tells its operators: Prometheus metrics, one access-log line per request, and
//! W3C trace context for upstream calls.

pub mod access;
pub mod line;
pub mod trace_context;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// `value`'s `Display` text, for a log field that may hold text a caller or an upstream chose
/// (an error naming a field value, a gateway's message): logged as a string field
/// (`error = text(&e).as_str()`), the text format quotes and escapes it, so a newline or
/// `key=value` inside cannot forge a line or a field; the JSON format writes a plain string.
pub fn text(value: &impl std::fmt::Display) -> String {
    value.to_string()
}

/// Latency buckets, in seconds: from sub-millisecond proxy work to upstream timeouts.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// paybridge's Prometheus recorder, once [`metrics`] has tried to install it.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle; `None` when
/// another recorder was installed first.
pub fn metrics() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Whether paybridge's recorder is installed as the global one. Only then may a metric handle be
/// kept for later requests: a handle registered before any recorder stays a no-op for good.
pub(crate) fn recorder_installed() -> bool {
    matches!(HANDLE.get(), Some(Some(_)))
}

/// Drains histogram samples into their buckets every few seconds. Without it the exporter keeps
/// every sample until `/metrics` is read, and memory grows with traffic when nobody scrapes.
pub async fn upkeep(handle: &'static PrometheusHandle) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        handle.run_upkeep();
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "paybridge_requests_total",
        "Merchant requests by operation, route action and outcome code"
    );
    describe_histogram!(
        "paybridge_request_seconds",
        Unit::Seconds,
        "Whole request latency by route action"
    );
    describe_histogram!(
        "paybridge_upstream_seconds",
        Unit::Seconds,
        "Upstream exchange latency by upstream"
    );
    describe_counter!(
        "paybridge_upstream_errors_total",
        "Upstream failures by upstream and kind"
    );
    describe_counter!(
        "paybridge_upstream_retries_total",
        "Retries of calls that reached nothing"
    );
    describe_gauge!(
        "paybridge_circuit_state",
        "Circuit breaker per upstream: 0 closed, 0.5 half-open, 1 open"
    );
    describe_counter!(
        "paybridge_signature_failures_total",
        "Signature failures by reason"
    );
    describe_counter!(
        "paybridge_replays_total",
        "Duplicate requests answered from the replay store"
    );
    describe_counter!(
        "paybridge_fallbacks_total",
        "Fallbacks to the other gateway by direction"
    );
    describe_counter!("paybridge_shadow_total", "Shadowed requests by outcome");
    describe_counter!(
        "paybridge_shed_total",
        "Requests shed at the in-flight limit"
    );
    describe_counter!(
        "paybridge_reloads_total",
        "Configuration reloads by outcome"
    );
    describe_counter!(
        "paybridge_outcome_resolutions_total",
        "Unknown close outcomes resolved by a query"
    );
}
