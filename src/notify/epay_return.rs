//! Where an epay payer's browser goes when it comes back (epay.md §12; build 3094's
//! `Payment::processReturn` and `getshop.php`), decided from the order DaxPay says it is:
//!
//! - paid within the last 5 minutes: the merchant's `return_url` with the notification's query
//!   appended (the same parameters and signature; a V2 order's with a fresh `timestamp`);
//! - paid earlier than that: no redirect, the gateway's "payment done" page ("支付完成5分钟后禁止
//!   跳转回网站": a stale link must not replay the signed parameters);
//! - refunded (G3094: any refund): the gateway's "refunded" page;
//! - not paid: a waiting page that looks again by itself (the gateway sends an unpaid order
//!   nowhere; paybridge's own return URL is where DaxPay sends the payer, possibly before its
//!   callback); an order that ended unpaid (closed, failed): a page saying so.
//!
//! The gateway redirects with a script page (`window.location.href=atob(…)`); paybridge answers
//! `302 Found` with the same URL (no script needed; the browser lands on the same address).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use super::jobs::EpaySigning;
use crate::dialect::epay::answer::WAITING_MARK;
use crate::dialect::epay::notification::{append_query, http_build_query, signed_v2, PaidOrder};
use crate::dialect::epay::sign::RsaSigner;
use crate::dialect::epay::state;
use crate::domain::order::{PayOrder, PayStatus};

/// How long after the payment the browser is still sent back with the signed parameters.
pub const RETURN_WINDOW_MS: i64 = 5 * 60 * 1000;

/// How often the waiting page looks again, in seconds.
const WAIT_REFRESH_SECS: u32 = 3;

/// What the order DaxPay holds says, for the return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not paid (yet).
    Unpaid,
    /// Ended without payment (closed, cancelled, failed, timed out).
    Ended,
    /// Paid, at this time if known (epoch ms).
    Paid { at_ms: Option<i64> },
    /// Paid, then refunded (in part or in full).
    Refunded,
}

/// Where DaxPay's verified record `order` leaves the payer, in epay's states (`status` 2 after
/// any refund, 1 paid, 0 otherwise: `dialect::epay::state`).
pub fn standing(order: &PayOrder) -> Standing {
    match state::pay_status(order.status, order.refund_status) {
        2 => Standing::Refunded,
        1 => Standing::Paid {
            at_ms: order.paid_at_ms,
        },
        _ if matches!(order.status, PayStatus::Wait | PayStatus::Progress) => Standing::Unpaid,
        _ => Standing::Ended,
    }
}

/// The browser's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpayReturn {
    /// `302` to this URL.
    Redirect(String),
    /// The payment is done, nothing to go back to (`payok`).
    PaidPage,
    /// The order was refunded (`payerr`).
    RefundedPage,
    /// Not paid yet: look again shortly.
    Waiting,
    /// Not paid yet, and this page is where the payer pays (epay's jump page for QR content:
    /// `returning::pay_page`): the QR page, marked as waiting, as it is.
    PayPage(String),
    /// Ended without payment: nothing to wait for.
    UnpaidPage,
    /// A V2 order, but no platform key to sign its parameters with.
    Unsignable,
}

/// The return for an order that stands as `standing`, whose notification is `paid` signed as
/// `signing` (`key`: the merchant's MD5 key; `platform`: the platform key for V2), at `now_ms`.
pub fn decide(
    return_url: Option<&str>,
    standing: Standing,
    paid: &PaidOrder,
    signing: EpaySigning,
    (key, platform): (&str, Option<&RsaSigner>),
    now_ms: i64,
) -> EpayReturn {
    let at_ms = match standing {
        Standing::Unpaid => return EpayReturn::Waiting,
        Standing::Ended => return EpayReturn::UnpaidPage,
        Standing::Refunded => return EpayReturn::RefundedPage,
        Standing::Paid { at_ms } => at_ms,
    };
    // An unknown payment time counts as now: DaxPay just said it is paid.
    if at_ms.is_some_and(|at| now_ms.saturating_sub(at) > RETURN_WINDOW_MS) {
        return EpayReturn::PaidPage;
    }
    let Some(url) = return_url.filter(|u| !u.is_empty()) else {
        return EpayReturn::PaidPage;
    };
    let pairs = match signing {
        EpaySigning::V1Md5 => paid.v1_signed(key),
        EpaySigning::V2Rsa => match platform {
            Some(platform) => signed_v2(paid.v2_unsigned(), now_ms.div_euclid(1000), platform),
            None => return EpayReturn::Unsignable,
        },
    };
    EpayReturn::Redirect(append_query(url, &http_build_query(&pairs)))
}

/// The HTTP answer for `decision`.
pub fn render(decision: EpayReturn) -> Response<Full<Bytes>> {
    match decision {
        EpayReturn::Redirect(url) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut response = page(StatusCode::FOUND, "支付成功，正在跳转请稍候...", "");
                response.headers_mut().insert(header::LOCATION, location);
                response
            }
            Err(_) => page(StatusCode::OK, "支付成功，请回到网站查看订单", ""),
        },
        EpayReturn::PaidPage => page(StatusCode::OK, "支付成功，请回到网站查看订单", ""),
        EpayReturn::RefundedPage => page(StatusCode::OK, "该订单处理异常，已自动退款！", ""),
        // Marked, for the QR page's poll to tell it from a final answer.
        EpayReturn::Waiting => page(
            StatusCode::OK,
            "订单尚未支付，正在等待支付结果...",
            &format!("<meta http-equiv=\"refresh\" content=\"{WAIT_REFRESH_SECS}\">{WAITING_MARK}"),
        ),
        EpayReturn::PayPage(html) => {
            let mut response = Response::new(Full::new(Bytes::from(html)));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        EpayReturn::UnpaidPage => page(StatusCode::OK, "订单未支付", ""),
        EpayReturn::Unsignable => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "支付结果暂不可用，请稍后查询订单",
            "",
        ),
    }
}

