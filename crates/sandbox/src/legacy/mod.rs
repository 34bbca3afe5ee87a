//! A stand-in for a merchant's legacy Jeepay gateway: Jeepay's `/api/pay/close`, server side.
//!
//! paybridge passes the requests of merchants not yet migrated to DaxPay through, byte for byte,
//! to their old Jeepay gateway. Tests of that path need a Jeepay to pass through to, one that
//! answers as Jeepay does and shows exactly what reached it ([`LegacySandbox::received`]). So this
//! module re-implements Jeepay's reading, binding and checks from `protocols/jeepay.md` in
//! [`params`], independently of the proxy's Jeepay reader, with its own MD5 signer
//! ([`crate::sign::jeepay`], pinned by the golden vectors).
//!
//! A close request goes through Jeepay's steps in Jeepay's order; the first failure answers:
//!
//! 1. read the parameters (JSON object, or query string and form body): code 11 `参数有误[转换异常]`;
//! 2. `@NotBlank` checks, code 9999 with the field's own message;
//! 3. merchant and app lookup: `商户或商户应用不存在`, `参数appId与商户号不匹配`;
//! 4. MD5 over the bound declared fields, compared case-insensitively: `验签失败`;
//! 5. an order number: `mchOrderNo 和 payOrderId 不能同时为空`;
//! 6. the order, by `payOrderId` when non-empty else `mchOrderNo`, within the merchant:
//!    `订单不存在`; state 0 or 1 only: `当前订单不可关闭`;
//! 7. close: state 6, `{"code":0,"data":{},"msg":"SUCCESS","sign":…}` signed with the app's secret.
//!
//! Neither `reqTime` nor the `signType` value is checked, as Jeepay checks neither. An order
//! configured with `empty_body` reproduces Jeepay's answer when the channel's close service is
//! missing or throws: HTTP 200 with an empty body (and, like Jeepay, no `Content-Type`, since no
//! message converter ran), the order unchanged.

pub(crate) mod epay;
mod params;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::{EpayOrder, LegacyApp, LegacyOrder, LegacySandboxConfig};
use crate::sign::jeepay as sign;
use params::{CloseRq, Params};

mod query;
mod trade;

pub(crate) use epay::epay_now;
pub use epay::EpayRefund;
pub use trade::LegacyRefund;

/// The paths served: close, and the pay query (enough of it for the proxy's fallback tests).
const CLOSE_PATH: &str = "/api/pay/close";
const QUERY_PATH: &str = query::PATH;

/// Jeepay's (Spring's) content type for every JSON answer.
const JSON_UTF8: &str = "application/json;charset=UTF-8";

/// Largest body read. It is far above the proxy's own limit, so that anything the proxy lets
/// through arrives whole; a bigger body is recorded truncated and answered code 11.
const BODY_LIMIT: usize = 1024 * 1024;

/// How many requests [`LegacySandbox::received`] keeps (the most recent ones).
const LOG_LIMIT: usize = 1000;

/// A request exactly as it reached the legacy sandbox.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: Method,
    /// Path and query, as sent (not decoded).
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A legacy Jeepay gateway. Cheap to clone: clones share orders, counters and the request log.
#[derive(Clone)]
pub struct LegacySandbox {
    inner: Arc<Inner>,
}

struct Inner {
    apps: Vec<LegacyApp>,
    orders: Mutex<Vec<LegacyOrder>>,
    /// Refund orders; when both are needed, `orders` is locked first.
    refunds: Mutex<Vec<LegacyRefund>>,
    requests_seen: AtomicU64,
    log: Mutex<VecDeque<ReceivedRequest>>,
    /// The legacy epay gateway on the same listener (`mapi.php`, `submit.php`, `api.php`).
    epay: epay::EpayState,
}

