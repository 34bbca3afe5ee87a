//! Pay: V1 `submit.php` (§6.1) and `mapi.php` (§6.2), V2 `/api/pay/submit` (§7.1) and
//! `/api/pay/create` (§7.2), read into the canonical [`Pay`] and answered in epay's form.
//!
//! Checks after the identity and signature ([`crate::dialect::epay::auth`]), in the gateway's
//! order and words: `out_trade_no`, `notify_url`, (`submit`: `return_url`), `name`, `money`
//! (PHP `empty()`: `"0"` is empty), (`mapi`/`create`: `type`, `clientip`), `金额不合法`, the
//! maximum, the `out_trade_no` charset, V2's `jsapi`/`scan` parameters (and `applet`'s, see
//! `read`); then paybridge's URL guards (below) and the type → way code (`支付方式(type)不存在`).
//! The gateway checks a repeated `out_trade_no` before the type; here the order store does,
//! after it. A page without `type` is answered with the cashier (`cashier.rs`), the payer's pick
//! read back from it. `device=jump` (V2 also `method=jump`) asks for a URL only: the answer is
//! `payurl` / `pay_type:"jump"` whatever the way code gives (`ways.rs`).
//!
//! paybridge's additions, each worded as epay would: the notify URL must be `http(s)://`
//! without control characters (it is where paybridge's GET goes), within the merchant's
//! `notify_hosts` (epay's own whitelist text) and not an internal address; a V1 request or a
//! page whose type maps to a way code answered with SDK parameters (app, JSAPI) is refused, as
//! V1 and a browser page have no field for them.

use super::super::answer::{self, EpayReply, Signing};
use super::super::cashier;
use super::super::money;
use super::super::php::{self, Flags, Json};
use super::super::request::{Endpoint, EndpointExt, EpayRequest, Version};
use super::super::trade_no;
use super::super::ways::{EpayWays, Situation};
use super::invalid;
use crate::config::Merchant;
use crate::domain::ops::{InDialect, Paid, Pay};
use crate::domain::order::{OrderRef, PayStatus};
use crate::domain::way_code::PayData;
use crate::domain::Failure;

/// How long DaxPay keeps an unpaid epay order open: two hours (Jeepay's default; the gateway
/// itself deletes unpaid orders after a day, channels close them sooner).
pub const EXPIRY_SECS: i64 = 7200;

/// `name` as the gateway stores it: cut to 127 bytes, then to the column's 64 characters.
pub const NAME_MAX_BYTES: usize = 127;
pub const NAME_MAX_CHARS: usize = 64;
/// `param`'s column: `varchar(255)`.
pub const PARAM_MAX_CHARS: usize = 255;

/// The name `InDialect` carries for epay.
pub const DIALECT: &str = "epay";

/// A new `trade_no` when the first is another order's (`InDialect::renew`).
pub fn renew_trade_no() -> String {
    trade_no::generate(super::super::trade_no::now_secs())
}

/// `^[a-zA-Z0-9._\-|]+$`.
fn out_trade_no_ok(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'|'))
}

/// A required parameter (PHP `empty()`), refused with the gateway's words.
fn required<'r>(
    request: &'r EpayRequest,
    name: &str,
    words: &'static str,
) -> Result<&'r str, Failure> {
    request
        .given(name)
        .ok_or_else(|| invalid("required_field", words))
}

/// The type of a payment code by its prefix (`getScanPayType`).
fn scan_type(auth_code: &str) -> Option<&'static str> {
    Some(match auth_code.get(..2)? {
        "25" | "26" | "27" | "28" | "29" | "30" => "alipay",
        "10" | "11" | "12" | "13" | "14" | "15" => "wxpay",
        "91" => "qqpay",
        "62" => "bank",
        "01" => "ecny",
        _ => return None,
    })
}

/// The notify URL: where paybridge's GET will go.
fn notify_guard(merchant: &Merchant, url: &str) -> Result<(), Failure> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid(
            "url_scheme",
            "通知地址(notify_url)仅支持http://或https://",
        ));
    }
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err(invalid(
            "url_control",
            "通知地址(notify_url)不能包含控制字符",
        ));
    }
    if !merchant.may_notify(url) {
        return Err(invalid(
            "notify_host",
            "该域名不可发起支付，原因：域名没过白，请前往支付平台授权支付域名",
        ));
    }
    if merchant.notify_url_internal(url) {
        return Err(invalid(
            "notify_internal",
            "通知地址(notify_url)不能是内部网络地址",
        ));
    }
    Ok(())
}

/// The return URL (the payer's browser goes there): no control character.
fn return_guard(url: Option<&str>) -> Result<(), Failure> {
    match url {
        Some(u) if u.chars().any(|c| c.is_ascii_control()) => Err(invalid(
            "url_control",
            "回调地址(return_url)不能包含控制字符",
        )),
        _ => Ok(()),
    }
}

