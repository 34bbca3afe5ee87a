//! `/api/pay/unifiedOrder`: `UnifiedOrderRQ`, answered with `UnifiedOrderRS` (lifecycle.md §2.1–2.3,
//! §2.7). Checks and messages in Jeepay's order, after the signature: the fields' own
//! (`@NotBlank`, `@Min`), `AUTO_BAR`'s classification, the way code; then, inside Jeepay's try
//! block, a repeated `mchOrderNo` (found in the order store), the URLs' schemes, the merchant's
//! channel for the way code. Those after the repeat are held on the order (`UpstreamText::refused`)
//! and answered once the store says the number is new.

use serde_json::Value;

use super::channel_extra::ChannelExtra;
use super::JeepayOp;
use crate::config::Merchant;
use crate::dialect::jeepay::envelope::Data;
use crate::dialect::jeepay::params::{is_blank, Request};
use crate::domain::ops::pay::{BindRefusal, UpstreamText};
use crate::domain::ops::{Paid, Pay};
use crate::domain::order::{Fen, OrderRef};
use crate::domain::way_code::{classify_bar_code, PayData, PayRoute, JEEPAY_WAY_CODES};
use crate::domain::{Failure, OpKind};

/// Jeepay's default expiry: two hours.
pub const DEFAULT_EXPIRY_SECS: i64 = 7200;

