//! The payer's browser coming back (lifecycle.md §7), on `GET /jeepay/return/<token>`: DaxPay
//! appends its own parameters to whatever return URL it is given, so it gets this query-less
//! one. The order is read again with a signed query, and the browser is redirected (302) to the
//! merchant's return URL with the Jeepay-signed query fields, as Jeepay does. An epay order's
//! browser is answered as the epay gateway answers it (`super::epay_return`).

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

use super::epay_return::{self, EpayReturn};
use super::intake::{owner, read_pay};
use super::jobs::epay_paid;
use super::now_ms;
use crate::dialect::jeepay::notification::return_location;
use crate::dialect::jeepay::ops::JeepayOp;
use crate::dispatch::Dialect;
use crate::domain::ops::PayQuery;
use crate::domain::order::OrderRef;
use crate::proxy::runtime::Runtime;

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
    let back = row.return_url.as_deref().ok_or(StatusCode::NOT_FOUND)?;
    let (merchant, upstream) =
        owner(rt, &row.mch_no, &row.app_id, &row.upstream).map_err(|_| StatusCode::NOT_FOUND)?;
    let biz = merchant.daxpay.number(&row.mch_order_no);
    let mut order = read_pay(rt, &merchant, &upstream, &biz)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if order.biz_order_no != biz {
        return Err(StatusCode::NOT_FOUND);
    }
    if merchant.dialect == Dialect::Epay {
        let kept = store
            .dialect_order(&row.mch_no, &row.mch_order_no)
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
            .ok_or(StatusCode::NOT_FOUND)?;
        let (paid, signing) = epay_paid(&merchant, &row, &order, &kept);
        let platform = rt.config.epay.platform_key.clone();
        return Ok(Back::Epay(epay_return::decide(
            Some(back),
            epay_return::standing(&order),
            &paid,
            signing,
            (merchant.secret.expose(), platform.as_deref()),
            now_ms(),
        )));
    }
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

fn page(status: StatusCode, words: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(words)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
