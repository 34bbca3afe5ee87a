//! Pay on DaxPay: `/unipay/pay` answered with `PayResult {bizOrderNo, orderNo, status, payBody}`
//! (lifecycle.md §2.4–2.6, §9; lifecycle-2.0.md §3). In 3.x the amount is sent in yuan with
//! trailing zeros stripped, so the wire and the signed text agree, and the expiry as an absolute
//! wall clock in the upstream's zone; 3.0-beta carries `openId`/`authCode` inside `extraParam`.
//! In 2.0.8 the amount is integer fen (at most `Integer.MAX_VALUE`), the expiry epoch seconds,
//! and `extraParam` a JSON *object* signed as DaxPay renders a map ([`sorted_map`]); its answer
//! is a success only with a non-null `status` (a failure is `code 0` with a message only), and
//! the ways 2.0.8 cannot serve faithfully are refused before the call ([`unfaithful_on_2_0`]).
//! `PayParam`'s length limits are checked before the call ([`PAY_LIMITS_3_0`],
//! [`PAY_LIMITS_3_0_BETA`], [`PAY_LIMITS_2_0`]).

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::limits::{java_len, label, limit, Limit};
use super::pay_query::{amount, owned};
use super::{refusal, DaxOp, Upstream};
use crate::dialect::daxpay::envelope::{wall_clock, Fields};
use crate::dialect::daxpay::order_query::pay_status;
use crate::dialect::daxpay::render::sorted_map;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Paid, Pay};
use crate::domain::{Failure, Unknown};

/// `PayParam` in 3.0.0 (`DXC/param/trade/pay/PayParam.java`): every text field paybridge sends.
pub const PAY_LIMITS_3_0: &[Limit] = &[
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
    limit("title", 100, label::SUBJECT),
    limit("description", 500, label::BODY),
    limit("channel", 32, label::CHANNEL),
    limit("method", 32, label::METHOD),
    limit("openId", 128, label::OPEN_ID),
    limit("authCode", 128, label::AUTH_CODE),
    limit("extraParam", 2048, label::CHANNEL_EXTRA),
    limit("attach", 500, label::EXT_PARAM),
    limit("returnUrl", 200, label::RETURN_URL),
    limit("notifyUrl", 200, label::NOTIFY_URL),
];

/// `PayParam` in 3.0.0-beta4 (`daxpay-single-core/.../PayParam.java`): channel and method at
/// most 20, no `openId`/`authCode` fields (they go in `extraParam`).
pub const PAY_LIMITS_3_0_BETA: &[Limit] = &[
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
    limit("title", 100, label::SUBJECT),
    limit("description", 500, label::BODY),
    limit("channel", 20, label::CHANNEL),
    limit("method", 20, label::METHOD),
    limit("extraParam", 2048, label::CHANNEL_EXTRA),
    limit("attach", 500, label::EXT_PARAM),
    limit("returnUrl", 200, label::RETURN_URL),
    limit("notifyUrl", 200, label::NOTIFY_URL),
];

/// `PayParam` in 2.0.8 (lifecycle-2.0.md §3.1). `extraParam` is a map there, whose `@Size`
/// counts entries, not characters (paybridge sends at most two).
pub const PAY_LIMITS_2_0: &[Limit] = &[
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
    limit("title", 100, label::SUBJECT),
    limit("description", 500, label::BODY),
    limit("channel", 20, label::CHANNEL),
    limit("method", 20, label::METHOD),
    limit("attach", 500, label::EXT_PARAM),
    limit("returnUrl", 200, label::RETURN_URL),
    limit("notifyUrl", 200, label::NOTIFY_URL),
];

/// 2.0.8's `amount` is an `Integer` of fen: more does not even bind (10005).
const MAX_FEN_2_0: u64 = i32::MAX as u64;

