//! `/api/pay/query`: `QueryPayOrderRQ`, answered with `QueryPayOrderRS` (lifecycle.md §3, §8).

use super::{named_order, JeepayOp};
use crate::config::Merchant;
use crate::dialect::jeepay::envelope::Data;
use crate::dialect::jeepay::params::Request;
use crate::domain::ops::PayQuery;
use crate::domain::order::{OrderRef, PayOrder, PayStatus, RefundStatus};
use crate::domain::{Failure, OpKind};

impl JeepayOp for PayQuery {
    const FIELDS: &'static [&'static str] = &["mchOrderNo", "payOrderId"];

    fn read(
        request: &Request<'_, '_>,
        _kind: OpKind,
        _merchant: &Merchant,
    ) -> Result<Self, Failure> {
        // Jeepay's own text: no space before 不能, unlike close's.
        let order = named_order(request, "mchOrderNo 和 payOrderId不能同时为空")?;
        Ok(PayQuery { order })
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> PayQuery {
        PayQuery {
            order: OrderRef::default(),
        }
    }

    /// `wayCode`, `currency`, `clientIp` and `createdAt` are not known to DaxPay: they come from
    /// paybridge's order store, and are absent for an order made elsewhere. `extParam` is
    /// DaxPay's `attach` (3.x echoes it), else the store's: 2.0.8's query and notices have none.
    fn data(&self, order: &PayOrder, caller: &Merchant) -> Data {
        let kept = order.kept.as_ref();
        Data::new()
            .text("wayCode", kept.map(|k| k.way_code.as_str()))
            .text("currency", kept.map(|k| k.currency.as_str()))
            .text("clientIp", kept.and_then(|k| k.client_ip.as_deref()))
            .int("createdAt", kept.map(|k| k.created_at_ms))
            .text("payOrderId", Some(&order.order_no))
            .text("mchNo", Some(&caller.mch_no))
            .text("appId", Some(&caller.app_id))
            .text("mchOrderNo", Some(&order.biz_order_no))
            .text("ifCode", order.channel.as_deref().map(if_code))
            .int("amount", i64::try_from(order.amount.0).ok())
            .int("state", Some(state(order.status, order.refund_status)))
            .text("subject", order.title.as_deref())
            .text("body", order.description.as_deref())
            .text("channelOrderNo", order.out_order_no.as_deref())
            .text("errCode", order.error_code.as_deref())
            .text("errMsg", order.error_msg.as_deref())
            .text(
                "extParam",
                order
                    .attach
                    .as_deref()
                    .or(kept.and_then(|k| k.ext_param.as_deref())),
            )
            .int("successTime", order.paid_at_ms)
    }
}

/// Jeepay's order state for a DaxPay status (lifecycle.md §8): a fully refunded success is 5.
pub fn state(status: PayStatus, refund: Option<RefundStatus>) -> i64 {
    match status {
        PayStatus::Wait => 0,
        PayStatus::Progress => 1,
        PayStatus::Success if refund == Some(RefundStatus::Refunded) => 5,
        PayStatus::Success => 2,
        PayStatus::Fail => 3,
        PayStatus::Cancel => 4,
        PayStatus::Close | PayStatus::Timeout => 6,
    }
}

/// Jeepay's `ifCode` for a DaxPay channel; a channel Jeepay has no interface for keeps its name.
pub fn if_code(channel: &str) -> &str {
    match channel {
        "ali_pay" | "alipay_isv" => "alipay",
        "wechat_pay" | "wechat_pay_isv" => "wxpay",
        "union_pay" => "ysfpay",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_table_of_lifecycle_8() {
        use PayStatus::*;
        for (status, refund, expected) in [
            (Wait, None, 0),
            (Progress, None, 1),
            (Success, Some(RefundStatus::NoRefund), 2),
            (Success, Some(RefundStatus::Refunding), 2),
            (Success, Some(RefundStatus::PartialRefund), 2),
            (Success, Some(RefundStatus::Refunded), 5),
            (Success, None, 2),
            (Fail, None, 3),
            (Cancel, None, 4),
            (Close, None, 6),
            (Timeout, None, 6),
        ] {
            assert_eq!(state(status, refund), expected, "{status:?} {refund:?}");
        }
    }

    #[test]
    fn channels_become_jeepay_interfaces() {
        assert_eq!(if_code("ali_pay"), "alipay");
        assert_eq!(if_code("wechat_pay_isv"), "wxpay");
        assert_eq!(if_code("union_pay"), "ysfpay");
        assert_eq!(if_code("leshua_pay"), "leshua_pay");
    }
}
