//! `/api/refund/refundOrder`: `RefundOrderRQ`, answered with `RefundOrderRS` (lifecycle.md §4).
//! The fields' own checks, then the either-or order number and the notify URL's scheme, as
//! Jeepay's controller; a repeated `mchRefundNo` is found in the order store.

use super::pay::{allowed_host, fen, no_controls, optional, required, url, NOTIFY_URL_CONTROLS};
use super::{named_order, JeepayOp};
use crate::config::Merchant;
use crate::dialect::jeepay::envelope::Data;
use crate::dialect::jeepay::params::Request;
use crate::domain::ops::{Refund, Refunded};
use crate::domain::order::{Fen, OrderRef, RefundOrderStatus};
use crate::domain::{Failure, OpKind};

impl JeepayOp for Refund {
    const FIELDS: &'static [&'static str] = &[
        "mchOrderNo",
        "payOrderId",
        "mchRefundNo",
        "refundAmount",
        "currency",
        "refundReason",
        "clientIp",
        "notifyUrl",
        "channelExtra",
        "extParam",
    ];

    fn read(
        request: &Request<'_, '_>,
        _kind: OpKind,
        merchant: &Merchant,
    ) -> Result<Refund, Failure> {
        let mch_refund_no = required(request, "mchRefundNo", "商户退款单号不能为空")?;
        let amount = fen(
            request.field("refundAmount"),
            "退款金额不能为空",
            "退款金额请大于1分",
        )?;
        let currency = required(request, "currency", "货币代码不能为空")?;
        let reason = required(request, "refundReason", "退款原因不能为空")?;
        let order = named_order(request, "mchOrderNo 和 payOrderId不能同时为空")?;
        let notify_url = url(
            request,
            "notifyUrl",
            "异步通知地址协议仅支持http:// 或 https:// !",
        )?;
        no_controls(notify_url.as_deref(), NOTIFY_URL_CONTROLS)?;
        allowed_host(merchant, notify_url.as_deref())?;
        if !currency.eq_ignore_ascii_case("cny") {
            return Err(Failure::Invalid {
                kind: "currency",
                words: "不支持的货币代码，仅支持cny",
            });
        }
        let amount = crate::domain::ops::Pay::check_amount(amount)?;
        Ok(Refund {
            order,
            mch_refund_no: mch_refund_no.to_owned(),
            biz_refund_no: merchant.daxpay.number(mch_refund_no),
            amount,
            currency: currency.to_owned(),
            reason: reason.to_owned(),
            client_ip: optional(request, "clientIp"),
            notify_url,
            ext_param: optional(request, "extParam"),
            amount_text: String::new(),
            relay_notify_url: None,
        })
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> Refund {
        Refund {
            order: OrderRef::default(),
            mch_refund_no: String::new(),
            biz_refund_no: String::new(),
            amount: Fen(1),
            currency: "cny".to_owned(),
            reason: String::new(),
            client_ip: None,
            notify_url: None,
            ext_param: None,
            amount_text: String::new(),
            relay_notify_url: None,
        }
    }

    fn data(&self, refunded: &Refunded, _caller: &Merchant) -> Data {
        Data::new()
            .text("refundOrderId", Some(&refunded.refund_no))
            .text("mchRefundNo", Some(&self.mch_refund_no))
            .int("payAmount", refunded.pay_amount.and_then(fen_value))
            .int("refundAmount", fen_value(refunded.refund_amount))
            .int("state", Some(refund_state(refunded.status)))
            .text("channelOrderNo", refunded.channel_refund_no.as_deref())
            .text("errCode", refunded.error_code.as_deref())
            .text("errMsg", refunded.error_msg.as_deref())
    }
}

/// Jeepay's refund state for a DaxPay refund status (lifecycle.md §8): a channel's failure and a
/// closed refund are both Jeepay's 3.
pub fn refund_state(status: RefundOrderStatus) -> i64 {
    match status {
        RefundOrderStatus::Progress => 1,
        RefundOrderStatus::Success => 2,
        RefundOrderStatus::Fail | RefundOrderStatus::Close => 3,
    }
}

pub(super) fn fen_value(amount: Fen) -> Option<i64> {
    i64::try_from(amount.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_states_of_lifecycle_8() {
        assert_eq!(refund_state(RefundOrderStatus::Progress), 1);
        assert_eq!(refund_state(RefundOrderStatus::Success), 2);
        assert_eq!(refund_state(RefundOrderStatus::Fail), 3);
        assert_eq!(refund_state(RefundOrderStatus::Close), 3);
    }
}