impl DaxOp for Pay {
    fn limits(version: Version) -> &'static [Limit] {
        match version {
            Version::V3_0 => PAY_LIMITS_3_0,
            Version::V3_0Beta => PAY_LIMITS_3_0_BETA,
            Version::V2_0 => PAY_LIMITS_2_0,
        }
    }

    /// A shared identity's prefix, before the merchant's order number.
    fn added_units(&self, field: &str) -> usize {
        match (field, &self.order.biz_order_no) {
            ("bizOrderNo", Some(sent)) => {
                java_len(sent).saturating_sub(java_len(&self.mch_order_no))
            }
            _ => 0,
        }
    }

    fn fit(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        // At most an `Integer` of seconds from now: within `time`'s range, checked anyway.
        let expires = OffsetDateTime::now_utc()
            .checked_add(Duration::seconds(self.expires_in_secs))
            .ok_or(Failure::Internal)?;
        if upstream.version == Version::V2_0 {
            if unfaithful_on_2_0(&self.route.channel, &self.route.method) {
                return Err(Failure::WayCodeUnsupported);
            }
            if self.amount.0 > MAX_FEN_2_0 {
                return Err(Failure::Invalid {
                    kind: "amount_too_large",
                    words: "支付金额超出上限[最多2147483647分]",
                });
            }
            // Epoch seconds, absolute (DaxPay does not check it is in the future: Jeepay's
            // reader already refused an expiry that is not).
            self.upstream_text.expired_time = expires.unix_timestamp().to_string();
            self.upstream_text.amount = self.amount.0.to_string();
            self.upstream_text.extra_param = extra_param_2_0(self);
            return Ok(());
        }
        self.upstream_text.expired_time = wall_clock(expires, upstream.utc_offset);
        self.upstream_text.amount = self.amount.yuan_stripped();
        self.upstream_text.extra_param = extra_param(self, upstream.version);
        Ok(())
    }

    /// The payer's IP: the merchant's `clientIp` when it is one, else (as Jeepay) the caller's.
    fn client_ip(&self) -> Option<&str> {
        self.client_ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    }

    fn request(&self, version: Version) -> (DaxCall, Fields<'_>) {
        let t = &self.upstream_text;
        if version == Version::V2_0 {
            return (DaxCall::Pay, self.request_2_0());
        }
        let mut fields = Fields::default()
            .text("bizOrderNo", self.order.biz_order_no.as_deref())
            .text("title", Some(&self.subject))
            .text("description", Some(&self.body));
        // Jeepay's division modes: 1 automatic, 2 manual; none is DaxPay's null (false).
        if self.division_mode != 0 {
            fields = fields
                .bool("allocation", true)
                .bool("autoAllocation", self.division_mode == 1);
        }
        fields = fields
            .text("expiredTime", Some(&t.expired_time))
            .text("channel", Some(&self.route.channel))
            .text("method", Some(&self.route.method))
            .number("amount", &t.amount);
        if version == Version::V3_0 {
            fields = fields
                .text("openId", self.open_id.as_deref())
                .text("authCode", self.auth_code.as_deref());
        }
        let fields = fields
            .text("extraParam", t.extra_param.as_deref())
            .text("attach", self.ext_param.as_deref())
            .text("returnUrl", self.relay.return_url.as_deref())
            .text("notifyUrl", self.relay.notify_url.as_deref());
        (DaxCall::Pay, fields)
    }

    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<Paid, Failure> {
        // 2.0.8: `code 0` with a null `status` is a failure told by its message only (§3.3).
        if upstream.version == Version::V2_0 && data.get("status").is_none_or(Value::is_null) {
            return Err(self.failure_2_0(owned(data, "msg"), upstream.name));
        }
        let required = |key: &str| {
            owned(data, key).ok_or_else(|| upstream.malformed(format!("pay answer has no {key}")))
        };
        Ok(Paid {
            order_no: required("orderNo")?,
            biz_order_no: required("bizOrderNo")?,
            status: pay_status(data, upstream)?,
            pay_body: owned(data, "payBody").filter(|b| !b.is_empty()),
            error_msg: None,
        })
    }

    /// lifecycle.md §2.7's error table. A channel failure (20045, 20080) is answered 9999 with
    /// DaxPay's words, the simplest of its two recommendations: DaxPay keeps the order (in
    /// `progress`), so the number cannot be used again, as in Jeepay.
    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        match code {
            20043 | 20044 => Failure::OrderExists(self.mch_order_no.clone()),
            20011 | 20012 | 20021 | 20022 | 20030 => Failure::WayCodeUnsupported,
            10506 if msg.contains("不支持的支付方式") => Failure::WayCodeUnsupported,
            // The channel's own checks (an openId or bar code missing, an expiry in the past)
            // are the merchant's to fix: DaxPay's detail, without its prefix (`refusal`).
            _ => refusal(code, msg, verified, upstream),
        }
    }

    /// The order that exists was created by this request (numbers are unique per app, and the
    /// order store lets one request through): its state answers, its pay body is lost.
    fn settle(
        &self,
        found: Option<&Value>,
        upstream: &Upstream<'_>,
    ) -> Result<Unknown<Paid>, Failure> {
        let Some(data) = found else {
            return Ok(Unknown::StillUnknown);
        };
        // Another request's order under the same number (an earlier one whose outcome was
        // unknown) is not this one's: the number is taken.
        let found = owned(data, "amount").map(|a| amount(&a, upstream));
        if !matches!(found, Some(Ok(a)) if a == self.amount) {
            return Ok(Unknown::Settled(Err(Failure::OrderExists(
                self.mch_order_no.clone(),
            ))));
        }
        Ok(Unknown::Settled(Ok(Paid {
            order_no: owned(data, "orderNo")
                .ok_or_else(|| upstream.malformed("query answer has no orderNo"))?,
            biz_order_no: self.order.biz_order_no.clone().unwrap_or_default(),
            status: pay_status(data, upstream)?,
            pay_body: None,
            error_msg: owned(data, "errorMsg"),
        })))
    }
}

