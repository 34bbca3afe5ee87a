//! Refund on DaxPay: `/unipay/refund` answered with `RefundResult {refundNo, bizRefundNo, status,
//! errorMsg}` (lifecycle.md §4). A refund whose outcome is unknown is settled by looking the
//! refund up by its merchant number (`/unipay/query/refundOrder`), never the pay order.
//! 2.0.8 (lifecycle-2.0.md §5) takes integer fen and answers **without a status** (and with a
//! `msg` that may be stale): its outcome is always that refund query's, never the answer's.
//! `RefundParam`'s length limits are checked before the call ([`refund_limits`]).

use serde_json::Value;

use super::limits::{java_len, label, limit, Limit};
use super::pay_query::{amount, owned};
use super::refund_query::{refund_error, refund_error_code, refund_status};
use super::{refusal, DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Refund, Refunded};
use crate::domain::{Failure, Unknown};

/// DaxPay's `reason` holds at most 150 characters (Jeepay's 256): the rest is cut, as the
/// reason is the merchant's note, not worth refusing a refund Jeepay would take. Counted as
/// DaxPay counts (UTF-16 units), never cutting a character in two.
const MAX_REASON_UNITS: usize = 150;

/// `RefundParam` in 3.0.0 (`DXC/param/trade/refund/RefundParam.java`); 3.0.0-beta4 takes an
/// `orderNo` of at most 32. Every text field paybridge sends.
fn refund_limits(version: Version) -> &'static [Limit] {
    const COMMON: [Limit; 5] = [
        limit("bizOrderNo", 100, label::MCH_ORDER_NO),
        limit("bizRefundNo", 100, label::MCH_REFUND_NO),
        limit("reason", MAX_REASON_UNITS, label::REFUND_REASON),
        limit("attach", 500, label::EXT_PARAM),
        limit("notifyUrl", 200, label::NOTIFY_URL),
    ];
    const V3_0: [Limit; 6] = with_order_no(100, COMMON);
    const BEFORE_3_0: [Limit; 6] = with_order_no(32, COMMON);
    match version {
        Version::V3_0 => &V3_0,
        Version::V3_0Beta | Version::V2_0 => &BEFORE_3_0,
    }
}

const fn with_order_no(max: usize, common: [Limit; 5]) -> [Limit; 6] {
    let [a, b, c, d, e] = common;
    [limit("orderNo", max, label::PAY_ORDER_ID), a, b, c, d, e]
}