/// A panic elsewhere cannot leave these inconsistent (every update is one assignment or one
/// push), so a poisoned lock is simply taken over.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LegacySandbox {
    pub fn new(config: &LegacySandboxConfig) -> Self {
        LegacySandbox {
            inner: Arc::new(Inner {
                apps: config.apps.clone(),
                orders: Mutex::new(config.orders.clone()),
                refunds: Mutex::new(Vec::new()),
                requests_seen: AtomicU64::new(0),
                log: Mutex::new(VecDeque::new()),
                epay: epay::EpayState::new(
                    config.epay_merchants.clone(),
                    config.epay_orders.clone(),
                ),
            }),
        }
    }

    /// Jeepay state of an order by payOrderId (0 created, 1 paying, 2 success, 3 failed,
    /// 4 cancelled, 5 refunded, 6 closed).
    pub fn order_state(&self, pay_order_id: &str) -> Option<u8> {
        lock(&self.inner.orders)
            .iter()
            .find(|o| o.pay_order_id == pay_order_id)
            .map(|o| o.state)
    }

    /// How many HTTP requests reached the sandbox (any path, valid or not).
    pub fn requests_seen(&self) -> u64 {
        self.inner.requests_seen.load(Ordering::Relaxed)
    }

    /// A snapshot of an order by payOrderId (unified orders included).
    pub fn order(&self, pay_order_id: &str) -> Option<LegacyOrder> {
        lock(&self.inner.orders)
            .iter()
            .find(|o| o.pay_order_id == pay_order_id)
            .cloned()
    }

    /// Every refund order made through `/api/refund/refundOrder`, oldest first.
    pub fn refunds(&self) -> Vec<LegacyRefund> {
        lock(&self.inner.refunds).clone()
    }

    /// A snapshot of an epay order by `trade_no`.
    pub fn epay_order(&self, trade_no: &str) -> Option<EpayOrder> {
        lock(&self.inner.epay.orders)
            .iter()
            .find(|o| o.trade_no == trade_no)
            .cloned()
    }

    /// Every epay order, seeded ones first.
    pub fn epay_orders(&self) -> Vec<EpayOrder> {
        lock(&self.inner.epay.orders).clone()
    }

    /// Every refund made through `api.php?act=refund`, oldest first.
    pub fn epay_refunds(&self) -> Vec<EpayRefund> {
        lock(&self.inner.epay.refunds).clone()
    }

    /// Marks an epay order paid (status 1), as the channel's notice would; `false` if unknown.
    pub fn epay_mark_paid(&self, trade_no: &str) -> bool {
        self.inner.epay.mark_paid(trade_no)
    }

    /// Every request received, in order, exactly as it arrived: method, path-and-query, headers,
    /// body bytes. Only the last 1,000 are kept.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        lock(&self.inner.log).iter().cloned().collect()
    }
}

impl fmt::Debug for LegacySandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySandbox")
            .field("apps", &self.inner.apps.len())
            .field("requests_seen", &self.requests_seen())
            .finish_non_exhaustive()
    }
}

impl<B> tower::Service<Request<B>> for LegacySandbox
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
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.handle(request).await) })
    }
}

/// Serves the legacy sandbox on `listener` until `shutdown` resolves (then 5 s grace).
pub async fn run_legacy(
    listener: tokio::net::TcpListener,
    sandbox: LegacySandbox,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "legacy Jeepay sandbox listening");
    }
    crate::serve::serve(listener, sandbox, shutdown).await;
}

/// Why a close request was refused, in Jeepay's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Code 11 `参数有误[转换异常]`.
    Conversion,
    /// Code 9999 with Jeepay's message (`BizException`).
    Biz(&'static str),
    /// The same, with a message naming the request's values.
    Message(String),
}

/// What the close handler answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Closed {
        sign: String,
    },
    /// The channel-close quirk: HTTP 200, nothing in the body.
    Empty,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i64,
    msg: &'a str,
}

/// Spring Boot's error attributes, as a Jeepay deployment answers a path no controller maps.
#[derive(Serialize)]
struct NotFoundBody<'a> {
    timestamp: String,
    status: u16,
    error: &'a str,
    path: &'a str,
}

