//! How a call to an upstream can fail, and whether the request may have reached it.
//!
//! That distinction matters for money: a close that was never sent did not happen; a close that
//! was sent but not answered may have happened. No merchant-facing words here: the dialect that
//! answers the merchant chooses them.

use http::StatusCode;

/// Larger answers are not a payment gateway's; stop reading rather than buffer them.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Nothing reached the upstream: the operation certainly did not happen.
    #[error("upstream {upstream}: connection failed: {detail}")]
    Connect { upstream: String, detail: String },
    /// Every connection to the upstream stayed busy until the deadline: nothing was sent.
    #[error("upstream {upstream}: all {open} connections busy until the deadline, not called")]
    Exhausted { upstream: String, open: usize },
    /// The circuit is open after repeated failures: nothing was sent.
    #[error("upstream {upstream}: circuit open, not called")]
    CircuitOpen { upstream: String },
    /// Sent, but no complete answer in time: the outcome is unknown.
    #[error("upstream {upstream}: no answer within {timeout_ms} ms")]
    Timeout { upstream: String, timeout_ms: u128 },
    /// Sent, then the connection failed (reset, closed mid-answer): the outcome is unknown.
    #[error("upstream {upstream}: connection broke after sending: {detail}")]
    Broken { upstream: String, detail: String },
    #[error("upstream {upstream}: HTTP status {status}")]
    Status {
        upstream: String,
        status: StatusCode,
    },
    #[error("upstream {upstream}: answer larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge { upstream: String },
}

impl UpstreamError {
    /// Whether the request may have reached the upstream (the outcome is then unknown).
    pub fn maybe_sent(&self) -> bool {
        !matches!(
            self,
            UpstreamError::Connect { .. }
                | UpstreamError::CircuitOpen { .. }
                | UpstreamError::Exhausted { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "upstream_connect",
            UpstreamError::CircuitOpen { .. } => "upstream_circuit_open",
            UpstreamError::Exhausted { .. } => "upstream_pool_exhausted",
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::Broken { .. } => "upstream_broken",
            UpstreamError::Status { .. } => "upstream_status",
            UpstreamError::TooLarge { .. } => "upstream_too_large",
        }
    }
}

pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