impl DaxOp for Refund {
    fn limits(version: Version) -> &'static [Limit] {
        refund_limits(version)
    }

    /// A shared identity's prefix, before the merchant's refund number (and its order number,
    /// prefixed alike).
    fn added_units(&self, field: &str) -> usize {
        match field {
            "bizRefundNo" | "bizOrderNo" => {
                java_len(&self.biz_refund_no).saturating_sub(java_len(&self.mch_refund_no))
            }
            _ => 0,
        }
    }

    /// The amount in the upstream's unit: yuan in 3.x, an `Integer` of fen in 2.0.8 (more does
    /// not bind there: refused as Jeepay words an amount over its range).
    fn fit(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        self.amount_text = match upstream.version {
            Version::V2_0 if self.amount.0 > i32::MAX as u64 => {
                return Err(Failure::Invalid {
                    kind: "amount_too_large",
                    words: "退款金额超出上限[最多2147483647分]",
                })
            }
            Version::V2_0 => self.amount.0.to_string(),
            Version::V3_0 | Version::V3_0Beta => self.amount.yuan_stripped(),
        };
        truncate_units(&mut self.reason, MAX_REASON_UNITS);
        Ok(())
    }

    fn client_ip(&self) -> Option<&str> {
        self.client_ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    }

    fn request(&self, version: Version) -> (DaxCall, Fields<'_>) {
        // 2.0.8's `RefundParam` declares the refund number first (§5.1).
        let leading = match version {
            Version::V2_0 => Some(self.biz_refund_no.as_str()),
            Version::V3_0 | Version::V3_0Beta => None,
        };
        let trailing = match version {
            Version::V2_0 => None,
            Version::V3_0 | Version::V3_0Beta => Some(self.biz_refund_no.as_str()),
        };
        let fields = Fields::default()
            .text("bizRefundNo", leading)
            .text("orderNo", self.order.order_no.as_deref())
            .text("bizOrderNo", self.order.biz_order_no.as_deref())
            .text("bizRefundNo", trailing)
            .number("amount", &self.amount_text)
            .text("reason", Some(&self.reason))
            .text("attach", self.ext_param.as_deref())
            .text("notifyUrl", self.relay_notify_url.as_deref());
        (DaxCall::Refund, fields)
    }

    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<Refunded, Failure> {
        if upstream.version == Version::V2_0 {
            return Err(self.outcome_2_0(data, upstream));
        }
        let required = |key: &str| {
            owned(data, key)
                .ok_or_else(|| upstream.malformed(format!("refund answer has no {key}")))
        };
        Ok(Refunded {
            refund_no: required("refundNo")?,
            biz_refund_no: required("bizRefundNo")?,
            status: refund_status(data, upstream)?,
            error_code: None,
            error_msg: owned(data, "errorMsg"),
            pay_amount: None,
            refund_amount: self.amount,
            channel_refund_no: None,
            repeated: false,
        })
    }

    /// lifecycle.md §4's error mapping; 2.0.8's (lifecycle-2.0.md §5.4): its shape-B texts come
    /// with their codes given back (`answer::code_of_2_0`), its "no such pay order" is 10010
    /// and its balance and number checks are 10006.
    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        match code {
            10405 | 20041 => Failure::RefundOfUnknownOrder { verified },
            10010 if msg.contains("支付订单不存在") => {
                Failure::RefundOfUnknownOrder { verified }
            }
            20044 if msg.contains("退款状态[全部退款]") => Failure::FullyRefunded,
            20044 if msg.contains("退款状态[退款中]") => Failure::RefundInProgress,
            // `当前支付单订状态[…]` (sic): the pay order is not paid.
            20044 if msg.contains("订状态[") => Failure::NotRefundable,
            20043 => Failure::RefundInProgress,
            20044 if msg.contains("只有失败状态") => {
                Failure::RefundExists(self.mch_refund_no.clone())
            }
            10506 | 10006 if msg.contains("退款单号已存在") => {
                Failure::RefundExists(self.mch_refund_no.clone())
            }
            10506 | 10006 if msg.contains("退款金额不能大于支付金额") => {
                Failure::RefundOverBalance
            }
            _ => refusal(code, msg, verified, upstream),
        }
    }

    fn probe(&self, _version: Version) -> (DaxCall, Fields<'_>) {
        (
            DaxCall::RefundQuery,
            Fields::default().text("bizRefundNo", Some(&self.biz_refund_no)),
        )
    }

    /// A refund found under this request's number was made by it (the order store lets one
    /// request through per number): its state answers.
    fn settle(
        &self,
        found: Option<&Value>,
        upstream: &Upstream<'_>,
    ) -> Result<Unknown<Refunded>, Failure> {
        let Some(data) = found else {
            return Ok(Unknown::StillUnknown);
        };
        // A refund of another amount under this number is an earlier request's, not this one.
        let refunded = owned(data, "amount").map(|a| amount(&a, upstream));
        if !matches!(refunded, Some(Ok(a)) if a == self.amount) {
            return Ok(Unknown::Settled(Err(Failure::RefundExists(
                self.mch_refund_no.clone(),
            ))));
        }
        let status = refund_status(data, upstream)?;
        Ok(Unknown::Settled(Ok(Refunded {
            refund_no: owned(data, "refundNo")
                .ok_or_else(|| upstream.malformed("refund query answer has no refundNo"))?,
            biz_refund_no: self.biz_refund_no.clone(),
            status,
            error_code: refund_error_code(data, status, upstream),
            error_msg: refund_error(data, status, upstream),
            // 2.0.8's `orderAmount` is exact fen; 3.0 truncates it (never read there).
            pay_amount: match upstream.version {
                Version::V2_0 => owned(data, "orderAmount").and_then(|a| amount(&a, upstream).ok()),
                Version::V3_0 | Version::V3_0Beta => None,
            },
            refund_amount: self.amount,
            channel_refund_no: owned(data, "outRefundNo"),
            repeated: false,
        })))
    }
}

impl Refund {
    /// 2.0.8's refund answer (§5.3): `status` is never set and `msg` can be stale, so it says
    /// only whether a refund order exists. `退款处理中，请勿重复操作`: another request holds the
    /// number's lock (no refund of this request's); anything else: DaxPay made a refund order,
    /// whose outcome is its refund query's — an outcome pending until then, settled by the
    /// lookup ([`DaxOp::probe`], [`DaxOp::settle`]). Should that lookup fail, the verified
    /// answer's `refundNo` (for this request's `bizRefundNo`) still proves the refund exists:
    /// it is kept in the failure, and the refund answered in progress under that number
    /// (`proxy::records::refund`); without it, the merchant is told to query.
    fn outcome_2_0(&self, data: &Value, upstream: &Upstream<'_>) -> Failure {
        if owned(data, "msg").as_deref() == Some("退款处理中，请勿重复操作") {
            return Failure::RefundInProgress;
        }
        let ours = owned(data, "bizRefundNo").as_deref() == Some(self.biz_refund_no.as_str());
        Failure::RefundOutcomePending {
            upstream: upstream.name.to_owned(),
            refund_no: owned(data, "refundNo").filter(|no| ours && !no.trim().is_empty()),
        }
    }
}