/// The channels and methods 2.0.8 accepts but cannot serve as Jeepay answers them
/// (lifecycle-2.0.md §3.3–§3.5): WeChat APP (only a `prepay_id` comes back, where Jeepay's
/// `wxapp` is a parameter set signed with the WeChat API key paybridge does not hold), Alipay
/// JSAPI (2.0.8 sends the payer as `op_buyer_open_id`, where Jeepay merchants hold a `2088…`
/// user id) and Union JSAPI (accepted, but the channel is never called).
pub fn unfaithful_on_2_0(channel: &str, method: &str) -> bool {
    matches!(
        (channel, method),
        ("wechat_pay", "app") | ("ali_pay", "jsapi") | ("union_pay", "jsapi")
    )
}

/// 2.0.8's answers without a `status` (§3.3, §3.6) in Jeepay's terms. The texts are
/// `PayService`'s, `PayAssistService`'s and the channels' validation's.
const EXISTS_2_0: &[&str] = &[
    "已经支付成功，请勿重新支付",
    "支付失败或已经被关闭",
    "支付已超时，请重新确认支付状态",
    "该订单处于退款状态",
    "订单不是待支付状态，请重新确认订单状态",
    "正在支付中，请勿重复支付",
];
const UNSUPPORTED_2_0: &[&str] = &[
    "不支持的能力",
    "不存在的支付方式",
    "该支付宝支付方式不可用",
    "该微信支付方式不可用",
    "该云闪付支付方式不可用",
    "支付宝未配置可用的支付方式",
    "未配置微信支付方式",
    "云闪付未配置可用的支付方式",
    "云闪付不支持分账",
];
const UNCONFIGURED_2_0: &[&str] = &[
    "支付宝配置不存在",
    "微信支付配置不存在",
    "云闪付支付配置不存在",
    "支付宝支付未启用",
    "微信支付未启用",
    "云闪付支付未启用",
    "未开启分账配置",
];
const OVER_LIMIT_2_0: &[&str] = &[
    "支付金额超过限额",
    "支付宝支付金额超过限额",
    "微信支付金额超限",
    "云闪付支付金额超限",
];

