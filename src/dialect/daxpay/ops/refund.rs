//! Refund on DaxPay: `/unipay/refund` answered with `RefundResult {refundNo, bizRefundNo, status,
//! errorMsg}` (lifecycle.md §4). A refund whose outcome is unknown is settled by looking the
//! refund up by its merchant number (`/unipay/query/refundOrder`), never the pay order.

use serde_json::Value;

use super::pay_query::owned;
use super::refund_query::refund_status;
use super::{refusal, DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Refund, Refunded};
use crate::domain::order::Fen;
use crate::domain::{Failure, Unknown};

/// DaxPay's `reason` holds at most 150 characters (Jeepay's 256): the rest is cut, as the
/// reason is the merchant's note, not worth refusing a refund Jeepay would take.
const MAX_REASON_CHARS: usize = 150;

impl DaxOp for Refund {
    /// 2.0's refund was not read from source: refused as Jeepay refuses a channel that cannot
    /// refund.
    fn bind(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        if upstream.version == Version::V2_0 {
            return Err(Failure::RefundUnsupported);
        }
        self.amount_text = self.amount.yuan_stripped();
        if let Some((cut, _)) = self.reason.char_indices().nth(MAX_REASON_CHARS) {
            self.reason.truncate(cut);
        }
        Ok(())
    }

    fn client_ip(&self) -> Option<&str> {
        self.client_ip
            .as_deref()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    }

    fn request(&self, _version: Version) -> (DaxCall, Fields<'_>) {
        let fields = Fields::default()
            .text("orderNo", self.order.order_no.as_deref())
            .text("bizOrderNo", self.order.biz_order_no.as_deref())
            .text("bizRefundNo", Some(&self.biz_refund_no))
            .number("amount", &self.amount_text)
            .text("reason", Some(&self.reason))
            .text("attach", self.ext_param.as_deref())
            .text("notifyUrl", self.relay_notify_url.as_deref());
        (DaxCall::Refund, fields)
    }

    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<Refunded, Failure> {
        let required = |key: &str| {
            owned(data, key)
                .ok_or_else(|| upstream.malformed(format!("refund answer has no {key}")))
        };
        Ok(Refunded {
            refund_no: required("refundNo")?,
            biz_refund_no: required("bizRefundNo")?,
            status: refund_status(data, upstream)?,
            error_msg: owned(data, "errorMsg"),
            pay_amount: None,
            refund_amount: self.amount,
            channel_refund_no: None,
        })
    }

    /// lifecycle.md §4's error mapping.
    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        match code {
            10405 | 20041 => Failure::RefundOfUnknownOrder { verified },
            20044 if msg.contains("退款状态[全部退款]") => Failure::FullyRefunded,
            20044 if msg.contains("退款状态[退款中]") => Failure::RefundInProgress,
            // `当前支付单订状态[…]` (sic): the pay order is not paid.
            20044 if msg.contains("订状态[") => Failure::NotRefundable,
            20043 => Failure::RefundInProgress,
            20044 if msg.contains("只有失败状态") => {
                Failure::RefundExists(self.mch_refund_no.clone())
            }
            10506 if msg.contains("退款单号已存在") => {
                Failure::RefundExists(self.mch_refund_no.clone())
            }
            10506 if msg.contains("退款金额不能大于支付金额") => {
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
        let amount = owned(data, "amount").map(|a| Fen::from_yuan(&a));
        if !matches!(amount, Some(Ok(a)) if a == self.amount) {
            return Ok(Unknown::Settled(Err(Failure::RefundExists(
                self.mch_refund_no.clone(),
            ))));
        }
        Ok(Unknown::Settled(Ok(Refunded {
            refund_no: owned(data, "refundNo")
                .ok_or_else(|| upstream.malformed("refund query answer has no refundNo"))?,
            biz_refund_no: self.biz_refund_no.clone(),
            status: refund_status(data, upstream)?,
            error_msg: owned(data, "errorMsg"),
            pay_amount: None,
            refund_amount: self.amount,
            channel_refund_no: owned(data, "outRefundNo"),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use crate::dialect::jeepay::ops::JeepayOp;
    use crate::domain::order::{OrderRef, RefundOrderStatus};
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