/// `text` cut to at most `max` UTF-16 units, at a character boundary.
fn truncate_units(text: &mut String, max: usize) {
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > max {
            text.truncate(at);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use crate::dialect::jeepay::ops::JeepayOp;
    use crate::domain::order::{Fen, OrderRef, RefundOrderStatus};
    use crate::domain::OpKind;
    use time::UtcOffset;

    fn refund() -> Refund {
        let mut r = Refund::sample(OpKind::Refund, &crate::config::test_merchant());
        r.order = OrderRef::new(Some("P1"), None);
        r.mch_refund_no = "R1".into();
        r.biz_refund_no = "R1".into();
        r.amount = Fen(1230);
        r.reason = "退".repeat(200);
        r
    }

    #[test]
    fn the_request_in_yuan_with_the_reason_cut_to_150() {
        let mut op = refund();
        let upstream = Upstream {
            name: "dax",
            version: Version::V3_0,
            utc_offset: UtcOffset::UTC,
        };
        op.bind(&upstream).unwrap();
        let (call, fields) = op.request(Version::V3_0);
        assert_eq!(call, DaxCall::Refund);
        assert_eq!(fields.get("amount"), Some(Field::Number("12.3")));
        assert_eq!(fields.get("bizOrderNo"), None);
        assert_eq!(op.reason.chars().count(), 150);
        let (probe, fields) = op.probe(Version::V3_0);
        assert_eq!(probe, DaxCall::RefundQuery);
        assert_eq!(fields.get("bizRefundNo"), Some(Field::Text("R1")));
    }

    #[test]
    fn the_reason_is_cut_in_utf16_units_and_numbers_over_the_limit_refused() {
        let upstream = Upstream {
            name: "dax",
            version: Version::V3_0,
            utc_offset: UtcOffset::UTC,
        };
        let mut op = refund();
        // 100 characters outside the BMP: 200 units to DaxPay, cut to 75 characters.
        op.reason = "😀".repeat(100);
        op.bind(&upstream).unwrap();
        assert_eq!(op.reason.chars().count(), 75);
        let mut op = refund();
        op.mch_refund_no = "R".repeat(96);
        op.biz_refund_no = format!("shop-{}", op.mch_refund_no);
        assert!(matches!(
            op.bind(&upstream),
            Err(Failure::TooLong {
                label: "商户退款单号",
                max: 95
            })
        ));
        let mut op = refund();
        op.order = OrderRef::new(Some(&"P".repeat(33)), None);
        op.bind(&upstream).unwrap();
        let beta = Upstream {
            version: Version::V3_0Beta,
            ..upstream
        };
        assert!(matches!(
            op.bind(&beta),
            Err(Failure::TooLong {
                label: "支付系统订单号",
                max: 32
            })
        ));
    }

    #[test]
    fn version_2_refunds_in_fen_and_learns_the_outcome_by_query() {
        let v2 = Upstream {
            name: "dax",
            version: Version::V2_0,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
        };
        let mut op = refund();
        op.bind(&v2).unwrap();
        let (call, fields) = op.request(Version::V2_0);
        assert_eq!(call, DaxCall::Refund);
        assert_eq!(fields.get("amount"), Some(Field::Number("1230")));
        assert_eq!(fields.iter().next().map(|(k, _)| k), Some("bizRefundNo"));
        assert_eq!(
            fields.iter().filter(|(k, _)| *k == "bizRefundNo").count(),
            1
        );
        // The answer never carries a status: the outcome is the query's.
        let answer: Value = serde_json::from_str(
            r#"{"code":0,"msg":"余额不足","resTime":1,"sign":"s","refundNo":"R9","bizRefundNo":"R1","status":null}"#,
        )
        .unwrap();
        let unknown = op.outcome(&answer, &v2).unwrap_err();
        assert!(op.settled_by_query(&unknown), "{unknown}");
        // The verified answer names the refund DaxPay made: kept, to be answered in progress.
        assert!(
            matches!(&unknown, Failure::RefundOutcomePending { refund_no: Some(no), .. } if no == "R9"),
            "{unknown}"
        );
        // Not this request's number, or no number: nothing proves which refund exists.
        for other in [
            r#"{"code":0,"msg":null,"refundNo":"R9","bizRefundNo":"R2","status":null}"#,
            r#"{"code":0,"msg":null,"refundNo":null,"bizRefundNo":"R1","status":null}"#,
            r#"{"code":0,"msg":null,"refundNo":"R9","status":null}"#,
        ] {
            let answer: Value = serde_json::from_str(other).unwrap();
            assert!(
                matches!(
                    op.outcome(&answer, &v2),
                    Err(Failure::RefundOutcomePending {
                        refund_no: None,
                        ..
                    })
                ),
                "{other}"
            );
        }
        let busy: Value =
            serde_json::from_str(r#"{"code":0,"msg":"退款处理中，请勿重复操作","refundNo":"R1"}"#)
                .unwrap();
        assert!(matches!(
            op.outcome(&busy, &v2),
            Err(Failure::RefundInProgress)
        ));
        let queried: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","orderAmount":5000,"amount":1230,"status":"fail","errorCode":"40004","errorMsg":"x"}"#,
        )
        .unwrap();
        let Unknown::Settled(Ok(done)) = op.settle(Some(&queried), &v2).unwrap() else {
            panic!("settled")
        };
        assert_eq!(done.status, RefundOrderStatus::Fail);
        assert_eq!(done.pay_amount, Some(Fen(5000)));
        assert_eq!(done.error_msg.as_deref(), Some("x"));
        assert_eq!(done.error_code.as_deref(), Some("40004"));
        // 2.0.8 never clears `errorMsg`: a success keeps an old failure's, never told.
        let stale: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","orderAmount":5000,"amount":1230,"status":"success","errorCode":"40004","errorMsg":"余额不足"}"#,
        )
        .unwrap();
        let Unknown::Settled(Ok(done)) = op.settle(Some(&stale), &v2).unwrap() else {
            panic!("settled")
        };
        assert_eq!(
            (done.status, done.error_code, done.error_msg),
            (RefundOrderStatus::Success, None, None)
        );
        let other: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","amount":1,"status":"success"}"#,
        )
        .unwrap();
        assert!(matches!(
            op.settle(Some(&other), &v2).unwrap(),
            Unknown::Settled(Err(Failure::RefundExists(_)))
        ));
        let mut huge = refund();
        huge.amount = Fen(2_147_483_648);
        assert!(matches!(huge.bind(&v2), Err(Failure::Invalid { .. })));
        let said = |code, msg: &str| op.refusal(code, msg.into(), true, "u");
        assert!(matches!(
            said(10010, "支付订单不存在"),
            Failure::RefundOfUnknownOrder { verified: true }
        ));
        assert!(!matches!(
            said(10010, "微信支付配置不存在"),
            Failure::RefundOfUnknownOrder { .. }
        ));
        assert!(matches!(
            said(10006, "验证参数错误\n退款金额不能大于支付金额"),
            Failure::RefundOverBalance
        ));
    }

    #[test]
    fn refusals_in_jeepay_terms() {
        let op = refund();
        let said = |code, msg: &str| op.refusal(code, msg.into(), true, "u");
        assert!(matches!(
            said(10405, "支付订单不存在"),
            Failure::RefundOfUnknownOrder { verified: true }
        ));
        assert!(matches!(
            said(20044, "当前支付单订状态[支付中]不允许发起退款操作"),
            Failure::NotRefundable
        ));
        assert!(matches!(
            said(20044, "当前支付单退款状态[全部退款]不允许发起退款操作"),
            Failure::FullyRefunded
        ));
        assert!(matches!(
            said(20044, "当前支付单退款状态[退款中]不允许发起退款操作"),
            Failure::RefundInProgress
        ));
        assert!(matches!(
            said(20043, "退款处理中，请勿重复操作"),
            Failure::RefundInProgress
        ));
        assert!(
            matches!(said(20044, "只有失败状态的才可以重新发起退款"), Failure::RefundExists(n) if n == "R1")
        );
        assert!(matches!(
            said(10506, "验证参数错误\n退款单号已存在"),
            Failure::RefundExists(_)
        ));
        assert!(matches!(
            said(10506, "退款金额不能大于支付金额"),
            Failure::RefundOverBalance
        ));
        assert!(matches!(said(20052, "签名失败"), Failure::Rejected { .. }));
        let data: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","status":"fail","errorMsg":"x"}"#,
        )
        .unwrap();
        let upstream = Upstream {
            name: "dax",
            version: Version::V3_0,
            utc_offset: UtcOffset::UTC,
        };
        let done = op.outcome(&data, &upstream).unwrap();
        assert_eq!(done.status, RefundOrderStatus::Fail);
        assert_eq!(done.refund_amount, Fen(1230));
    }
}