impl Inner {
    async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let (body, complete) = read_body(body).await;
        self.record(ReceivedRequest {
            method: parts.method.clone(),
            uri: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned()),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        let path = parts.uri.path();
        if epay::serves(path) {
            // A body cut short reads as what arrived; PHP would see the same truncated form.
            let _ = complete;
            return self.epay.handle(
                &parts.method,
                path,
                &parts.headers,
                parts.uri.query(),
                &body,
            );
        }
        type Handler =
            fn(&Inner, &Method, Option<&[u8]>, Option<&str>, &[u8]) -> Result<String, Refusal>;
        let handler: Option<Handler> = match path {
            CLOSE_PATH => None,
            QUERY_PATH => Some(Inner::query),
            trade::UNIFIED_ORDER_PATH => Some(Inner::unified_order),
            trade::REFUND_PATH => Some(Inner::refund_order),
            trade::REFUND_QUERY_PATH => Some(Inner::refund_query),
            _ => {
                tracing::debug!(method = %parts.method, path, "legacy sandbox: no such path");
                return not_found(path);
            }
        };
        if let Some(handler) = handler {
            let outcome = if complete {
                handler(
                    self,
                    &parts.method,
                    parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
                    parts.uri.query(),
                    &body,
                )
            } else {
                Err(Refusal::Conversion)
            };
            tracing::debug!(path, ok = outcome.is_ok(), "legacy sandbox answered");
            return match outcome {
                Ok(body) => json(StatusCode::OK, body.into_bytes()),
                Err(Refusal::Conversion) => error(11, "参数有误[转换异常]"),
                Err(Refusal::Biz(msg)) => error(9999, msg),
                Err(Refusal::Message(msg)) => error(9999, &msg),
            };
        }
        let outcome = if complete {
            self.close(
                &parts.method,
                parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
                parts.uri.query(),
                &body,
            )
        } else {
            tracing::debug!("legacy sandbox: body unreadable or too large");
            Err(Refusal::Conversion)
        };
        tracing::debug!(?outcome, "legacy sandbox answered");
        match outcome {
            Ok(Answer::Closed { sign }) => {
                // Jeepay's ApiRes with an empty data object, keys in its (alphabetical) order.
                let body = format!(r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{sign}"}}"#);
                json(StatusCode::OK, body.into_bytes())
            }
            Ok(Answer::Empty) => Response::new(Full::new(Bytes::new())),
            Err(Refusal::Conversion) => error(11, "参数有误[转换异常]"),
            Err(Refusal::Biz(msg)) => error(9999, msg),
            Err(Refusal::Message(msg)) => error(9999, &msg),
        }
    }

    fn record(&self, request: ReceivedRequest) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_LIMIT {
            log.pop_front();
        }
        log.push_back(request);
    }

    /// Steps 1 to 7 of the module docs.
    fn close(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        let (rq, app) = self.verified(method, content_type, query, body)?;
        // `StringUtils.isAllEmpty`: empty, not blank (a lone space names an order " ").
        let pay_order_id = rq.pay_order_id.as_deref().filter(|s| !s.is_empty());
        let mch_order_no = rq.mch_order_no.as_deref().filter(|s| !s.is_empty());
        if pay_order_id.is_none() && mch_order_no.is_none() {
            return Err(Refusal::Biz("mchOrderNo 和 payOrderId 不能同时为空"));
        }

        let mut orders = lock(&self.orders);
        // `queryMchOrder`: by payOrderId when given, else by mchOrderNo; always within mchNo.
        let order = orders
            .iter_mut()
            .filter(|o| o.mch_no == rq.mch_no)
            .find(|o| match pay_order_id {
                Some(id) => o.pay_order_id == id,
                None => Some(o.mch_order_no.as_str()) == mch_order_no,
            })
            .ok_or(Refusal::Biz("订单不存在"))?;
        if order.state != 0 && order.state != 1 {
            return Err(Refusal::Biz("当前订单不可关闭"));
        }
        if order.empty_body {
            return Ok(Answer::Empty);
        }
        order.state = 6;
        Ok(Answer::Closed {
            sign: sign::sign(&[], app.secret.expose()),
        })
    }

