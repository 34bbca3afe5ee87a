//! The payer's browser coming back (lifecycle.md §7), on `GET /jeepay/return/<token>`: DaxPay
//! appends its own parameters to whatever return URL it is given, so it gets this query-less
//! one. The order is read again with a signed query, and the browser is redirected (302) to the
//! merchant's return URL with the Jeepay-signed query fields, as Jeepay does. An epay order's
//! browser is answered as the epay gateway answers it (`super::epay_return`); while such an
//! order is unpaid and what the payer needs is a QR code, this URL is the gateway's own page for
//! it (epay's `jump` answers it: `dialect::epay::ways`), so it shows the code.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

use super::epay_return::{self, EpayReturn};
use super::intake::{owner, read_pay};
use super::jobs::epay_paid;
use super::now_ms;
use crate::config::Merchant;
use crate::dialect::epay::answer::{qrcode_page, WAITING_MARK};
use crate::dialect::epay::money;
use crate::dialect::jeepay::notification::return_location;
use crate::dialect::jeepay::ops::JeepayOp;
use crate::dispatch::Dialect;
use crate::domain::ops::PayQuery;
use crate::domain::order::Fen;
use crate::domain::order::OrderRef;
use crate::domain::way_code::PayData;
use crate::proxy::runtime::Runtime;
use crate::store::dialect_orders::DialectOrder;
use crate::store::PayRow;

/// The redirect for the order with `token`; a page saying what went wrong otherwise.
pub async fn redirect(rt: &Runtime, token: &str) -> Response<Full<Bytes>> {
    match location(rt, token).await {
        Ok(Back::Epay(decision)) => epay_return::render(decision),
        Ok(Back::Jeepay(location)) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::FOUND;
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
                return response;
            }
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "支付结果暂不可用，请稍后查询订单",
            )
        }
        Err(status) => page(
            status,
            if status == StatusCode::NOT_FOUND {
                "订单不存在"
            } else {
                "支付结果暂不可用，请稍后查询订单"
            },
        ),
    }
}

/// Where the browser goes, in the order's dialect.
enum Back {
    /// Jeepay: a 302 to this location.
    Jeepay(String),
    Epay(EpayReturn),
}

async fn location(rt: &Runtime, token: &str) -> Result<Back, StatusCode> {
    let store = rt.orders.as_ref().ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
    let row = store
        .pay_by_token(token)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let back = row.return_url.as_deref();
    let (merchant, upstream) =
        owner(rt, &row.mch_no, &row.app_id, &row.upstream).map_err(|_| StatusCode::NOT_FOUND)?;
    // Jeepay has no page of paybridge's own: a row without the merchant's return URL has none,
    // and DaxPay is not asked.
    if merchant.dialect != Dialect::Epay && back.is_none() {
        return Err(StatusCode::NOT_FOUND);
    }
    let biz = merchant.daxpay.number(&row.mch_order_no);
    // Whoever holds the URL can ask as often as they like: DaxPay is asked at most once a
    // second per order, and never answers a request from a read made before it arrived.
    let mut order = rt
        .return_reads
        .read(token, || async {
            read_pay(rt, &merchant, &upstream, &biz).await.ok()
        })
        .await
        .ok_or(StatusCode::BAD_GATEWAY)?;
    if order.biz_order_no != biz {
        return Err(StatusCode::NOT_FOUND);
    }
    if merchant.dialect == Dialect::Epay {
        let kept = store
            .dialect_order(&row.mch_no, &row.mch_order_no)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
            .ok_or(StatusCode::NOT_FOUND)?;
        let standing = epay_return::standing(&order);
        if standing == epay_return::Standing::Unpaid {
            if let Some(page) = pay_page(rt, &merchant, &row, &kept, token) {
                return Ok(Back::Epay(EpayReturn::PayPage(page)));
            }
        }
        let (paid, signing) = epay_paid(&merchant, &row, &order, &kept);
        let platform = rt.config.epay.platform_key.clone();
        return Ok(Back::Epay(epay_return::decide(
            back,
            standing,
            &paid,
            signing,
            (merchant.secret.expose(), platform.as_deref()),
            now_ms(),
        )));
    }
    let back = back.ok_or(StatusCode::NOT_FOUND)?;
    order.biz_order_no = row.mch_order_no.clone();
    order.kept = Some(row.kept());
    let data = PayQuery {
        order: OrderRef::default(),
    }
    .data(&order, &merchant);
    Ok(Back::Jeepay(return_location(
        back,
        data,
        now_ms(),
        merchant.secret.expose(),
    )))
}

/// The QR page of an unpaid epay order whose payer needs a QR code (its way code's answer is
/// QR content and DaxPay gave it), polling this very URL: marked as waiting, so that its poll
/// waits on it and moves on once the answer is another.
fn pay_page(
    rt: &Runtime,
    merchant: &Merchant,
    row: &PayRow,
    kept: &DialectOrder,
    token: &str,
) -> Option<String> {
    let route = merchant
        .way_codes
        .route_in(merchant.daxpay.upstream.version().into(), &row.way_code)
        .ok()?;
    let content = kept.pay_body.as_deref().filter(|b| !b.is_empty())?;
    if route.data != PayData::CodeUrl || content.trim_start().starts_with('<') {
        return None;
    }
    let public = rt.config.server.public_url.as_deref()?;
    let (_, here) = super::relay_urls(public, token);
    let page = qrcode_page(
        &kept.pay_type,
        content,
        &money::stored(Fen(u64::try_from(row.amount_fen).ok()?)),
        &row.subject,
        Some(&here),
    );
    Some(
        page.text()
            .replacen("</head>", &format!("{WAITING_MARK}</head>"), 1),
    )
}

fn page(status: StatusCode, words: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(words)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