/// Reads a pay request whose identity and signature verified. `now`: Unix seconds (the
/// `trade_no`'s time).
pub fn read(
    request: &EpayRequest,
    merchant: &Merchant,
    ways: &EpayWays<'_>,
    now: i64,
) -> Result<Pay, Failure> {
    let endpoint = request.endpoint;
    let page = endpoint.is_page();
    let method = request.field("method");
    let scan = endpoint == Endpoint::V2Create && method == "scan";
    let out_trade_no = required(request, "out_trade_no", "订单号(out_trade_no)不能为空")?;
    let notify_url = required(request, "notify_url", "通知地址(notify_url)不能为空")?;
    let return_url = request.given("return_url");
    if page && return_url.is_none() {
        return Err(invalid("required_field", "回调地址(return_url)不能为空"));
    }
    let name = required(request, "name", "商品名称(name)不能为空")?;
    if php::empty(request.get("money")) {
        return Err(invalid("required_field", "金额(money)不能为空"));
    }
    let mut pay_type = request.given("type").map(str::to_owned);
    if !page && !scan && pay_type.is_none() {
        return Err(invalid("required_field", "支付方式(type)不能为空"));
    }
    let client_ip = if page {
        request.peer.map(|ip| ip.to_string())
    } else {
        Some(required(request, "clientip", "用户IP地址(clientip)不能为空")?.to_owned())
    };
    let amount = money::pay_money(request.get("money"))
        .map_err(|e| invalid("amount", money::pay_words(e)))?;
    if !out_trade_no_ok(out_trade_no) {
        return Err(invalid("out_trade_no", "订单号(out_trade_no)格式不正确"));
    }
    let situation = situation(request, method);
    let (mut open_id, mut buyer_id, mut auth_code) = (None, None, None);
    if situation == Situation::Jsapi {
        let sub_openid = required(request, "sub_openid", "jsapi支付时参数(sub_openid)不能为空")?;
        if pay_type.as_deref() == Some("wxpay") {
            required(request, "sub_appid", "jsapi支付时参数(sub_appid)不能为空")?;
            open_id = Some(sub_openid.to_owned());
        } else {
            buyer_id = Some(sub_openid.to_owned());
        }
    }
    if situation == Situation::Applet {
        // The gateway's channels pay a mini program through their own plugin (`wxplugin`),
        // which needs nothing of the payer; DaxPay's (`WX_LITE`, `ALI_LITE`) need the payer's
        // id in the mini program, as jsapi does: asked for in the gateway's jsapi words.
        let sub_openid = required(
            request,
            "sub_openid",
            "applet支付时参数(sub_openid)不能为空",
        )?;
        match pay_type.as_deref() {
            Some("wxpay") => open_id = Some(sub_openid.to_owned()),
            _ => buyer_id = Some(sub_openid.to_owned()),
        }
    }
    if scan {
        let code = required(
            request,
            "auth_code",
            "付款码支付时授权码(auth_code)不能为空",
        )?;
        if pay_type.is_none() {
            let guessed =
                scan_type(code).ok_or_else(|| invalid("auth_code", "未知的付款码类型"))?;
            pay_type = Some(guessed.to_owned());
        }
        auth_code = Some(code.to_owned());
    }
    notify_guard(merchant, notify_url)?;
    return_guard(return_url)?;
    let name = php::chars(php::strcut(name, NAME_MAX_BYTES), NAME_MAX_CHARS).to_owned();
    // A page without `type`: the payer picks on the cashier (`cashier.rs`); the pick counts
    // only where the merchant signed no `type`.
    let pay_type = match (pay_type, &request.payer_type) {
        (Some(merchants), _) => merchants,
        (None, Some(payers)) if !payers.is_empty() => payers.clone(),
        (None, _) => {
            let mut candidates: Vec<String> = cashier::TYPES
                .iter()
                .map(|(t, _)| (*t).to_owned())
                .collect();
            candidates.extend(ways.own_types());
            let inside_wechat = situation == Situation::Wechat;
            let offered = cashier::offered(&candidates, inside_wechat, |t| {
                way_for(merchant, ways, t, situation, request).is_ok()
            });
            let money = money::stored(amount);
            return Err(cashier::page(request, &offered, &money, &name));
        }
    };
    let (way_code, route) = way_for(merchant, ways, &pay_type, situation, request)?;
    let param = request
        .given("param")
        .map(|p| php::chars(p, PARAM_MAX_CHARS).to_owned());
    Ok(Pay {
        order: OrderRef::new(None, Some(out_trade_no)),
        mch_order_no: out_trade_no.to_owned(),
        way_code,
        route,
        amount,
        currency: "cny".to_owned(),
        subject: name.clone(),
        body: name,
        client_ip,
        notify_url: Some(notify_url.to_owned()),
        return_url: return_url.map(str::to_owned),
        expires_in_secs: EXPIRY_SECS,
        ext_param: param,
        division_mode: 0,
        auth_code,
        open_id,
        sub_open_id: false,
        buyer_id,
        upstream_text: Default::default(),
        relay: crate::domain::ops::pay::Relay {
            pay_page: asks_for_jump(request),
            ..Default::default()
        },
        in_dialect: Some(InDialect {
            dialect: DIALECT,
            trade_no: trade_no::generate(now),
            renew: renew_trade_no,
            origin: endpoint.version().as_str(),
            pay_type,
        }),
    })
}

