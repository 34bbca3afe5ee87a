//! The cashier: `submit.php` / `/api/pay/submit` without `type` (epay.md §6.1; V2Board and
//! Xboard send none unless their operator sets one, §14). The gateway records the order and sends
//! the payer to its `cashier.php`, which lists the pay types the merchant may use; the payer's
//! pick goes to `submit2.php` by the order's `trade_no` (G3094 `lib/api/Pay.php` `submit`,
//! `cashier.php`, `submit2.php`).
//!
//! paybridge makes no order before a way code is known (DaxPay's order needs its channel), so its
//! cashier is a page that sends the merchant's request back to the same endpoint with the payer's
//! pick added:
//!
//! - The merchant's parameters go back **as received** (hidden fields, each value as it was
//!   decoded, `sign` included) and are verified as any request is: the payer cannot change
//!   one of them without the signature failing.
//! - The payer's pick travels as [`PAYER_TYPE`] (`__paytype`), which `read_params` takes out of
//!   the parameters before anything else sees them, as the gateway takes out its own
//!   `__defend` before verifying: it is the one thing added, it is never signed, and it counts
//!   only where the merchant left `type` empty (a signed `type` always wins). Only a page
//!   endpoint reads it; elsewhere it is an ordinary (signed) parameter.
//! - The page offers the types this merchant's table maps to a DaxPay route for the payer's
//!   browser (as `submit.php` would decide with that `type`), in the gateway's order (its
//!   `pre_type` rows), WeChat first inside WeChat's browser as `cashier.php` does. A pick the
//!   page did not offer is read as any `type`: `支付方式(type)不存在`.
//!
//! The page is answered before anything is sent and without touching the order store, so a
//! repeated `out_trade_no` is judged when the payer picks (the gateway judges it before showing
//! its cashier). A V2 page keeps its `timestamp`: the pick must come within epay's ±300 s.
//! The form is posted (`application/x-www-form-urlencoded`) to the endpoint's URL relative to
//! the page (`submit.php`, `submit`: a path prefix in front of paybridge stays); a value with a line break would be
//! sent back with CRLF line breaks by the browser (HTML's form encoding), and fail the signature.

use super::php;
use super::request::{Endpoint, EpayRequest};
use crate::domain::Failure;

/// The parameter carrying the payer's pick.
pub const PAYER_TYPE: &str = "__paytype";

/// The code of the [`Failure::InDialect`] that carries the page: answered as the page itself
/// (`failure::render`), never as a refusal. Nothing else uses it.
pub const PAGE_CODE: i64 = i64::MIN;

/// The gateway's seeded pay types (`install.sql` `pre_type`), in its order, with their names.
pub const TYPES: [(&str, &str); 6] = [
    ("alipay", "支付宝"),
    ("wxpay", "微信支付"),
    ("qqpay", "QQ钱包"),
    ("bank", "网银支付"),
    ("jdpay", "京东支付"),
    ("paypal", "PayPal"),
];

/// The name a payer sees for `pay_type`.
pub fn label(pay_type: &str) -> &str {
    TYPES
        .iter()
        .find(|(t, _)| *t == pay_type)
        .map_or(pay_type, |(_, l)| l)
}

/// The cashier for `request` offering `offered` (type names, in order), as the failure that
/// carries it to the answer. `money`, `name`: as the payer should see them.
pub fn page(request: &EpayRequest, offered: &[String], money: &str, name: &str) -> Failure {
    Failure::InDialect {
        code: PAGE_CODE,
        msg: html(request, offered, money, name),
    }
}

/// Whether `failure` is a cashier page.
pub fn is_page(failure: &Failure) -> Option<&str> {
    match failure {
        Failure::InDialect { code, msg } if *code == PAGE_CODE => Some(msg),
        _ => None,
    }
}