impl Pay {
    /// 2.0.8's `PayParam` in declared order (§3.1): fen, epoch seconds, a map `extraParam`.
    /// `autoAllocation` is not sent: 2.0.8 signs it but never stores it.
    fn request_2_0(&self) -> Fields<'_> {
        let t = &self.upstream_text;
        let mut fields = Fields::default()
            .text("bizOrderNo", self.order.biz_order_no.as_deref())
            .text("title", Some(&self.subject))
            .text("description", Some(&self.body));
        if self.division_mode != 0 {
            fields = fields.bool("allocation", true);
        }
        fields
            .number("expiredTime", &t.expired_time)
            .text("channel", Some(&self.route.channel))
            .text("method", Some(&self.route.method))
            .number("amount", &t.amount)
            .json("extraParam", t.extra_param.as_deref())
            .text("attach", self.ext_param.as_deref())
            .text("returnUrl", self.relay.return_url.as_deref())
            .text("notifyUrl", self.relay.notify_url.as_deref())
    }

    /// A 2.0.8 pay answer with no `status`: its message in Jeepay's terms (§3.6).
    fn failure_2_0(&self, msg: Option<String>, upstream: &str) -> Failure {
        let Some(msg) = msg.filter(|m| !m.trim().is_empty()) else {
            // An exception without a message (a `NullPointerException` on Java 8): whether the
            // order was created before it is not known, so it is found out by a query.
            return Failure::Rejected {
                upstream: upstream.to_owned(),
                code: 10001,
                msg: "the pay answer has neither a status nor a message".to_owned(),
                signed: true,
            };
        };
        let is = |table: &[&str]| table.contains(&msg.as_str());
        if is(EXISTS_2_0) {
            Failure::OrderExists(self.mch_order_no.clone())
        } else if is(UNSUPPORTED_2_0) {
            Failure::WayCodeUnsupported
        } else if is(UNCONFIGURED_2_0) {
            tracing::warn!(
                upstream,
                msg = msg.as_str(),
                "DaxPay 2.0's channel is not configured"
            );
            Failure::Refused {
                code: 20024,
                msg: "商户应用参数未配置".to_owned(),
            }
        } else if is(OVER_LIMIT_2_0) {
            Failure::Refused { code: 20060, msg }
        } else {
            // The channel refused (Alipay's `sub_msg`, WeChat's `err_code_des`): DaxPay keeps
            // the order `progress`, so it is a channel failure that leaves the order behind.
            Failure::Refused { code: 20045, msg }
        }
    }
}

/// 2.0.8's `extraParam` map (§3.1): the bar code and the WeChat openid under the channel
/// classes' keys (`AliPayParam`, `WeChatPayParam`, `UnionPayParam`), as DaxPay signs it.
fn extra_param_2_0(pay: &Pay) -> Option<String> {
    let mut extra = Map::new();
    if let Some(code) = &pay.auth_code {
        extra.insert("authCode".to_owned(), Value::String(code.clone()));
    }
    if pay.route.channel == "wechat_pay" {
        if let Some(open_id) = &pay.open_id {
            extra.insert("openId".to_owned(), Value::String(open_id.clone()));
        }
    }
    (!extra.is_empty()).then(|| sorted_map(&extra))
}