/// Whether the request asks for a URL only (`mapi.php` `device=jump`, V2 `/api/pay/create`
/// `method=jump` or `device=jump`, as `Pay.php` turns the one into the other): answered
/// `payurl` / `pay_type:"jump"` whatever the way code gives (epay.md §6.2, §8). A page
/// (`submit.php`, `/api/pay/submit`) has no such answer.
pub fn asks_for_jump(request: &EpayRequest) -> bool {
    !request.endpoint.is_page()
        && (request.field("device") == "jump"
            || (request.version() == Version::V2 && request.field("method") == "jump"))
}

/// The way code and DaxPay route for `pay_type` in `situation`, if the request's endpoint can
/// answer what it gives: a way code answered with SDK parameters (app, JSAPI) has no field on
/// V1 nor on a page.
fn way_for(
    merchant: &Merchant,
    ways: &EpayWays<'_>,
    pay_type: &str,
    situation: Situation,
    request: &EpayRequest,
) -> Result<(String, crate::domain::way_code::PayRoute), Failure> {
    let way_code = ways
        .way_code(pay_type, situation)
        .ok_or(Failure::WayCodeUnsupported)?
        .to_owned();
    let route = merchant
        .way_codes
        .route_in(merchant.daxpay.upstream.version().into(), &way_code)?;
    let sdk_answer = matches!(
        route.data,
        PayData::AliApp | PayData::AliTradeNo | PayData::WxApp | PayData::WxAppRekeyed
    );
    if sdk_answer && (request.endpoint.is_page() || request.version() == Version::V1) {
        return Err(Failure::WayCodeUnsupported);
    }
    Ok((way_code, route))
}

/// Where the payer pays: V2 `method`, else `device`, else (pages) the browser.
fn situation(request: &EpayRequest, method: &str) -> Situation {
    if asks_for_jump(request) {
        return Situation::Jump;
    }
    if request.version() == Version::V2 {
        match method {
            "jsapi" => return Situation::Jsapi,
            "app" => return Situation::App,
            "scan" => return Situation::Scan,
            "applet" => return Situation::Applet,
            _ => {}
        }
    }
    match (request.get("device"), &request.user_agent) {
        // A page's `device=jump` means nothing: the browser decides.
        (Some(device), _) if !device.is_empty() && device != "jump" => Situation::of_device(device),
        (_, Some(agent)) if request.endpoint.is_page() => Situation::of_user_agent(agent),
        _ => Situation::Pc,
    }
}

/// What DaxPay gave the payer in epay's terms: (V1 key, V2 `pay_type`, the value). `jump`:
/// the request asked for a URL only ([`asks_for_jump`]): whatever is not a page is `payurl`.
fn pay_info(pay: &Pay, paid: &Paid, jump: bool) -> Option<(&'static str, &'static str, String)> {
    let body = paid.pay_body.as_deref().filter(|b| !b.is_empty())?;
    let info = pay_info_of(pay, body)?;
    Some(match info {
        (_, "html", _) => info,
        // QR content: the gateway's page for it, paybridge's return URL (the code while unpaid,
        // the merchant once paid); without one (no `public_url`), the content itself.
        (_, "qrcode", _) if jump && pay.relay.return_url.is_some() => {
            ("payurl", "jump", pay.relay.return_url.clone()?)
        }
        (_, _, value) if jump => ("payurl", "jump", value),
        _ => info,
    })
}

