//! The DaxPay sandbox: a stand-in for DaxPay's `/unipay` gateway — close, cancel, the pay order
//! query, pay, refund and the refund query (and on 2.0 the channel syncs), and the callbacks —
//! speaking one wire version (`3.0`, `3.0-beta` or `2.0`) per instance.
//!
//! It exists so that the proxy can be tested end to end, and tried by new users, without a real
//! DaxPay. To be worth that, it re-implements DaxPay's behaviour from the protocol documents
//! independently of the proxy, signing included ([`crate::sign`]): a misreading shared by both
//! sides would otherwise pass unnoticed.
//!
//! **2.0** (2.0.8, `lifecycle-2.0.md`) has its own steps, answers and notices: [`v20`]. The rest
//! of this module is 3.x. A 3.x request goes through DaxPay's steps in DaxPay's order; the first
//! failure answers:
//!
//! 1. deserialise into the version's own model ([`model`]): 10505, unsigned;
//! 2. bean validation: 10506, unsigned;
//! 3. app lookup: 20023, unsigned;
//! 4. signature over the *model*: 20052, unsigned;
//! 5. `reqTime` window: 10506, unsigned;
//! 6. the handler ([`state`]): close 20041 / 20043 / 20044 / 20080, query 20041, signed.
//!
//! Answers are built in [`reply`].
//!
//! `POST /unipay/query/payOrder` answers the order's full `PayOrderResult` ([`result`]), as
//! stored: during a slow close (`close_delay`) that is still the status before the close.
//! - 3.x: `data` holds, in the server class's declaration order and nulls included, `bizOrderNo,
//!   orderNo, outOrderNo, title, description, allocation, autoAllocation, channel, method,
//!   otherMethod, limitPay, amount, realAmount, refundableBalance, status, refundStatus,
//!   allocStatus, settleStatus, payTime, closeTime, expiredTime, attach, errorMsg`; amounts are
//!   yuan with 4 decimals (`12.3000`), times `yyyy-MM-dd HH:mm:ss` on the sandbox's wall clock.
//!   The envelope is signed over `code, msg, data, resTime, traceId`, `data` rendered as hutool
//!   does: declaration order, nulls dropped, decimals stripped (`12.3`), hutool string escaping.
//! - 3.0-beta: the same result; its request model misspells `bizOrderNo` as `bizOrderNoeNo`
//!   (a client sending `bizOrderNo` has it dropped), and `orderNo` is at most 32 characters.
//!
//! `realAmount` is the amount once the order succeeded (null before); `refundableBalance` is the
//! amount unless the order is `refunded` (then 0); `closeTime` is set when the sandbox closes or
//! cancels the order. Tests move an order with [`Sandbox::update_order`] (or the shorthands
//! [`Sandbox::set_order_status`], [`Sandbox::set_refund_status`], [`Sandbox::set_pay_time`]).

mod callback;
mod model;
mod params;
mod pay;
mod refund;
mod reply;
pub mod result;
mod settle;
mod state;
mod v20;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::config::{SandboxApp, SandboxConfig, SandboxOrder};
use crate::order::{OrderStatus, RefundStatus};
use crate::sign::daxpay::{Scheme, Version};
pub use callback::SentCallback;
use model::{Model, OrderRequest};
pub use pay::CHANNEL_FAIL;
pub use refund::{REFUND_FAIL, REFUND_PENDING};
use reply::Signer;
use settle::lock_refunds;
pub use settle::SettleError;
use state::{Orders, Refusal};

/// Largest request body the sandbox reads; a bigger one is a parse error, as an unreadable body.
const BODY_LIMIT: usize = 64 * 1024;

/// A DaxPay sandbox. Cheap to clone: clones share orders and counters.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    version: Version,
    utc_offset: UtcOffset,
    req_time_window: Option<Duration>,
    sm3_is_md5: bool,
    apps: Vec<SandboxApp>,
    orders: Orders,
    callbacks: Arc<callback::Callbacks>,
    requests_seen: AtomicU64,
    /// Requests per path (any method, valid or not).
    requests_by_path: Mutex<HashMap<String, u64>>,
    /// The 2.0 platform's configuration and the sandbox's 2.0 switches.
    v20: v20::V20State,
}

