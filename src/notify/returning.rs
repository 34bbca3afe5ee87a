//! The payer's browser coming back (lifecycle.md §7), on `GET /jeepay/return/<token>`: DaxPay
//! appends its own parameters to whatever return URL it is given, so it gets this query-less
//! one. The order is read again with a signed query, and the browser is redirected (302) to the
//! merchant's return URL with the Jeepay-signed query fields, as Jeepay does.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

use super::intake::read_again;
use super::now_ms;
use crate::dialect::daxpay::ops::pay_query::pay_order;
use crate::dialect::daxpay::ops::Upstream as AnswerSource;
use crate::dialect::daxpay::order_query::query_fields;
use crate::dialect::jeepay::notification::return_location;
use crate::dialect::jeepay::ops::JeepayOp;
use crate::dispatch::DaxCall;
use crate::domain::ops::PayQuery;
use crate::domain::order::{KeptPay, OrderRef};
use crate::proxy::runtime::Runtime;

/// The redirect for the order with `token`; a page saying what went wrong otherwise.
pub async fn redirect(rt: &Runtime, token: &str) -> Response<Full<Bytes>> {
    match location(rt, token).await {
        Ok(location) => {
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

async fn location(rt: &Runtime, token: &str) -> Result<String, StatusCode> {
    let store = rt.orders.as_ref().ok_or(StatusCode::SERVICE_UNAVAILABLE)?;
    let row = store
        .pay_by_token(token)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)?;
    let back = row.return_url.as_deref().ok_or(StatusCode::NOT_FOUND)?;
    let merchant = rt
        .config
        .merchants
        .lookup(&row.mch_no, &row.app_id)
        .map_err(|_| StatusCode::NOT_FOUND)?
        .clone();
    let upstream = rt
        .config
        .upstreams
        .get(&row.upstream)
        .unwrap_or(&merchant.daxpay.upstream)
        .clone();
    let prefix = merchant.daxpay.order_prefix.as_deref().unwrap_or_default();
    let biz = format!("{prefix}{}", row.mch_order_no);
    let by = OrderRef::new(None, Some(&biz));
    let data = read_again(
        rt,
        &merchant,
        &upstream,
        DaxCall::PayQuery,
        query_fields(&by, upstream.version()),
    )
    .await
    .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let source = AnswerSource {
        name: &upstream.name,
        version: upstream.version(),
        utc_offset: upstream.utc_offset,
    };
    let mut order = pay_order(&data, &source).map_err(|_| StatusCode::BAD_GATEWAY)?;
    if order.biz_order_no != biz {
        return Err(StatusCode::NOT_FOUND);
    }
    order.biz_order_no = row.mch_order_no.clone();
    order.kept = Some(KeptPay {
        way_code: row.way_code.clone(),
        currency: row.currency.clone(),
        client_ip: row.client_ip.clone(),
        created_at_ms: row.created_at_ms,
    });
    let data = PayQuery {
        order: OrderRef::default(),
    }
    .data(&order, &merchant);
    Ok(return_location(
        back,
        data,
        now_ms(),
        merchant.secret.expose(),
    ))
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