    /// Steps 1 to 4 of the module docs, shared by every endpoint: the request read, its
    /// required fields, its app, its signature.
    fn verified(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(CloseRq, &LegacyApp), Refusal> {
        self.verified_declaring(method, content_type, query, body, &[], |_| Ok(()))
    }

    /// [`Inner::verified`] for a request class with `extra` declared fields, whose own
    /// `@NotBlank`-style checks `check` runs after the common ones.
    fn verified_declaring(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
        extra: &[&'static str],
        check: impl FnOnce(&CloseRq) -> Result<(), &'static str>,
    ) -> Result<(CloseRq, &LegacyApp), Refusal> {
        let params =
            Params::read_declaring(method, content_type, query, body, extra).map_err(|err| {
                tracing::debug!(error = %err, "legacy sandbox: conversion error");
                Refusal::Conversion
            })?;
        let rq = params.require().map_err(Refusal::Biz)?;
        check(&rq).map_err(Refusal::Biz)?;
        let app = self.find_app(&rq)?;
        let expected = sign::sign(&rq.signed_fields(), app.secret.expose());
        if !sign::matches(&expected, &rq.sign) {
            return Err(Refusal::Biz("验签失败"));
        }
        Ok((rq, app))
    }

    /// `queryMchInfoAndAppInfo` and its ownership check: an unknown merchant or app is one
    /// error, an app of another merchant another.
    fn find_app(&self, rq: &CloseRq) -> Result<&LegacyApp, Refusal> {
        let app = self.apps.iter().find(|a| a.app_id == rq.app_id);
        let merchant_known = self.apps.iter().any(|a| a.mch_no == rq.mch_no);
        match app {
            Some(app) if merchant_known && app.mch_no == rq.mch_no => Ok(app),
            Some(_) if merchant_known => Err(Refusal::Biz("参数appId与商户号不匹配")),
            _ => Err(Refusal::Biz("商户或商户应用不存在")),
        }
    }
}

/// Reads the body up to [`BODY_LIMIT`]. `false` when it was cut short (too large, or the
/// client's stream failed); the bytes read so far are returned either way.
async fn read_body<B>(body: B) -> (Bytes, bool)
where
    B: hyper::body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return (buf.freeze(), true),
            Some(Err(_)) => return (buf.freeze(), false),
            Some(Ok(frame)) => {
                // Trailers carry no parameters.
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let room = BODY_LIMIT - buf.len();
                if data.len() > room {
                    buf.extend_from_slice(&data[..room]);
                    return (buf.freeze(), false);
                }
                buf.extend_from_slice(&data);
            }
        }
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// `{"code":<code>,"msg":"<msg>"}`, HTTP 200.
fn error(code: i64, msg: &str) -> Response<Full<Bytes>> {
    json(StatusCode::OK, to_json(&ErrorBody { code, msg }))
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    let body = NotFoundBody {
        timestamp: timestamp(OffsetDateTime::now_utc()),
        status: 404,
        error: "Not Found",
        path,
    };
    json(StatusCode::NOT_FOUND, to_json(&body))
}

fn to_json(body: &impl Serialize) -> Vec<u8> {
    // Serialising these plain structs cannot fail; the fallback only keeps the body JSON.
    serde_json::to_vec(body)
        .unwrap_or_else(|_| r#"{"code":10,"msg":"系统异常"}"#.as_bytes().to_vec())
}

/// Jackson's default rendering of a `java.util.Date`: `2025-08-26T04:00:00.000+00:00`.
fn timestamp(now: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    now.format(&format).unwrap_or_default()
}