impl JeepayOp for Pay {
    const FIELDS: &'static [&'static str] = &[
        "mchOrderNo",
        "wayCode",
        "amount",
        "currency",
        "clientIp",
        "subject",
        "body",
        "notifyUrl",
        "returnUrl",
        "expiredTime",
        "channelExtra",
        "extParam",
        "divisionMode",
    ];

    fn read(request: &Request<'_, '_>, _kind: OpKind, merchant: &Merchant) -> Result<Pay, Failure> {
        let mch_order_no = required(request, "mchOrderNo", "商户订单号不能为空")?;
        let way_code = required(request, "wayCode", "支付方式不能为空")?;
        let amount = positive_fen(request.field("amount"), "支付金额不能为空")?;
        let currency = required(request, "currency", "货币代码不能为空")?;
        let subject = required(request, "subject", "商品标题不能为空")?;
        let body = required(request, "body", "商品描述信息不能为空")?;
        let division_mode = match request.field("divisionMode").trim() {
            "" => 0,
            text => match text.parse::<i64>() {
                Ok(mode @ 0..=2) => mode as u8,
                Ok(_) => return Err(invalid("division_mode", "分账模式设置值有误")),
                Err(_) => return Err(unreadable("divisionMode")),
            },
        };
        let expires_in_secs = match request.field("expiredTime").trim() {
            "" => DEFAULT_EXPIRY_SECS,
            // A Java `Integer`: wider is a binding error there too.
            text => i64::from(text.parse::<i32>().map_err(|_| unreadable("expiredTime"))?),
        };
        // `buildBizRQ`: AUTO_BAR's class is bound first, to classify its bar code; then the
        // way code is checked, then `channelExtra` is bound to that way code's class.
        let channel_extra = request.field("channelExtra");
        let way_code = if way_code == "AUTO_BAR" {
            let extra = ChannelExtra::read(channel_extra, way_code)?;
            classify_bar_code(extra.auth_code.as_deref().unwrap_or_default())?.to_owned()
        } else {
            way_code.to_owned()
        };
        if !JEEPAY_WAY_CODES.contains(&way_code.as_str()) {
            return Err(Failure::WayCodeUnknown);
        }
        let extra = ChannelExtra::read(channel_extra, &way_code)?;
        // From here on Jeepay checks inside its try block, after a repeated `mchOrderNo`
        // (lifecycle.md §2.1 step 3): the first refusal is held on the order and answered after
        // the order store's duplicate check, nothing sent.
        let mut refused = None;
        let mut notify_url = held(
            url(
                request,
                "notifyUrl",
                "异步通知地址协议仅支持http:// 或 https:// !",
            ),
            None,
            &mut refused,
        )?;
        let mut return_url = held(
            url(
                request,
                "returnUrl",
                "同步通知地址协议仅支持http:// 或 https:// !",
            ),
            None,
            &mut refused,
        )?;
        held(
            no_controls(notify_url.as_deref(), NOTIFY_URL_CONTROLS),
            (),
            &mut refused,
        )?;
        held(
            no_controls(return_url.as_deref(), RETURN_URL_CONTROLS),
            (),
            &mut refused,
        )?;
        held(
            allowed_host(merchant, notify_url.as_deref()),
            (),
            &mut refused,
        )?;
        // paybridge's own check (Jeepay never reads it): DaxPay has no currency, so only yuan.
        let cny = if currency.eq_ignore_ascii_case("cny") {
            Ok(())
        } else {
            Err(invalid("currency", "不支持的货币代码，仅支持cny"))
        };
        held(cny, (), &mut refused)?;
        // The default table is the merchant's DaxPay version's (2.0.8 has Union Pay).
        let table = merchant.daxpay.upstream.version().into();
        let route = held(
            merchant.way_codes.route_in(table, &way_code).map(Some),
            None,
            &mut refused,
        )?;
        let amount = held(Pay::check_amount(amount), amount, &mut refused)?;
        let route = match (route, refused) {
            (Some(route), None) => route,
            // A refused request keeps nothing it was refused for (it is never sent).
            (route, _) => {
                notify_url = None;
                return_url = None;
                route.unwrap_or(PayRoute {
                    channel: String::new(),
                    method: String::new(),
                    data: PayData::Nothing,
                })
            }
        };
        Ok(Pay {
            order: OrderRef::new(None, Some(mch_order_no)),
            mch_order_no: mch_order_no.to_owned(),
            way_code,
            route,
            amount,
            currency: currency.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            client_ip: optional(request, "clientIp"),
            notify_url,
            return_url,
            expires_in_secs,
            ext_param: optional(request, "extParam"),
            division_mode,
            auth_code: extra.auth_code,
            open_id: extra.open_id,
            sub_open_id: extra.sub_open_id,
            buyer_id: extra.buyer_id,
            upstream_text: UpstreamText {
                refused,
                ..Default::default()
            },
            relay: Default::default(),
            in_dialect: None,
        })
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> Pay {
        Pay {
            order: OrderRef::default(),
            mch_order_no: String::new(),
            way_code: "WX_NATIVE".to_owned(),
            route: crate::domain::way_code::default_route("WX_NATIVE")
                .expect("WX_NATIVE has a default route"),
            amount: Fen(1),
            currency: "cny".to_owned(),
            subject: String::new(),
            body: String::new(),
            client_ip: None,
            notify_url: None,
            return_url: None,
            expires_in_secs: DEFAULT_EXPIRY_SECS,
            ext_param: None,
            division_mode: 0,
            auth_code: None,
            open_id: None,
            sub_open_id: false,
            buyer_id: None,
            upstream_text: Default::default(),
            relay: Default::default(),
            in_dialect: None,
        }
    }

    /// `payDataType`/`payData` only for states 0–2, `errCode`/`errMsg` only for 3 (`UnifiedOrderRS`).
    fn data(&self, paid: &Paid, _caller: &Merchant) -> Data {
        let state = super::pay_query::state(paid.status, None);
        let data = Data::new()
            .text(
                "payOrderId",
                Some(paid.order_no.as_str()).filter(|n| !n.is_empty()),
            )
            .text("mchOrderNo", Some(&self.mch_order_no))
            .int("orderState", Some(state));
        if (0..=2).contains(&state) {
            let (data_type, pay_data) = pay_data(self, paid.pay_body.as_deref());
            data.text("payDataType", Some(data_type))
                .text("payData", Some(&pay_data))
        } else {
            data.text("errMsg", paid.error_msg.as_deref())
        }
    }
}

/// DaxPay's `payBody` as Jeepay's `payDataType` and `payData` (lifecycle.md §2.7).
fn pay_data(pay: &Pay, body: Option<&str>) -> (&'static str, String) {
    let kind = pay.route.data;
    let body = body.unwrap_or_default();
    let text = match kind {
        PayData::Nothing => String::new(),
        _ if body.is_empty() => String::new(),
        PayData::AliTradeNo => serde_json::json!({ "alipayTradeNo": body }).to_string(),
        PayData::WxAppRekeyed => rekey_wx_app(body).unwrap_or_else(|| body.to_owned()),
        // The payer comes back through paybridge's return endpoint when there is one.
        PayData::WxH5 => match pay.relay.return_url.as_ref().or(pay.return_url.as_ref()) {
            Some(back) => {
                let encoded: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
                let joiner = if body.contains('?') { '&' } else { '?' };
                format!("{body}{joiner}redirect_url={encoded}")
            }
            None => body.to_owned(),
        },
        PayData::Url | PayData::CodeUrl | PayData::AliApp | PayData::WxApp | PayData::Form => {
            body.to_owned()
        }
    };
    (kind.data_type(), text)
}