fn pay_info_of(pay: &Pay, body: &str) -> Option<(&'static str, &'static str, String)> {
    Some(match pay.route.data {
        _ if body.trim_start().starts_with('<') => ("html", "html", body.to_owned()),
        PayData::Url => ("payurl", "jump", body.to_owned()),
        // The payer comes back through paybridge's return endpoint when there is one.
        PayData::WxH5 => {
            let back = pay.relay.return_url.as_ref().or(pay.return_url.as_ref());
            let url = match back {
                Some(back) => {
                    let encoded: String =
                        form_urlencoded::byte_serialize(back.as_bytes()).collect();
                    let joiner = if body.contains('?') { '&' } else { '?' };
                    format!("{body}{joiner}redirect_url={encoded}")
                }
                None => body.to_owned(),
            };
            ("payurl", "jump", url)
        }
        PayData::CodeUrl => ("qrcode", "qrcode", body.to_owned()),
        PayData::AliApp | PayData::WxAppRekeyed => ("payurl", "app", body.to_owned()),
        PayData::AliTradeNo | PayData::WxApp => ("payurl", "jsapi", body.to_owned()),
        PayData::Nothing => return None,
        // A self-submitting form (Union Pay's pages, `PayData::Form` on newer tables) and any
        // shape still to come: epay's `html`.
        #[allow(unreachable_patterns)]
        _ => ("html", "html", body.to_owned()),
    })
}

/// `{"code":-2,"trade_no":…,"msg":…}`: the channel-side failure (plain `json_encode`).
fn channel_failure(trade_no: &str, msg: &str) -> EpayReply {
    answer::unsigned(
        &[
            ("code", Json::Int(-2)),
            ("trade_no", trade_no.into()),
            ("msg", msg.into()),
        ],
        Flags::Plain,
    )
}

/// The epay-side facts `read` put on the order (kept by the order store, which gives a repeated
/// `out_trade_no` its first `trade_no` back).
fn facts(pay: &Pay) -> (&str, &str) {
    pay.in_dialect
        .as_ref()
        .map_or(("", ""), |d| (d.trade_no.as_str(), d.pay_type.as_str()))
}

/// The answer to a created order at `endpoint`. `signing`: required for V2 (the dialect
/// refuses V2 without a platform key before anything is sent).
pub fn answer(
    pay: &Pay,
    paid: &Paid,
    endpoint: Endpoint,
    jump: bool,
    signing: Option<Signing<'_>>,
) -> EpayReply {
    let (trade_no, pay_type) = facts(pay);
    let failed = |words: &str| match endpoint.is_page() {
        true => answer::sysmsg(words),
        false => channel_failure(trade_no, words),
    };
    match paid.status {
        PayStatus::Fail | PayStatus::Close | PayStatus::Cancel | PayStatus::Timeout => {
            let reason = paid.error_msg.as_deref().filter(|m| !m.trim().is_empty());
            return failed(reason.unwrap_or("支付通道下单失败，请更换订单号重新发起支付"));
        }
        // A payment code paid at once (V2 `method=scan`).
        PayStatus::Success if pay.route.data == PayData::Nothing => {
            if let Some(signing) = signing.filter(|_| endpoint == Endpoint::V2Create) {
                let info = php::json_object(
                    &[
                        ("type", pay_type.into()),
                        ("trade_no", trade_no.into()),
                        // The channel's number, as the query and the notification give it
                        // (DaxPay's `outOrderNo`): DaxPay's pay answer does not carry it, so
                        // it is not known yet (never DaxPay's own order number).
                        ("api_trade_no", Json::Null),
                        ("buyer", Json::Null),
                        ("money", money::stored(pay.amount).into()),
                    ],
                    Flags::Plain,
                );
                return answer::v2_signed(success(trade_no, "scan", info), signing, Flags::Plain);
            }
        }
        _ => {}
    }
    let Some((v1_key, v2_type, value)) = pay_info(pay, paid, jump) else {
        // Created, but what the payer needs was not learnt (an outcome settled by query, or a
        // payment code still being confirmed): never a success without it.
        return failed("支付结果未知，请稍后查询订单");
    };
    match endpoint {
        Endpoint::Submit | Endpoint::V2Submit => match v2_type {
            "html" => answer::channel_html(&value),
            "qrcode" => answer::qrcode_page(
                pay_type,
                &value,
                &money::stored(pay.amount),
                &pay.subject,
                pay.relay.return_url.as_deref(),
            ),
            _ => answer::jump(&value),
        },
        Endpoint::V2Create => match signing {
            Some(signing) => {
                answer::v2_signed(success(trade_no, v2_type, value), signing, Flags::Plain)
            }
            None => failed("系统异常[平台密钥未配置]"),
        },
        _ => answer::unsigned(
            &[
                ("code", Json::Int(1)),
                ("trade_no", trade_no.into()),
                (v1_key, value.into()),
            ],
            Flags::Plain,
        ),
    }
}

fn success<'a>(trade_no: &'a str, pay_type: &'a str, info: String) -> Vec<(&'a str, Json)> {
    vec![
        ("code", Json::Int(0)),
        ("trade_no", trade_no.into()),
        ("pay_type", pay_type.into()),
        ("pay_info", info.into()),
    ]
}

#[cfg(test)]
#[path = "pay_tests.rs"]
mod tests;