/// A small HTML page saying `words` (fixed texts only: nothing from the request is echoed).
fn page(status: StatusCode, words: &str, head: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">{head}<title>支付结果</title></head>\
         <body><p>{words}</p></body></html>"
    );
    let mut response = Response::new(Full::new(Bytes::from(html)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::notification::parse_query;

    const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";
    const NOW: i64 = 1_721_206_100_000;

    fn order() -> PaidOrder {
        PaidOrder {
            pid: "1001".to_owned(),
            trade_no: "2024070112000012345".to_owned(),
            out_trade_no: "20160806151343349".to_owned(),
            pay_type: "alipay".to_owned(),
            name: "VIP会员 A&amp;B".to_owned(),
            money_fen: 150,
            param: Some("uid=7&amp;from=app".to_owned()),
            api_trade_no: Some("2024".to_owned()),
            buyer: None,
        }
    }

    fn decide_v1(url: Option<&str>, standing: Standing) -> EpayReturn {
        decide(
            url,
            standing,
            &order(),
            EpaySigning::V1Md5,
            (KEY, None),
            NOW,
        )
    }

    #[test]
    fn paid_within_five_minutes_goes_back_with_the_notifications_query() {
        let back = decide_v1(
            Some("https://shop.example.com/return.php?x=1"),
            Standing::Paid {
                at_ms: Some(NOW - RETURN_WINDOW_MS),
            },
        );
        // epay.md §15 E7: the return URL carries the notification's query after its own.
        assert_eq!(
            back,
            EpayReturn::Redirect(
                "https://shop.example.com/return.php?x=1&pid=1001&trade_no=2024070112000012345\
                 &out_trade_no=20160806151343349&type=alipay&name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB\
                 &money=1.5&trade_status=TRADE_SUCCESS&param=uid%3D7%26amp%3Bfrom%3Dapp\
                 &sign=a872b215c2dbd68864aaa2a8b94b167b&sign_type=MD5"
                    .to_owned()
            )
        );
        assert!(matches!(
            decide_v1(Some("https://m/r"), Standing::Paid { at_ms: None }),
            EpayReturn::Redirect(_)
        ));
    }

    #[test]
    fn later_refunded_unpaid_or_without_a_url_get_a_page() {
        let url = Some("https://m/r");
        let stale = Standing::Paid {
            at_ms: Some(NOW - RETURN_WINDOW_MS - 1),
        };
        assert_eq!(decide_v1(url, stale), EpayReturn::PaidPage);
        assert_eq!(decide_v1(url, Standing::Refunded), EpayReturn::RefundedPage);
        assert_eq!(decide_v1(url, Standing::Unpaid), EpayReturn::Waiting);
        assert_eq!(decide_v1(url, Standing::Ended), EpayReturn::UnpaidPage);
        assert_eq!(
            decide_v1(None, Standing::Paid { at_ms: Some(NOW) }),
            EpayReturn::PaidPage
        );
    }

    #[test]
    fn a_v2_return_is_signed_now_with_the_platform_key() {
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../../vectors/derived/epay.json")).unwrap();
        let platform = RsaSigner::from_text(json["rsa_private_key"].as_str().unwrap()).unwrap();
        let paid = Standing::Paid { at_ms: Some(NOW) };
        let EpayReturn::Redirect(url) = decide(
            Some("https://m/r"),
            paid,
            &order(),
            EpaySigning::V2Rsa,
            (KEY, Some(&platform)),
            NOW,
        ) else {
            panic!("a redirect");
        };
        let params = parse_query(url.split_once('?').unwrap().1);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("timestamp"), Some("1721206100"));
        assert_eq!(
            (get("sign_type"), get("api_trade_no")),
            (Some("RSA"), Some("2024"))
        );
        let without_key = decide(
            Some("https://m/r"),
            paid,
            &order(),
            EpaySigning::V2Rsa,
            (KEY, None),
            NOW,
        );
        assert_eq!(without_key, EpayReturn::Unsignable);
    }

    #[test]
    fn pages_are_html_and_not_cached() {
        let r = render(EpayReturn::Redirect("https://m/r?a=1".to_owned()));
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[header::LOCATION], "https://m/r?a=1");
        let w = render(EpayReturn::Waiting);
        assert_eq!(w.status(), StatusCode::OK);
        let body = |r: Response<Full<Bytes>>| {
            use hyper::body::Body as _;
            let mut body = r.into_body();
            let frame = std::pin::Pin::new(&mut body)
                .poll_frame(&mut std::task::Context::from_waker(std::task::Waker::noop()));
            match frame {
                std::task::Poll::Ready(Some(Ok(f))) => f.into_data().unwrap_or_default(),
                _ => Bytes::new(),
            }
        };
        let waiting = body(render(EpayReturn::Waiting));
        assert!(std::str::from_utf8(&waiting)
            .unwrap()
            .contains(WAITING_MARK));
        let done = body(render(EpayReturn::PaidPage));
        assert!(!std::str::from_utf8(&done).unwrap().contains(WAITING_MARK));
        assert_eq!(w.headers()[header::CACHE_CONTROL], "no-store");
    }
}