/// DaxPay's WeChat APP parameters (`appid, partnerid, prepayid, package, nonceStr, timeStamp,
/// sign`) under Jeepay's V2 names, as fastjson writes them (keys in alphabetical order), with
/// `packageValue` beside `package`.
fn rekey_wx_app(body: &str) -> Option<String> {
    let Value::Object(dax) = serde_json::from_str::<Value>(body).ok()? else {
        return None;
    };
    let get = |k: &str| dax.get(k).cloned().unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    for (jeepay, daxpay) in [
        ("appId", "appid"),
        ("nonceStr", "nonceStr"),
        ("package", "package"),
        ("packageValue", "package"),
        ("partnerId", "partnerid"),
        ("prepayId", "prepayid"),
        ("sign", "sign"),
        ("timeStamp", "timeStamp"),
    ] {
        let value = get(daxpay);
        if !value.is_null() {
            out.insert(jeepay.to_owned(), value);
        }
    }
    Some(Value::Object(out).to_string())
}

/// A `@NotBlank` field.
pub(super) fn required<'r>(
    request: &'r Request<'_, '_>,
    name: &str,
    words: &'static str,
) -> Result<&'r str, Failure> {
    let value = request.field(name);
    if is_blank(value) {
        return Err(invalid("required_field", words));
    }
    Ok(value)
}

/// An optional field: blank is absent.
pub(super) fn optional(request: &Request<'_, '_>, name: &str) -> Option<String> {
    Some(request.field(name))
        .filter(|v| !v.trim().is_empty())
        .map(str::to_owned)
}

/// A `Long` amount in fen, `@NotNull @Min(1)`: Jeepay gives one message for both.
pub(super) fn positive_fen(text: &str, words: &'static str) -> Result<Fen, Failure> {
    fen(text, words, words)
}

/// A `Long` amount: absent → `missing`, under 1 → `too_small`, not an integer → unreadable.
pub(super) fn fen(
    text: &str,
    missing: &'static str,
    too_small: &'static str,
) -> Result<Fen, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid("required_field", missing));
    }
    let value: i128 = text.parse().map_err(|_| unreadable("amount"))?;
    match u64::try_from(value) {
        Ok(v) if v >= 1 => Ok(Fen(v)),
        Ok(_) | Err(_) if value < 1 => Err(invalid("amount", too_small)),
        _ => Err(unreadable("amount")),
    }
}

/// A notify or return URL: blank is none; otherwise `http://` or `https://` only.
pub(super) fn url(
    request: &Request<'_, '_>,
    name: &str,
    words: &'static str,
) -> Result<Option<String>, Failure> {
    match optional(request, name) {
        None => Ok(None),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => Ok(Some(u)),
        Some(_) => Err(invalid("url_scheme", words)),
    }
}

/// paybridge's refusals of a URL with a control character (Jeepay's own words are only for the
/// scheme).
pub(super) const NOTIFY_URL_CONTROLS: &str = "异步通知地址不能包含控制字符";
pub(super) const RETURN_URL_CONTROLS: &str = "同步通知地址不能包含控制字符";

/// paybridge's guard (Jeepay stores the URL as given): no ASCII control character (U+0000–U+001F,
/// U+007F) in a notify or return URL. None is valid in a URL (RFC 3986), and a CR, LF or NUL
/// would otherwise reach a `Location` header or a notification request long after the order was
/// accepted, when the payer or the merchant can only get an error page.
pub(super) fn no_controls(url: Option<&str>, words: &'static str) -> Result<(), Failure> {
    match url {
        Some(u) if u.chars().any(|c| c.is_ascii_control()) => Err(invalid("url_control", words)),
        _ => Ok(()),
    }
}

/// paybridge's guard: a merchant restricted to `notify_hosts` is notified nowhere else, and no
/// merchant at an internal address named literally (`[notify] allow_private_targets`).
pub(super) fn allowed_host(merchant: &Merchant, notify_url: Option<&str>) -> Result<(), Failure> {
    match notify_url {
        Some(u) if !merchant.may_notify(u) => {
            Err(invalid("notify_host", "异步通知地址不在商户允许的域名内"))
        }
        Some(u) if merchant.notify_url_internal(u) => {
            Err(invalid("notify_internal", "异步通知地址不能是内部网络地址"))
        }
        _ => Ok(()),
    }
}

/// `checked`'s value; or, for a refusal that can be held ([`BindRefusal`]), `fallback`, the
/// refusal kept in `refused` unless one is already (the first found is answered).
fn held<T>(
    checked: Result<T, Failure>,
    fallback: T,
    refused: &mut Option<BindRefusal>,
) -> Result<T, Failure> {
    checked.or_else(|failure| match BindRefusal::of(&failure) {
        Some(refusal) => {
            refused.get_or_insert(refusal);
            Ok(fallback)
        }
        None => Err(failure),
    })
}

