//! A stand-in for a merchant's legacy 彩虹易支付 ("epay") gateway, V1, as build 3094 serves it
//! (`protocols/epay.md` §6): `mapi.php`, `submit.php`, `api.php?act=order` and
//! `api.php?act=refund`, on the legacy sandbox's listener beside Jeepay's paths.
//!
//! paybridge passes the requests of epay merchants not yet migrated through to their old
//! gateway byte for byte, and falls back to it for orders DaxPay does not know; tests of both
//! need a gateway that answers with epay's own codes and texts, in epay's check order:
//! "order does not exist" (`订单号不存在`, `当前订单不存在！`) for an order it does not know,
//! the order's fields for one it does. Written from epay.md only, with its own MD5 signer
//! ([`crate::sign::epay`], pinned by §15's vectors) and PHP's readings ([`php`]).
//!
//! Choices where builds differ (epay.md §1): build 3094 throughout: `mapi.php` reads the POST
//! body only, signature failures are code -3 `缺少签名参数` / `MD5签名校验失败`, whitespace-only
//! values are not signed, refunds are cumulative, `bill_trade_no` is in the query answer.
//! V2 ([`v2`]: `/api/pay/create|query|refund|refundquery|close`; any other `/api/<class>/<method>`
//! carrying `pid` answers `接口方法不存在`) is served when the section has
//! `epay_platform_private_key`. Not modelled: operator policies (real-name, domain whitelist,
//! blocked words, limits), the 10-day window on repeated `out_trade_no` (every order here is
//! recent), V2's `submit` page, merchants' `keytype` (RSA only).

mod api;
mod pay;
pub(crate) mod php;
mod v2;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;
use time::{OffsetDateTime, UtcOffset};

use super::lock;
use crate::config::{EpayMerchant, EpayOrder};
use crate::sign::epay::RsaSigner;

pub(crate) const MAPI_PATH: &str = "/mapi.php";
pub(crate) const SUBMIT_PATH: &str = "/submit.php";
pub(crate) const API_PATH: &str = "/api.php";

/// `application/json; charset=UTF-8`, the header of `mapi.php` and `api.php`.
const JSON_UTF8: &str = "application/json; charset=UTF-8";
const HTML_UTF8: &str = "text/html; charset=UTF-8";

/// The V2 paths' prefix (`/api/pay/<method>`).
const V2_PREFIX: &str = "/api/pay/";

impl EpayState {
    /// `true` for the requests the epay gateway serves: its V1 paths, and with a platform key
    /// its V2 paths; `/api/pay/query` and `/api/pay/close` are Jeepay's too, and epay's when
    /// the form body carries `pid` (what epay reads; Jeepay's requests never do).
    ///
    /// Any other `/api/<class>/<method>` with `pid` in its form body is an epay V2 call to a
    /// method this gateway does not have (`ApiHelper::load_api`: `接口方法不存在`); without
    /// `pid` it is left to the Jeepay side (a Jeepay gateway answers it Spring's 404).
    pub(crate) fn serves(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        if matches!(path, MAPI_PATH | SUBMIT_PATH | API_PATH) {
            return true;
        }
        if self.platform_key.is_none() {
            return false;
        }
        let has_pid = || is_form(headers) && php::Params::parse(body).has("pid");
        match path.strip_prefix(V2_PREFIX) {
            Some("query" | "close") => has_pid(),
            Some(method) if v2::METHODS.contains(&method) => true,
            _ => v2::api_route(path).is_some() && has_pid(),
        }
    }
}

/// A refund made through `api.php?act=refund`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpayRefund {
    pub refund_no: String,
    /// The merchant's number (V2 `out_refund_no`); the `refund_no` when none was given.
    pub out_refund_no: String,
    pub trade_no: String,
    pub out_trade_no: String,
    pub pid: u64,
    pub money_fen: u64,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8 (also its `endtime`: refunds finish at once).
    pub addtime: String,
}

/// The epay gateway's state: merchants, orders, refunds.
pub(crate) struct EpayState {
    merchants: Vec<EpayMerchant>,
    /// V2's platform key; V2 is served only with one.
    platform_key: Option<Arc<RsaSigner>>,
    pub(crate) orders: Mutex<Vec<EpayOrder>>,
    pub(crate) refunds: Mutex<Vec<EpayRefund>>,
    numbers: AtomicU64,
}

impl EpayState {
    pub(crate) fn new(
        merchants: Vec<EpayMerchant>,
        orders: Vec<EpayOrder>,
        platform_key: Option<Arc<RsaSigner>>,
    ) -> Self {
        EpayState {
            merchants,
            platform_key,
            orders: Mutex::new(orders),
            refunds: Mutex::new(Vec::new()),
            numbers: AtomicU64::new(0),
        }
    }

    fn merchant(&self, pid: u64) -> Option<&EpayMerchant> {
        self.merchants.iter().find(|m| m.pid == pid)
    }

    /// `date("YmdHis")` (UTC+8) and five digits: 19 digits, unique within this sandbox.
    fn number(&self) -> String {
        let n = self.numbers.fetch_add(1, Ordering::Relaxed);
        let stamp = now_in_shanghai().format(DIGITS).unwrap_or_default();
        format!("{stamp}{}", 11111 + n % 88889)
    }

    /// Marks an order paid now (status 1, `endtime` set), as the channel's notice would.
    pub(crate) fn mark_paid(&self, trade_no: &str) -> bool {
        let mut orders = lock(&self.orders);
        let Some(order) = orders.iter_mut().find(|o| o.trade_no == trade_no) else {
            return false;
        };
        order.status = 1;
        order.endtime = Some(epay_now());
        true
    }

    /// Serves one request on an epay path.
    pub(crate) fn handle(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Response<Full<Bytes>> {
        let post = if method == Method::POST && is_form(headers) {
            php::Params::parse(body)
        } else {
            php::Params::default()
        };
        let get = php::Params::parse(query.unwrap_or_default().as_bytes());
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        match path {
            MAPI_PATH => self.mapi(&post, host),
            SUBMIT_PATH => self.submit(&get, &post, host),
            API_PATH => self.api(&get, &post),
            _ => match path.strip_prefix(V2_PREFIX) {
                Some(method) if v2::METHODS.contains(&method) => self.v2(method, &post, host),
                _ => v2::no_such_method(),
            },
        }
    }
}

/// PHP fills `$_POST` from form bodies only (§2); JSON bodies read as no parameters.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

const DIGITS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day][hour][minute][second]");

const WALL_CLOCK: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

fn now_in_shanghai() -> OffsetDateTime {
    let offset = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::now_utc().to_offset(offset)
}

/// Now as epay writes times: `YYYY-MM-DD HH:MM:SS` in UTC+8.
pub(crate) fn epay_now() -> String {
    now_in_shanghai().format(WALL_CLOCK).unwrap_or_default()
}

fn respond(content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json(body: String) -> Response<Full<Bytes>> {
    respond(JSON_UTF8, body)
}

fn html(body: String) -> Response<Full<Bytes>> {
    respond(HTML_UTF8, body)
}

/// The gateway's `sysmsg()` page: `<h3>站点提示信息</h3>` and the message (§2). The markup
/// around them is this sandbox's; the texts are epay's.
fn sysmsg(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>站点提示信息</title></head>\
         <body><div class=\"container\"><h3>站点提示信息</h3><div>{message}</div></div></body></html>"
    )
}
