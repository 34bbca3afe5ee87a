//! `POST /unipay/query/payOrder` and `/unipay/query/refundOrder` as 2.0.8 answers them
//! (`lifecycle-2.0.md` §4, §6), and the two results they share with the notices:
//! `PayOrderResult` and `RefundOrderResult`, amounts in fen, times in epoch seconds.
//!
//! While a change is not yet "committed" (`callback_before_commit_ms`, [`super::hooks`]),
//! both queries answer the state before it.

use super::super::result::{Member, Typed};
use super::super::state::lookup;
use super::super::Inner;
use super::answer::Answer;
use super::close::order_key;
use super::epoch_of;
use super::wire::{is_blank, Bound, Declared, Kind, Violations};
use crate::config::SandboxOrder;
use crate::order::SandboxRefund;
use time::UtcOffset;

/// `QueryPayParam`'s own fields (the typo is 2.0.8's).
pub(super) const PAY_DECLARED: Declared = &[("orderNo", Kind::Text), ("bizOrderNoeNo", Kind::Text)];

/// `QueryRefundParam`'s own fields.
pub(super) const REFUND_DECLARED: Declared =
    &[("refundNo", Kind::Text), ("bizRefundNo", Kind::Text)];

pub(super) fn validate_pay(p: &Bound, v: &mut Violations) {
    v.at_most(p, "orderNo", 32, "支付订单号不可超过32位");
    v.at_most(p, "bizOrderNoeNo", 100, "商户支付订单号不可超过100位");
}

pub(super) fn validate_refund(p: &Bound, v: &mut Violations) {
    v.at_most(p, "refundNo", 100, "退款号不可超过100位");
    v.at_most(p, "bizRefundNo", 100, "商户退款号不可超过100位");
}

fn text(value: Option<&str>) -> Member {
    value.map_or(Member::Null, |v| Member::Text(v.to_owned()))
}

fn time(value: Option<time::PrimitiveDateTime>, offset: UtcOffset) -> Member {
    value.map_or(Member::Null, |t| Member::Integer(epoch_of(t, offset)))
}

/// `PayOrderResult` (after the common four), as `PayOrderConvert` fills it.
pub(crate) fn pay_order_result(o: &SandboxOrder, offset: UtcOffset) -> Typed {
    vec![
        ("bizOrderNo", Member::Text(o.biz_order_no.clone())),
        ("orderNo", Member::Text(o.order_no.clone())),
        ("outOrderNo", text(o.out_order_no.as_deref())),
        ("title", text(o.title.as_deref())),
        ("description", text(o.description.as_deref())),
        ("allocation", Member::Bool(o.allocation)),
        // Not stored by `createPayOrder`: null for orders made through the API.
        ("autoAllocation", Member::Null),
        ("channel", Member::Text(o.channel.clone())),
        ("method", Member::Text(o.method.clone())),
        ("amount", Member::Integer(o.amount.fen())),
        (
            "refundableBalance",
            Member::Integer(o.refundable_balance().fen()),
        ),
        ("status", Member::Text(o.status.as_str().to_owned())),
        (
            "refundStatus",
            Member::Text(o.refund_status.as_str().to_owned()),
        ),
        ("allocStatus", Member::Null),
        ("payTime", time(o.pay_time, offset)),
        ("expiredTime", time(o.expired_time, offset)),
        ("closeTime", time(o.close_time, offset)),
        ("errorCode", text(o.error_code.as_deref())),
        ("errorMsg", text(o.error_msg.as_deref())),
    ]
}

/// `RefundOrderResult` (after the common four), as `RefundOrderConvert` fills it.
pub(crate) fn refund_order_result(r: &SandboxRefund, offset: UtcOffset) -> Typed {
    vec![
        ("orderNo", Member::Text(r.order_no.clone())),
        ("bizOrderNo", Member::Text(r.biz_order_no.clone())),
        ("outOrderNo", text(r.out_order_no.as_deref())),
        ("title", text(r.title.as_deref())),
        ("refundNo", Member::Text(r.refund_no.clone())),
        ("bizRefundNo", Member::Text(r.biz_refund_no.clone())),
        ("outRefundNo", text(r.out_refund_no.as_deref())),
        ("channel", Member::Text(r.channel.clone())),
        ("orderAmount", Member::Integer(r.order_amount.fen())),
        ("amount", Member::Integer(r.amount.fen())),
        ("reason", text(r.reason.as_deref())),
        // The entity has no such field: always null.
        ("refundTime", Member::Null),
        ("finishTime", time(r.finish_time, offset)),
        ("status", Member::Text(r.status.as_str().to_owned())),
        ("errorCode", text(r.error_code.as_deref())),
        ("errorMsg", text(r.error_msg.as_deref())),
    ]
}

impl Inner {
    /// `PayOrderQueryService.queryPayOrder`.
    pub(super) fn query_pay_v20(&self, p: &Bound) -> Answer {
        let biz = p.text("bizOrderNoeNo");
        if biz.is_none_or(is_blank) && p.text("orderNo").is_none() {
            return Answer::invalid("业务号或支付单ID不能都为空");
        }
        let Some(key) = order_key(p.text("orderNo"), biz) else {
            return Answer::refused("支付订单不存在");
        };
        let found = {
            let mut table = self.orders.lock();
            lookup(&mut table, key, None).map(|e| e.order.clone())
        };
        match found {
            Some(order) => {
                let order = self.uncommitted_order(order);
                Answer::data(pay_order_result(&order, self.utc_offset))
            }
            None => Answer::refused("支付订单不存在"),
        }
    }

    /// `RefundOrderQueryService.queryRefundOrder`: non-blank `refundNo`, else non-blank
    /// `bizRefundNo`, both looked up across the whole instance.
    pub(super) fn query_refund_v20(&self, p: &Bound) -> Answer {
        if p.text("refundNo").is_none_or(is_blank) && p.text("bizRefundNo").is_none() {
            return Answer::invalid("退款号或商户退款号不能都为空");
        }
        let found = {
            let refunds = super::super::lock_refunds(&self.orders.refunds);
            match (p.filled("refundNo"), p.filled("bizRefundNo")) {
                (Some(no), _) => refunds.iter().find(|r| r.refund_no == no).cloned(),
                (None, Some(biz)) => refunds.iter().find(|r| r.biz_refund_no == biz).cloned(),
                (None, None) => None,
            }
        };
        match found {
            Some(refund) => {
                let refund = self.uncommitted_refund(refund);
                Answer::data(refund_order_result(&refund, self.utc_offset))
            }
            None => Answer::refused("退款订单不存在"),
        }
    }
}