impl Sandbox {
    pub fn new(config: &SandboxConfig) -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner {
                version: config.version,
                utc_offset: config.utc_offset,
                req_time_window: config.req_time_window,
                sm3_is_md5: config.sm3_is_md5,
                apps: config.apps.clone(),
                orders: Orders::new(&config.orders, config.utc_offset),
                callbacks: callback::Callbacks::new(config.callback_retry.clone()),
                requests_seen: AtomicU64::new(0),
                requests_by_path: Mutex::new(HashMap::new()),
                v20: v20::V20State::new(config),
            }),
        }
    }

    /// Current status of an order, by its DaxPay orderNo.
    pub fn order_status(&self, order_no: &str) -> Option<OrderStatus> {
        self.inner.orders.status(order_no)
    }

    /// A snapshot of an order, by its DaxPay orderNo.
    pub fn order(&self, order_no: &str) -> Option<SandboxOrder> {
        self.inner.orders.get(order_no)
    }

    /// A snapshot of the order with the merchant's number `biz_order_no` (in any app): what
    /// DaxPay made for a request whose answer was lost.
    pub fn order_by_biz(&self, biz_order_no: &str) -> Option<SandboxOrder> {
        self.inner.orders.by_biz(biz_order_no)
    }

    /// A snapshot of every order, seeded and created (no particular order): for tests whose
    /// merchant dialect does not answer DaxPay's numbers (epay's `trade_no` is paybridge's own).
    pub fn orders(&self) -> Vec<SandboxOrder> {
        self.inner.orders.all()
    }

    /// Changes an order as if DaxPay had moved it (paid, refunded, ...): `change` may set any
    /// field but the order number. `false` when there is no such order. A close in progress
    /// still applies its outcome when it finishes.
    pub fn update_order(&self, order_no: &str, change: impl FnOnce(&mut SandboxOrder)) -> bool {
        self.inner.orders.update(order_no, change)
    }

    /// Sets an order's status (e.g. a payment succeeded meanwhile); see [`Sandbox::update_order`].
    pub fn set_order_status(&self, order_no: &str, status: OrderStatus) -> bool {
        self.update_order(order_no, |o| o.status = status)
    }

    /// Sets an order's refund status; see [`Sandbox::update_order`].
    pub fn set_refund_status(&self, order_no: &str, status: RefundStatus) -> bool {
        self.update_order(order_no, |o| o.refund_status = status)
    }

    /// Sets when an order was paid, on the sandbox's wall clock; see [`Sandbox::update_order`].
    pub fn set_pay_time(&self, order_no: &str, pay_time: Option<PrimitiveDateTime>) -> bool {
        self.update_order(order_no, |o| o.pay_time = pay_time)
    }

    /// How many HTTP requests reached the sandbox (any path, valid or not).
    pub fn requests_seen(&self) -> u64 {
        self.inner.requests_seen.load(Ordering::Relaxed)
    }

    /// How many HTTP requests reached `path` (e.g. `/unipay/refund`), valid or not.
    pub fn requests_to(&self, path: &str) -> u64 {
        let counts = self
            .inner
            .requests_by_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.get(path).copied().unwrap_or(0)
    }
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("version", &self.inner.version)
            .field("apps", &self.inner.apps.len())
            .field("requests_seen", &self.requests_seen())
            .finish_non_exhaustive()
    }
}

impl<B> tower::Service<Request<B>> for Sandbox
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Counted here, not in the future, so that a request abandoned mid-way still counts.
        self.inner.requests_seen.fetch_add(1, Ordering::Relaxed);
        *self
            .inner
            .requests_by_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(request.uri().path().to_owned())
            .or_insert(0) += 1;
        let inner = Arc::clone(&self.inner);
        // Like a servlet container, DaxPay finishes a request whose client went away: a close
        // that was sent happens even when nobody waits for its answer.
        let work = tokio::spawn(async move { inner.handle(request).await });
        Box::pin(async move {
            Ok(work.await.unwrap_or_else(|_| {
                let mut response = Response::new(Full::new(Bytes::from_static(
                    b"{\"code\":10500,\"msg\":\"internal error\",\"data\":null}",
                )));
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                response
            }))
        })
    }
}

/// Serves the sandbox on `listener` until `shutdown` resolves (then 5 s grace).
pub async fn run(
    listener: tokio::net::TcpListener,
    sandbox: Sandbox,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, version = %sandbox.inner.version, "DaxPay sandbox listening");
    }
    crate::serve::serve(listener, sandbox, shutdown).await;
}

