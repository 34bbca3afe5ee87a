//! Pay on DaxPay: `/unipay/pay` answered with `PayResult {bizOrderNo, orderNo, status, payBody}`
//! (lifecycle.md §2.4–2.6, §9; lifecycle-2.0.md §3). In 3.x the amount is sent in yuan with
//! trailing zeros stripped, so the wire and the signed text agree, and the expiry as an absolute
//! wall clock in the upstream's zone; 3.0-beta carries `openId`/`authCode` inside `extraParam`.
//! In 2.0.8 the amount is integer fen (at most `Integer.MAX_VALUE`), the expiry epoch seconds,
//! and `extraParam` a JSON *object* signed as DaxPay renders a map (`pay_2_0.rs`); its answer
//! is a success only with a non-null `status` (a failure is `code 0` with a message only), and
//! the ways 2.0.8 cannot serve faithfully are refused before the call ([`unfaithful_on_2_0`]).
//! `PayParam`'s length limits are checked before the call ([`PAY_LIMITS_3_0`],
//! [`PAY_LIMITS_3_0_BETA`], [`PAY_LIMITS_2_0`]).

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::limits::{java_len, label, limit, Limit};
use super::pay_2_0::{
    extra_param_2_0, missing_on_2_0, unfaithful_on_2_0, EXPIRY_NOT_FUTURE, MAX_FEN_2_0,
    PAY_LIMITS_2_0,
};
use super::pay_query::{amount, owned};
use super::{refusal, DaxOp, Upstream};
use crate::dialect::daxpay::envelope::{wall_clock, Fields};
use crate::dialect::daxpay::order_query::pay_status;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::pay::BindRefusal;
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
            // 2.0.8 checks neither of these (lifecycle-2.0.md §3.1, §3.2) and would make an
            // order that is expired at once, or one left `progress` for good.
            if self.expires_in_secs <= 0 {
                return Err(EXPIRY_NOT_FUTURE);
            }
            missing_on_2_0(self)?;
            // Epoch seconds, absolute.
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

    /// WeChat H5 on 3.x: DaxPay gives WeChat the order's `clientIp` as the payer's
    /// (`WechatPayV3Service.wapPay`, `scene_info.payer_client_ip`, which WeChat requires;
    /// lifecycle.md §2.7), so without the merchant's the caller's address is sent. 2.0.8 gives
    /// WeChat its own host's address instead (lifecycle-2.0.md §3.4): nothing needed there.
    fn needs_payer_ip(&self, version: Version) -> bool {
        version != Version::V2_0 && wechat_h5(&self.route.channel, &self.route.method)
    }

    fn deferred(&self) -> Option<Failure> {
        self.upstream_text.refused.map(Failure::from)
    }

    /// What DaxPay's wire form refuses is answered after the duplicate check (Jeepay's order:
    /// a repeated number first, then the app's ways, then the channel's checks).
    fn defer(&mut self, refusal: Failure) -> Result<(), Failure> {
        match BindRefusal::of(&refusal) {
            Some(kept) => {
                self.upstream_text.refused.get_or_insert(kept);
                Ok(())
            }
            None => Err(refusal),
        }
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

/// A WeChat H5 pay (merchant or ISV channel): WeChat needs the payer's IP.
fn wechat_h5(channel: &str, method: &str) -> bool {
    matches!(channel, "wechat_pay" | "wechat_pay_isv") && method == "wap"
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
            op.bind_at_once(&upstream(Version::V3_0)).unwrap();
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
        op.bind_at_once(&upstream(Version::V3_0)).unwrap();
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
        op.bind_at_once(&upstream(Version::V3_0Beta)).unwrap();
        let (_, fields) = op.request(Version::V3_0Beta);
        assert_eq!(fields.get("openId"), None);
        assert_eq!(
            fields.get("extraParam"),
            Some(Field::Text(r#"{"openId":"o1"}"#))
        );
        let mut op = pay("WX_JSAPI", 1);
        op.bind_at_once(&upstream(Version::V3_0)).unwrap();
        let (_, fields) = op.request(Version::V3_0);
        assert_eq!(fields.get("openId"), Some(Field::Text("o1")));
        assert_eq!(fields.get("extraParam"), None);
        let mut ali = pay("ALI_JSAPI", 1);
        ali.bind_at_once(&upstream(Version::V3_0)).unwrap();
        assert_eq!(
            ali.upstream_text.extra_param.as_deref(),
            Some(r#"{"buyerId":"2088"}"#)
        );
    }

    #[test]
    fn payparams_limits_are_checked_before_the_call() {
        let mut op = pay("WX_JSAPI", 1);
        op.mch_order_no = "x".repeat(100);
        op.order.biz_order_no = Some(op.mch_order_no.clone());
        op.bind_at_once(&upstream(Version::V3_0)).unwrap();
        op.mch_order_no = "x".repeat(101);
        op.order.biz_order_no = Some(op.mch_order_no.clone());
        assert!(matches!(
            op.bind_at_once(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商户订单号",
                max: 100
            })
        ));
        // On a shared identity the merchant is told its own allowance.
        op.mch_order_no = "x".repeat(96);
        op.order.biz_order_no = Some(format!("shop-{}", op.mch_order_no));
        assert!(matches!(
            op.bind_at_once(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商户订单号",
                max: 95
            })
        ));
        let mut op = pay("WX_JSAPI", 1);
        op.open_id = Some("o".repeat(129));
        assert!(matches!(
            op.bind_at_once(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "openid",
                max: 128
            })
        ));
        // 3.0-beta carries the openid in extraParam (at most 2048).
        op.bind_at_once(&upstream(Version::V3_0Beta)).unwrap();
        let mut op = pay("WX_NATIVE", 1);
        op.subject = "标".repeat(101);
        assert!(matches!(
            op.bind_at_once(&upstream(Version::V3_0)),
            Err(Failure::TooLong {
                label: "商品标题",
                max: 100
            })
        ));
        let mut op = pay("WX_NATIVE", 1);
        op.ext_param = Some("e".repeat(501));
        assert!(matches!(
            op.bind_at_once(&upstream(Version::V3_0)),
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
