//! Calls to DaxPay upstreams: one pooled keep-alive HTTP client per upstream, bounded in time and
//! size, and errors that say whether the request may have reached the gateway.
//!
//! That distinction matters for money: a close that was never sent did not happen; a close that
//! was sent but not answered may have happened, and the merchant must be told the outcome is
//! unknown rather than "failed".

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Upstream;
use crate::dialect::daxpay::AnswerError;

/// Larger answers are not DaxPay's; stop reading rather than buffer them.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

static PAYBRIDGE_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("paybridge/", env!("CARGO_PKG_VERSION")));

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Nothing reached the upstream: the operation certainly did not happen.
    #[error("upstream {upstream}: connection failed: {detail}")]
    Connect { upstream: String, detail: String },
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
    /// An answer that cannot be believed: not DaxPay's, unsigned success, bad signature.
    #[error("upstream {upstream}: {error}")]
    Unverified {
        upstream: String,
        error: AnswerError,
    },
    /// DaxPay refused for a reason that is the operator's to fix (our signature, our clock,
    /// an unknown DaxPay app, a DaxPay system error).
    #[error("upstream {upstream}: refused with code {code}: {msg}")]
    Rejected {
        upstream: String,
        code: i64,
        msg: String,
    },
}

impl UpstreamError {
    /// What the merchant is told inside `系统异常[...]`: short, no secrets, and explicit about
    /// whether the order may have been closed.
    pub fn merchant_reason(&self) -> String {
        match self {
            UpstreamError::Connect { .. } => "上游连接失败，订单未处理".to_owned(),
            UpstreamError::Timeout { .. } => "上游应答超时，结果未知，请稍后查询订单".to_owned(),
            UpstreamError::Broken { .. } => "上游连接中断，结果未知，请稍后查询订单".to_owned(),
            UpstreamError::Status { status, .. } => {
                format!("上游HTTP状态{}，结果未知，请稍后查询订单", status.as_u16())
            }
            UpstreamError::TooLarge { .. } => "上游应答过大，结果未知，请稍后查询订单".to_owned(),
            UpstreamError::Unverified { error, .. } => match error {
                AnswerError::Malformed(_) => "上游应答无法解析，结果未知，请稍后查询订单",
                AnswerError::UnsignedSuccess => "上游成功应答未签名，结果未知，请稍后查询订单",
                AnswerError::BadSignature => "上游应答验签失败，结果未知，请稍后查询订单",
            }
            .to_owned(),
            UpstreamError::Rejected { code, .. } => format!("上游拒绝请求，代码{code}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "upstream_connect",
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::Broken { .. } => "upstream_broken",
            UpstreamError::Status { .. } => "upstream_status",
            UpstreamError::TooLarge { .. } => "upstream_too_large",
            UpstreamError::Unverified { error, .. } => match error {
                AnswerError::Malformed(_) => "upstream_malformed",
                AnswerError::UnsignedSuccess => "upstream_unsigned_success",
                AnswerError::BadSignature => "upstream_bad_signature",
            },
            UpstreamError::Rejected { .. } => "upstream_rejected",
        }
    }
}

/// A pooled client bound to one upstream.
#[derive(Clone, Debug)]
pub struct DaxClient {
    pub upstream: Arc<Upstream>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl DaxClient {
    pub fn new(upstream: Arc<Upstream>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(upstream.connect_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .build(connector);
        DaxClient { upstream, http }
    }

    /// POSTs a JSON body to `base_url + path` and returns the complete answer body (HTTP 200 only).
    pub async fn post_json(
        &self,
        path: &str,
        body: Vec<u8>,
        request_id: Option<&HeaderValue>,
    ) -> Result<Bytes, UpstreamError> {
        let upstream = &self.upstream;
        let name = || upstream.name.clone();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{}", upstream.base_url, path))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, PAYBRIDGE_AGENT.clone());
        if let Some(id) = request_id {
            req = req.header("x-request-id", id.clone());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| UpstreamError::Connect {
                upstream: name(),
                detail: format!("cannot build request: {e}"),
            })?;

        let exchange = async {
            let response = self.http.request(req).await.map_err(|e| {
                if e.is_connect() {
                    UpstreamError::Connect {
                        upstream: name(),
                        detail: error_chain(&e),
                    }
                } else {
                    UpstreamError::Broken {
                        upstream: name(),
                        detail: error_chain(&e),
                    }
                }
            })?;
            let status = response.status();
            let collected = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        UpstreamError::TooLarge { upstream: name() }
                    } else {
                        UpstreamError::Broken {
                            upstream: name(),
                            detail: e.to_string(),
                        }
                    }
                })?;
            if status != StatusCode::OK {
                return Err(UpstreamError::Status {
                    upstream: name(),
                    status,
                });
            }
            Ok(collected.to_bytes())
        };
        tokio::time::timeout(upstream.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout {
                upstream: name(),
                timeout_ms: upstream.timeout.as_millis(),
            })?
    }
}

/// The clients of all configured upstreams, by name.
#[derive(Clone, Debug, Default)]
pub struct Upstreams(HashMap<String, DaxClient>);

impl Upstreams {
    pub fn new<'a>(upstreams: impl IntoIterator<Item = &'a Arc<Upstream>>) -> Self {
        Upstreams(
            upstreams
                .into_iter()
                .map(|u| (u.name.clone(), DaxClient::new(u.clone())))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&DaxClient> {
        self.0.get(name)
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
