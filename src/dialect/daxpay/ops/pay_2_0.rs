//! Pay on DaxPay 2.0.8 (lifecycle-2.0.md §3): `PayParam` in declared order with the amount in
//! integer fen (at most `Integer.MAX_VALUE`), the expiry in epoch seconds and `extraParam` a JSON
//! object signed as DaxPay renders a map ([`sorted_map`]); the answer's failures, which come as
//! `code 0` with only a message, in Jeepay's terms (§3.6); and what 2.0.8 accepts but cannot
//! serve, refused before the call: the ways it cannot serve faithfully ([`unfaithful_on_2_0`]),
//! an expiry not in the future ([`EXPIRY_NOT_FUTURE`]) and a missing openid or bar code
//! ([`missing_on_2_0`]), which would leave an order it never finishes. The version-independent
//! parts of pay are `pay.rs`'s.

use serde_json::{Map, Value};

use super::limits::{label, limit, Limit};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::render::sorted_map;
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::Pay;
use crate::domain::way_code::WayTable;
use crate::domain::Failure;

/// The way-code table each version starts from: 2.0.8 has a Union Pay channel, 3.0.0 (and
/// 3.0.0-beta4 as paybridge serves it) has not (lifecycle-2.0.md §3.5, lifecycle.md §2.7).
impl From<Version> for WayTable {
    fn from(version: Version) -> WayTable {
        match version {
            Version::V2_0 => WayTable::DaxPay2,
            Version::V3_0 | Version::V3_0Beta => WayTable::DaxPay3,
        }
    }
}

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
pub(super) const MAX_FEN_2_0: u64 = i32::MAX as u64;

/// The channels and methods 2.0.8 accepts but cannot serve as Jeepay answers them
/// (lifecycle-2.0.md §3.3–§3.5): WeChat APP (only a `prepay_id` comes back, where Jeepay's
/// `wxapp` is a parameter set signed with the WeChat API key paybridge does not hold), Alipay
/// JSAPI (2.0.8 sends the payer as `op_buyer_open_id`, where Jeepay merchants hold a `2088…`
/// user id), Union JSAPI (accepted, but the channel is never called) and Union APP (only the
/// bare `tn` comes back; the `ysfapp` JSON Jeepay merchants expect around it is not
/// established, §12).
pub fn unfaithful_on_2_0(channel: &str, method: &str) -> bool {
    matches!(
        (channel, method),
        ("wechat_pay", "app")
            | ("ali_pay", "jsapi")
            | ("union_pay", "jsapi")
            | ("union_pay", "app")
    )
}

/// An expiry that is not in the future (Jeepay's `expiredTime` ≤ 0): 2.0.8 makes an order that
/// is expired at once (§3.1, §3.5: "reject ≤ 0 yourself"). DaxPay 3.0 refuses it with these
/// words (`PayParam`'s check, 10506, answered 9999 with its prefix removed), so both versions
/// answer alike.
pub(super) const EXPIRY_NOT_FUTURE: Failure = Failure::Invalid {
    kind: "expiry_not_future",
    words: "支付超时时间设置有误, 请检查!",
};

/// What the channel needs that the merchant did not give: 2.0.8 sends a WeChat JSAPI pay
/// without an `openId` and a bar-code pay without an `authCode` to the channel, which refuses,
/// and keeps the order `progress` for good (§3.2 step 3). Refused before the call, in 3.0's
/// words where 3.0 checks it (WeChat, lifecycle.md §2.4), else in Jeepay's own (its channels'
/// `preCheck`, `用户支付条码[authCode]不可为空`). Alipay JSAPI never reaches 2.0.8
/// ([`unfaithful_on_2_0`]).
pub(super) fn missing_on_2_0(pay: &Pay) -> Result<(), Failure> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    let words = match (pay.route.channel.as_str(), pay.route.method.as_str()) {
        ("wechat_pay", "jsapi") if !given(&pay.open_id) => "微信JSAPI支付必须传入openId参数",
        ("wechat_pay", "barcode") if !given(&pay.auth_code) => "微信付款码支付必须传入付款码参数",
        (_, "barcode") if !given(&pay.auth_code) => "用户支付条码[authCode]不可为空",
        _ => return Ok(()),
    };
    Err(Failure::Invalid {
        kind: "channel_extra_missing",
        words,
    })
}