/// The DaxPay endpoints the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/unipay/close`; in 3.x `useCancel` turns it into a cancel.
    Close,
    /// `/unipay/cancel` (2.0 only).
    Cancel,
    /// `/unipay/query/payOrder`.
    Query,
    /// `/unipay/pay`.
    Pay,
    /// `/unipay/refund`.
    Refund,
    /// `/unipay/query/refundOrder`.
    RefundQuery,
    /// `/unipay/sync/pay` (2.0 only).
    SyncPay,
    /// `/unipay/sync/refund` (2.0 only).
    SyncRefund,
}

/// Why a request reached no DaxPay endpoint (answered 404 / 405).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoRoute {
    Path,
    Method,
}

/// A failure before the close handler runs: always answered unsigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Rejection {
    #[error("参数解析错误")]
    Parse,
    #[error("验证参数错误\n{0}")]
    Invalid(String),
    #[error("未找到指定的应用配置")]
    UnknownApp,
    #[error("签名校验失败")]
    BadSignature,
    /// Reported as a validation error.
    #[error("请求已过期，请重新发送！")]
    Expired,
}

impl Rejection {
    fn code(&self) -> i64 {
        match self {
            Rejection::Parse => 10505,
            Rejection::Invalid(_) | Rejection::Expired => 10506,
            Rejection::UnknownApp => 20023,
            Rejection::BadSignature => 20052,
        }
    }

    fn message(&self) -> String {
        match self {
            Rejection::Expired => format!("验证参数错误\n{self}"),
            _ => self.to_string(),
        }
    }
}

/// What the handler did, once the request got past the pre-handler checks.
type Handled<'a> = (Signer<'a>, Result<Done, Refusal>);

/// A handler's success.
#[derive(Debug)]
enum Done {
    /// The order was closed or cancelled.
    Closed,
    /// The order asked about, as it stands.
    Found(Box<SandboxOrder>),
    /// A typed result (`PayResult`, `RefundResult`, `RefundOrderResult`).
    Data(result::Typed),
}