/// The types to offer, in the gateway's order (`inside_wechat`: `wxpay` first), from
/// `candidates` (the gateway's types and the merchant's own), those `usable` says a page can
/// pay with.
pub fn offered(
    candidates: &[String],
    inside_wechat: bool,
    usable: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut offered: Vec<String> = Vec::new();
    for t in candidates {
        if !offered.contains(t) && usable(t) {
            offered.push(t.clone());
        }
    }
    if inside_wechat {
        if let Some(at) = offered.iter().position(|t| t == "wxpay") {
            let wx = offered.remove(at);
            offered.insert(0, wx);
        }
    }
    offered
}

fn html(request: &EpayRequest, offered: &[String], money: &str, name: &str) -> String {
    // Relative to the page's own URL (the same endpoint), so that it holds under a
    // `public_url` with a path prefix (`https://pay.example/epay/submit.php`); never an empty
    // action, which would post to the URL with its query string (whose `pid` wins over the body).
    let action = match request.endpoint {
        Endpoint::V2Submit => "submit",
        _ => "submit.php",
    };
    let sitename = request.given("sitename").unwrap_or("收银台");
    let mut hidden = String::new();
    for (key, value) in &request.params {
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            php::html(key),
            php::html(value)
        ));
    }
    let buttons: String = if offered.is_empty() {
        "<p>当前没有可用的支付方式</p>\n".to_owned()
    } else {
        offered
            .iter()
            .map(|t| {
                format!(
                    "<button type=\"submit\" name=\"{PAYER_TYPE}\" value=\"{}\">{}</button>\n",
                    php::html(t),
                    php::html(label(t))
                )
            })
            .collect()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n\
         <title>收银台 | {}</title>\n{STYLE}</head>\n<body>\n<h3>收银台</h3>\n\
         <p>商品名称：{}</p>\n<p>订单金额：<strong>{}</strong> 元</p>\n<h4>支付方式</h4>\n\
         <form method=\"post\" action=\"{action}\">\n{hidden}{buttons}</form>\n</body>\n</html>",
        php::html(sitename),
        php::html(name),
        php::html(money),
    )
}

const STYLE: &str =
    "<style type=\"text/css\">html{background:#f9f9f9}body{background:#fff;color:#333;\
font-family:\"微软雅黑\",\"Microsoft YaHei\",sans-serif;margin:2em auto;padding:1em 2em;\
max-width:700px}h3{text-align:center}button{display:block;width:100%;margin:.5em 0;\
padding:.8em;font-size:1.1em}</style>\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn request(params: &[(&str, &str)]) -> EpayRequest {
        EpayRequest::new(
            Endpoint::Submit,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn the_merchants_parameters_go_back_as_received_and_escaped() {
        let r = request(&[("pid", "1001"), ("name", "A&B\"<x>"), ("sign", "abc")]);
        let offered = vec!["alipay".to_owned(), "wxpay".to_owned()];
        let failure = page(&r, &offered, "1.00", "A&B\"<x>");
        let html = is_page(&failure).unwrap();
        assert!(
            html.contains(r#"<input type="hidden" name="name" value="A&amp;B&quot;&lt;x&gt;">"#)
        );
        assert!(html.contains(r#"<input type="hidden" name="sign" value="abc">"#));
        assert!(html
            .contains(r#"<button type="submit" name="__paytype" value="alipay">支付宝</button>"#));
        assert!(html.contains(r#"action="submit.php""#));
        assert!(!html.contains("<script"));
        assert!(is_page(&Failure::InDialect {
            code: -1,
            msg: "x".into()
        })
        .is_none());
    }

    #[test]
    fn offered_in_the_gateways_order_wechat_first_inside_wechat() {
        let candidates: Vec<String> = ["alipay", "wxpay", "qqpay", "alipay"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let usable = |t: &str| t != "qqpay";
        assert_eq!(offered(&candidates, false, usable), ["alipay", "wxpay"]);
        assert_eq!(offered(&candidates, true, usable), ["wxpay", "alipay"]);
    }
}