/// The code a 2.0.8 pay answer without a `status` is given when its message is the channel's
/// refusal (§3.6): DaxPay keeps its order `progress`, so paybridge stores it failed.
pub const CHANNEL_REFUSED_2_0: i64 = 20045;

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
    pub(super) fn request_2_0(&self) -> Fields<'_> {
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
    pub(super) fn failure_2_0(&self, msg: Option<String>, upstream: &str) -> Failure {
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
            Failure::Refused {
                code: CHANNEL_REFUSED_2_0,
                msg,
            }
        }
    }
}

/// 2.0.8's `extraParam` map (§3.1): the bar code and the WeChat openid under the channel
/// classes' keys (`AliPayParam`, `WeChatPayParam`, `UnionPayParam`), as DaxPay signs it.
pub(super) fn extra_param_2_0(pay: &Pay) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use crate::dialect::daxpay::ops::{DaxOp, Upstream};
    use crate::dialect::jeepay::ops::JeepayOp;
    use crate::dispatch::DaxCall;
    use crate::domain::order::Fen;
    use crate::domain::way_code::default_route;
    use crate::domain::OpKind;
    use time::{OffsetDateTime, UtcOffset};

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
    fn version_2_sends_fen_epoch_seconds_and_a_map() {
        let mut op = pay("WX_JSAPI", 1230);
        op.expires_in_secs = 7200;
        op.bind_at_once(&upstream(Version::V2_0)).unwrap();
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
        bar.bind_at_once(&upstream(Version::V2_0)).unwrap();
        assert_eq!(
            bar.request(Version::V2_0).1.get("extraParam"),
            Some(Field::Json(r#"{"authCode":"134567890123456789"}"#))
        );
        let mut native = pay("WX_NATIVE", 1);
        native.open_id = None;
        native.bind_at_once(&upstream(Version::V2_0)).unwrap();
        assert_eq!(native.request(Version::V2_0).1.get("extraParam"), None);
    }

    #[test]
    fn version_2_refuses_what_it_cannot_serve_and_amounts_over_an_integer() {
        for way in ["WX_APP", "ALI_JSAPI", "ALI_LITE"] {
            assert!(
                matches!(
                    pay(way, 1).bind_at_once(&upstream(Version::V2_0)),
                    Err(Failure::WayCodeUnsupported)
                ),
                "{way}"
            );
        }
        assert!(unfaithful_on_2_0("union_pay", "jsapi"));
        assert!(unfaithful_on_2_0("union_pay", "app"));
        assert!(!unfaithful_on_2_0("union_pay", "wap"));
        assert_eq!(WayTable::from(Version::V2_0), WayTable::DaxPay2);
        assert_eq!(WayTable::from(Version::V3_0Beta), WayTable::DaxPay3);
        pay("WX_NATIVE", 2_147_483_647)
            .bind_at_once(&upstream(Version::V2_0))
            .unwrap();
        assert!(matches!(
            pay("WX_NATIVE", 2_147_483_648).bind_at_once(&upstream(Version::V2_0)),
            Err(Failure::Invalid {
                kind: "amount_too_large",
                ..
            })
        ));
    }

    #[test]
    fn version_2_refuses_what_2_0_8_would_leave_behind_before_the_call() {
        let v2 = upstream(Version::V2_0);
        let words = |op: &mut Pay| match op.bind_at_once(&v2) {
            Err(Failure::Invalid { words, .. }) => words,
            other => panic!("{other:?}"),
        };
        for secs in [0, -5] {
            let mut op = pay("WX_NATIVE", 1);
            op.expires_in_secs = secs;
            assert_eq!(words(&mut op), "支付超时时间设置有误, 请检查!");
        }
        // 3.0 gets the expiry and refuses it itself.
        let mut op = pay("WX_NATIVE", 1);
        op.expires_in_secs = 0;
        op.bind_at_once(&upstream(Version::V3_0)).unwrap();
        for way in ["WX_JSAPI", "WX_LITE"] {
            let mut op = pay(way, 1);
            op.open_id = Some(" ".into());
            assert_eq!(words(&mut op), "微信JSAPI支付必须传入openId参数", "{way}");
        }
        let mut op = pay("WX_BAR", 1);
        assert_eq!(words(&mut op), "微信付款码支付必须传入付款码参数");
        let mut op = pay("ALI_BAR", 1);
        assert_eq!(words(&mut op), "用户支付条码[authCode]不可为空");
        let mut op = pay("ALI_BAR", 1);
        op.route.channel = "union_pay".into();
        assert_eq!(words(&mut op), "用户支付条码[authCode]不可为空");
        op.auth_code = Some("6212345678901234567".into());
        op.bind_at_once(&v2).unwrap();
        pay("WX_JSAPI", 1).bind_at_once(&v2).unwrap();
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
}