impl Inner {
    async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        if let Some(response) = self.settle(&parts.method, path) {
            return response;
        }
        if let Some(response) = self.settle_refund_http(&parts.method, path) {
            return response;
        }
        let endpoint = match self.route(&parts.method, path) {
            Ok(endpoint) => endpoint,
            Err(why) => {
                tracing::debug!(method = %parts.method, path, ?why, "sandbox: no such route");
                return self.no_route(why, &parts.method, path);
            }
        };
        let collected = Limited::new(body, BODY_LIMIT).collect().await;
        if self.version == Version::V2_0 {
            let bytes = collected.map(|c| c.to_bytes()).unwrap_or_default();
            let (code, msg, response) = self.process_v20(endpoint, &bytes).await;
            tracing::debug!(version = %self.version, path, code, msg, "sandbox answered");
            return response;
        }
        let outcome = match collected {
            Ok(collected) => self.process(endpoint, &collected.to_bytes()).await,
            Err(err) => {
                tracing::debug!(path, error = %err, "sandbox: body unreadable or too large");
                Err(Rejection::Parse)
            }
        };
        let (code, msg, response) = self.answer(outcome);
        tracing::debug!(version = %self.version, path, code, msg, "sandbox answered");
        response
    }

    fn route(&self, method: &Method, path: &str) -> Result<Endpoint, NoRoute> {
        let endpoint = match path {
            "/unipay/close" => Endpoint::Close,
            "/unipay/cancel" if self.version == Version::V2_0 => Endpoint::Cancel,
            "/unipay/query/payOrder" => Endpoint::Query,
            "/unipay/pay" => Endpoint::Pay,
            "/unipay/refund" => Endpoint::Refund,
            "/unipay/query/refundOrder" => Endpoint::RefundQuery,
            "/unipay/sync/pay" if self.version == Version::V2_0 => Endpoint::SyncPay,
            "/unipay/sync/refund" if self.version == Version::V2_0 => Endpoint::SyncRefund,
            _ => return Err(NoRoute::Path),
        };
        if method != Method::POST {
            return Err(NoRoute::Method);
        }
        Ok(endpoint)
    }

    /// DaxPay has no code of its own for these (Spring answers them before DaxPay runs); the
    /// sandbox uses the version's system-error code so that the answer is still an envelope.
    fn no_route(&self, why: NoRoute, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let code = if self.version == Version::V2_0 {
            10001
        } else {
            10500
        };
        match why {
            NoRoute::Path => reply::no_route(
                StatusCode::NOT_FOUND,
                code,
                &format!("请求地址不存在: {path}"),
                None,
            ),
            NoRoute::Method => reply::no_route(
                StatusCode::METHOD_NOT_ALLOWED,
                code,
                &format!("不支持的请求方法: {method}"),
                Some("POST"),
            ),
        }
    }

    /// Steps 1 to 6 of the module docs.
    async fn process(&self, endpoint: Endpoint, body: &[u8]) -> Result<Handled<'_>, Rejection> {
        let version = self.version;
        let model = match endpoint {
            // Routed on 2.0 only (`Inner::route`).
            Endpoint::SyncPay | Endpoint::SyncRefund => return Err(Rejection::Parse),
            Endpoint::Close | Endpoint::Cancel => Model::Close,
            Endpoint::Query => Model::Query,
            Endpoint::Pay | Endpoint::Refund | Endpoint::RefundQuery => {
                return self.process_trade(endpoint, body);
            }
        };
        let request = OrderRequest::parse_as(version, model, body).map_err(|err| {
            tracing::debug!(error = %err, "sandbox: parse error");
            Rejection::Parse
        })?;
        request.validate(version).map_err(Rejection::Invalid)?;
        let app = self
            .find_app(request.mch_no.as_deref(), request.app_id.as_deref())
            .ok_or(Rejection::UnknownApp)?;
        let signer = Signer {
            scheme: Scheme {
                version,
                sign_type: app.sign_type,
                sm3_is_md5: self.sm3_is_md5 && version == Version::V3_0,
            },
            secret: app.secret.expose(),
        };
        let given = request.sign.as_deref().ok_or(Rejection::BadSignature)?;
        if !signer
            .scheme
            .verify(&request.sign_fields(), signer.secret, given)
        {
            return Err(Rejection::BadSignature);
        }
        self.check_req_time(request.req_time, OffsetDateTime::now_utc())?;

        // Validation guarantees an order number; the fallback only avoids a panic path.
        let key = request
            .order_key()
            .ok_or_else(|| Rejection::Invalid("支付订单号不能都为空".to_owned()))?;
        let app_id = app.app_id.as_deref();
        let cancel = match endpoint {
            // Answered above; repeated so that the match needs no panicking arm.
            Endpoint::Pay | Endpoint::Refund | Endpoint::RefundQuery => {
                return self.process_trade(endpoint, body);
            }
            Endpoint::SyncPay | Endpoint::SyncRefund => return Err(Rejection::Parse),
            Endpoint::Query => {
                let result = self.orders.find(key, app_id).ok_or(Refusal::NotFound);
                tracing::debug!(?key, found = result.is_ok(), "sandbox: query handled");
                return Ok((signer, result.map(|o| Done::Found(Box::new(o)))));
            }
            Endpoint::Cancel => true,
            Endpoint::Close => request.use_cancel.unwrap_or(false),
        };
        let result = match self.orders.begin_close(key, app_id, version, cancel) {
            Ok(closing) => closing.finish().await,
            Err(refusal) => Err(refusal),
        };
        if let Some(order) = result
            .as_ref()
            .ok()
            .and_then(|_| self.orders.find(key, app_id))
        {
            self.order_changed(&order);
        }
        tracing::debug!(?key, cancel, ?result, "sandbox: close handled");
        Ok((signer, result.map(|_| Done::Closed)))
    }

    /// The 3.x answer for `outcome`, with the code and message logged for it.
    fn answer(
        &self,
        outcome: Result<Handled<'_>, Rejection>,
    ) -> (i64, String, Response<Full<Bytes>>) {
        let now = OffsetDateTime::now_utc();
        match outcome {
            Err(rejection) => {
                let (code, msg) = (rejection.code(), rejection.message());
                let response = reply::unsigned(code, &msg);
                (code, msg, response)
            }
            Ok((signer, Ok(Done::Found(order)))) => {
                let response = reply::query_3x(&signer, now, self.utc_offset, &order);
                (0, "success".to_owned(), response)
            }
            Ok((signer, Ok(Done::Data(data)))) => {
                let response = reply::typed_3x(&signer, now, self.utc_offset, &data);
                (0, "success".to_owned(), response)
            }
            Ok((signer, Ok(Done::Closed))) => {
                let response = reply::success_3x(&signer, now, self.utc_offset);
                (0, "success".to_owned(), response)
            }
            Ok((signer, Err(refusal))) => {
                let (code, msg) = (refusal.code(), refusal.to_string());
                let response = reply::refusal_3x(&signer, code, &msg);
                (code, msg, response)
            }
        }
    }
}