pub(super) fn invalid(kind: &'static str, words: &'static str) -> Failure {
    Failure::Invalid { kind, words }
}

pub(super) fn unreadable(field: &str) -> Failure {
    Failure::Unreadable(format!("`{field}` cannot be bound to its type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::PayStatus;
    use crate::domain::way_code::default_route;

    fn pay(way_code: &str, return_url: Option<&str>) -> Pay {
        let mut pay = Pay::sample(OpKind::Pay, &crate::config::test_merchant());
        pay.mch_order_no = "M1".into();
        pay.way_code = way_code.into();
        pay.route = default_route(way_code).unwrap();
        pay.return_url = return_url.map(str::to_owned);
        pay
    }

    #[test]
    fn pay_bodies_take_jeepay_shapes() {
        let ali = pay("ALI_JSAPI", None);
        assert_eq!(
            pay_data(&ali, Some("2025090122001")),
            ("aliapp", r#"{"alipayTradeNo":"2025090122001"}"#.to_owned())
        );
        assert_eq!(
            pay_data(&pay("ALI_BAR", None), None),
            ("none", String::new())
        );
        assert_eq!(
            pay_data(&pay("WX_NATIVE", None), Some("weixin://x")),
            ("codeUrl", "weixin://x".to_owned())
        );
        let h5 = pay("WX_H5", Some("https://m.example/back?a=1"));
        assert_eq!(
            pay_data(&h5, Some("https://wx.tenpay.com/mweb?prepay_id=1")).1,
            "https://wx.tenpay.com/mweb?prepay_id=1&redirect_url=https%3A%2F%2Fm.example%2Fback%3Fa%3D1"
        );
        let app = pay("WX_APP", None);
        let (kind, text) = pay_data(
            &app,
            Some(
                r#"{"appid":"wx1","partnerid":"p","prepayid":"wx2","package":"Sign=WXPay","nonceStr":"n","timeStamp":"1","sign":"s"}"#,
            ),
        );
        assert_eq!(kind, "wxapp");
        assert_eq!(
            text,
            r#"{"appId":"wx1","nonceStr":"n","package":"Sign=WXPay","packageValue":"Sign=WXPay","partnerId":"p","prepayId":"wx2","sign":"s","timeStamp":"1"}"#
        );
    }

    #[test]
    fn a_failed_order_answers_its_error_not_pay_data() {
        let op = pay("WX_NATIVE", None);
        let paid = Paid {
            order_no: "P1".into(),
            biz_order_no: "M1".into(),
            status: PayStatus::Fail,
            pay_body: Some("weixin://x".into()),
            error_msg: Some("余额不足".into()),
        };
        let data = format!("{:?}", op.data(&paid, &crate::config::test_merchant()));
        assert!(
            data.contains("errMsg") && !data.contains("payData"),
            "{data}"
        );
    }

    #[test]
    fn urls_with_control_characters_are_refused() {
        for bad in [
            "http://a/\r\nX: y",
            "http://a/\n",
            "http://a/\0",
            "http://a/\t",
            "http://a/\x7f",
        ] {
            assert!(
                matches!(
                    no_controls(Some(bad), NOTIFY_URL_CONTROLS),
                    Err(Failure::Invalid {
                        kind: "url_control",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        for good in [
            None,
            Some("https://m.example/back?a=1&b=%0D%0A"),
            Some("http://例子.cn/ü"),
        ] {
            assert!(no_controls(good, RETURN_URL_CONTROLS).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn amounts_are_whole_positive_fen() {
        assert_eq!(positive_fen("1", "m").ok(), Some(Fen(1)));
        assert!(matches!(
            positive_fen("0", "m"),
            Err(Failure::Invalid { words: "m", .. })
        ));
        assert!(matches!(
            positive_fen("", "m"),
            Err(Failure::Invalid { words: "m", .. })
        ));
        assert!(matches!(
            positive_fen("-5", "m"),
            Err(Failure::Invalid { .. })
        ));
        assert!(matches!(
            positive_fen("1.5", "m"),
            Err(Failure::Unreadable(_))
        ));
        assert!(matches!(
            positive_fen("99999999999999999999999", "m"),
            Err(Failure::Unreadable(_))
        ));
        assert_eq!(
            positive_fen("9999999999", "m").ok(),
            Some(Fen(9_999_999_999))
        );
        assert!(Pay::check_amount(Fen(10_000_000_000)).is_err());
    }
}