/// `extraParam` (JSON text): Alipay's buyer id, WeChat ISV's sub-merchant openid; in 3.0-beta
/// also the openid and the bar code, which have no fields of their own there.
fn extra_param(pay: &Pay, version: Version) -> Option<String> {
    let mut extra = Map::new();
    let wechat = pay.route.channel.starts_with("wechat");
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            extra.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    };
    if version == Version::V3_0Beta {
        put("openId", pay.open_id.as_deref());
        put("authCode", pay.auth_code.as_deref());
    }
    if wechat && pay.sub_open_id {
        put("openIdType", Some("sub"));
    }
    if !wechat {
        put("buyerId", pay.buyer_id.as_deref());
    }
    (!extra.is_empty()).then(|| Value::Object(extra).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use crate::dialect::jeepay::ops::JeepayOp;
    use crate::domain::order::Fen;
    use crate::domain::way_code::default_route;
    use crate::domain::OpKind;
    use time::UtcOffset;

    fn upstream(version: Version) -> Upstream<'static> {
        Upstream {
            name: "dax",
            version,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
        }
    }

    fn pay(way_code: &str, fen: u64) -> Pay {
        let mut pay = Pay::sample(OpKind::Pay, &crate::config::test_merchant());
        pay.order.biz_order_no = Some("M1".into());
        pay.mch_order_no = "M1".into();
        pay.route = default_route(way_code).unwrap();
        pay.amount = Fen(fen);
        pay.open_id = Some("o1".into());
        pay.buyer_id = Some("2088".into());
        pay
    }

    #[test]
    fn amounts_go_in_yuan_as_signed() {
        for (fen, yuan) in [
            (1, "0.01"),
            (10, "0.1"),
            (100, "1"),
            (1230, "12.3"),
            (9_999_999_999, "99999999.99"),
        ] {
            let mut op = pay("WX_NATIVE", fen);
            op.bind(&upstream(Version::V3_0)).unwrap();
            let (call, fields) = op.request(Version::V3_0);
            assert_eq!(call, DaxCall::Pay);
            assert_eq!(fields.get("amount"), Some(Field::Number(yuan)));
            assert_eq!(fields.get("channel"), Some(Field::Text("wechat_pay")));
            assert_eq!(fields.get("method"), Some(Field::Text("qrcode")));
        }
    }

    #[test]
    fn the_expiry_is_absolute_in_the_upstreams_zone() {
        let mut op = pay("WX_NATIVE", 1);
        op.expires_in_secs = 7200;
        op.bind(&upstream(Version::V3_0)).unwrap();
        let expected = wall_clock(
            OffsetDateTime::now_utc() + Duration::hours(2),
            UtcOffset::from_hms(8, 0, 0).unwrap(),
        );
        // Within the same minute (the test may straddle a second).
        assert_eq!(op.upstream_text.expired_time[..16], expected[..16]);
    }

    #[test]
    fn beta_carries_openid_and_bar_code_in_extra_param() {
        let mut op = pay("WX_JSAPI", 1);
        op.bind(&upstream(Version::V3_0Beta)).unwrap();
        let (_, fields) = op.request(Version::V3_0Beta);
        assert_eq!(fields.get("openId"), None);
        assert_eq!(
            fields.get("extraParam"),
            Some(Field::Text(r#"{"openId":"o1"}"#))
        );
        let mut op = pay("WX_JSAPI", 1);
        op.bind(&upstream(Version::V3_0)).unwrap();
        let (_, fields) = op.request(Version::V3_0);
        assert_eq!(fields.get("openId"), Some(Field::Text("o1")));
        assert_eq!(fields.get("extraParam"), None);
        let mut ali = pay("ALI_JSAPI", 1);
        ali.bind(&upstream(Version::V3_0)).unwrap();
        assert_eq!(
            ali.upstream_text.extra_param.as_deref(),
            Some(r#"{"buyerId":"2088"}"#)
        );
    }

    #[test]
    fn version_2_sends_fen_epoch_seconds_and_a_map() {
        let mut op = pay("WX_JSAPI", 1230);
        op.expires_in_secs = 7200;
        op.bind(&upstream(Version::V2_0)).unwrap();
        let (call, fields) = op.request(Version::V2_0);
        assert_eq!(call, DaxCall::Pay);
        assert_eq!(fields.get("amount"), Some(Field::Number("1230")));
        assert_eq!(
            fields.get("extraParam"),
            Some(Field::Json(r#"{"openId":"o1"}"#))
        );
        let Some(Field::Number(expiry)) = fields.get("expiredTime") else {
            panic!("no expiry")
        };
        let expected = OffsetDateTime::now_utc().unix_timestamp() + 7200;
        assert!((expiry.parse::<i64>().unwrap() - expected).abs() <= 2);
        assert_eq!(fields.get("autoAllocation"), None);
        assert_eq!(fields.get("openId"), None);
        let mut bar = pay("WX_BAR", 1);
        bar.open_id = None;
        bar.auth_code = Some("134567890123456789".into());
        bar.bind(&upstream(Version::V2_0)).unwrap();
        assert_eq!(
            bar.request(Version::V2_0).1.get("extraParam"),
            Some(Field::Json(r#"{"authCode":"134567890123456789"}"#))
        );
        let mut native = pay("WX_NATIVE", 1);
        native.open_id = None;
        native.bind(&upstream(Version::V2_0)).unwrap();
        assert_eq!(native.request(Version::V2_0).1.get("extraParam"), None);
    }

    #[test]
    fn version_2_refuses_what_it_cannot_serve_and_amounts_over_an_integer() {
        for way in ["WX_APP", "ALI_JSAPI", "ALI_LITE"] {
            assert!(
                matches!(
                    pay(way, 1).bind(&upstream(Version::V2_0)),
                    Err(Failure::WayCodeUnsupported)
                ),
                "{way}"
            );
        }
        assert!(unfaithful_on_2_0("union_pay", "jsapi"));
        pay("WX_NATIVE", 2_147_483_647)
            .bind(&upstream(Version::V2_0))
            .unwrap();
        assert!(matches!(
            pay("WX_NATIVE", 2_147_483_648).bind(&upstream(Version::V2_0)),
            Err(Failure::Invalid {
                kind: "amount_too_large",
                ..
            })
        ));
    }

    #[test]
    fn version_2_answers_without_status_are_failures_in_jeepay_terms() {
        let op = pay("WX_NATIVE", 1);
        let v2 = upstream(Version::V2_0);
        let answer = |msg: Option<&str>| {
            let data = serde_json::json!({"code": 0, "msg": msg, "resTime": 1, "sign": "s",
                "bizOrderNo": null, "orderNo": null, "status": null, "payBody": null});
            op.outcome(&data, &v2).unwrap_err()
        };
        assert!(
            matches!(answer(Some("已经支付成功，请勿重新支付")), Failure::OrderExists(n) if n == "M1")
        );
        assert!(matches!(
            answer(Some("正在支付中，请勿重复支付")),
            Failure::OrderExists(_)
        ));
        assert!(matches!(
            answer(Some("该微信支付方式不可用")),
            Failure::WayCodeUnsupported
        ));
        assert!(
            matches!(answer(Some("微信支付未启用")), Failure::Refused { msg, .. } if msg == "商户应用参数未配置")
        );
        assert!(matches!(
            answer(Some("微信支付金额超限")),
            Failure::Refused { code: 20060, .. }
        ));
        assert!(
            matches!(answer(Some("订单号重复")), Failure::Refused { code: 20045, msg } if msg == "订单号重复")
        );
        let unknown = answer(None);
        assert!(unknown.outcome_unknown(), "{unknown}");
        let data = serde_json::json!({"code": 0, "msg": null, "bizOrderNo": "M1",
            "orderNo": "P1", "status": "progress", "payBody": "weixin://wxpay/1"});
        let paid = op.outcome(&data, &v2).unwrap();
        assert_eq!(paid.pay_body.as_deref(), Some("weixin://wxpay/1"));
    }

    #[test]
    fn payparams_limits_are_checked_before_the_call() {
        let mut op = pay("WX_JSAPI", 1);
        op.mch_order_no = "x".repeat(100);
        op.order.biz_order_no = Some(op.mch_order_no.clone());
        op.bind(&upstream(Version::V3_0)).unwrap();
        op.mch_order_no = "x".repeat(101);
        op.order.biz_order_no = Some(op.mch_order_no.clone());
        assert!(matches!(
            op.bind(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商户订单号",
                max: 100
            })
        ));
        // On a shared identity the merchant is told its own allowance.
        op.mch_order_no = "x".repeat(96);
        op.order.biz_order_no = Some(format!("shop-{}", op.mch_order_no));
        assert!(matches!(
            op.bind(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商户订单号",
                max: 95
            })
        ));
        let mut op = pay("WX_JSAPI", 1);
        op.open_id = Some("o".repeat(129));
        assert!(matches!(
            op.bind(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "openid",
                max: 128
            })
        ));
        // 3.0-beta carries the openid in extraParam (at most 2048).
        op.bind(&upstream(Version::V3_0Beta)).unwrap();
        let mut op = pay("WX_NATIVE", 1);
        op.subject = "标".repeat(101);
        assert!(matches!(
            op.bind(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商品标题",
                max: 100
            })
        ));
        let mut op = pay("WX_NATIVE", 1);
        op.ext_param = Some("e".repeat(501));
        assert!(matches!(
            op.bind(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商户扩展参数",
                max: 500
            })
        ));
    }

    #[test]
    fn refusals_in_jeepay_terms() {
        let op = pay("WX_JSAPI", 1);
        let said = |code, msg: &str| op.refusal(code, msg.into(), true, "u");
        assert!(
            matches!(said(20044, "订单号重复，请重新发起支付"), Failure::OrderExists(n) if n == "M1")
        );
        assert!(matches!(
            said(20043, "正在支付中，请勿重复支付"),
            Failure::OrderExists(_)
        ));
        assert!(matches!(
            said(20030, "不支持的能力: union_pay"),
            Failure::WayCodeUnsupported
        ));
        assert!(matches!(
            said(10506, "验证参数错误\n微信JSAPI支付必须传入openId参数"),
            Failure::Refused { msg, .. } if msg == "微信JSAPI支付必须传入openId参数"
        ));
        assert!(matches!(
            said(10506, "请求时间超时"),
            Failure::Rejected { .. }
        ));
        assert!(matches!(
            said(20045, "支付失败: x"),
            Failure::Refused { code: 20045, .. }
        ));
        assert!(matches!(
            said(20060, "支付金额超过限额"),
            Failure::Refused { .. }
        ));
    }
}
