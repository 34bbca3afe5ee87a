//! `POST /unipay/close` and `/unipay/cancel` as 2.0.8's `PayCloseService` / `PayCancelService`
//! run them (`lifecycle-2.0.md` §2.7): the order by non-null `orderNo`, else non-null
//! `bizOrderNo` (`支付订单不存在`); the per-order lock (`支付订单已在关闭中，请勿重复发起` /
//! `…撤销中…`); only a `progress` order (`订单不是支付中, 无法进行关闭订单` / `…撤销订单`);
//! then the channel (`关闭订单失败` / `撤销订单失败`; a WeChat order other than a barcode one
//! cannot be cancelled). Every refusal is shape B; success is an empty signed result, and the
//! order's `close` / `cancel` notice.

use super::super::state::{lookup, OrderKey, Refusal};
use super::super::Inner;
use super::answer::Answer;
use super::wire::{Bound, Declared, Kind, Violations};
use crate::order::OrderStatus;

/// `PayCloseParam` / `PayCancelParam`'s own fields.
pub(super) const DECLARED: Declared = &[("orderNo", Kind::Text), ("bizOrderNo", Kind::Text)];

pub(super) fn validate(p: &Bound, v: &mut Violations) {
    v.at_most(p, "orderNo", 32, "支付订单号不可超过32位");
    v.at_most(p, "bizOrderNo", 100, "商户支付订单号不可超过100位");
}

/// `findByBizOrOrderNo`: the first non-null of the two numbers.
pub(super) fn order_key<'a>(
    order_no: Option<&'a str>,
    biz: Option<&'a str>,
) -> Option<OrderKey<'a>> {
    match (order_no, biz) {
        (Some(no), _) => Some(OrderKey::OrderNo(no)),
        (None, Some(biz)) => Some(OrderKey::BizOrderNo(biz)),
        (None, None) => None,
    }
}

impl Inner {
    pub(super) async fn close_v20(&self, p: &Bound, cancel: bool) -> Answer {
        let (busy, not_progress, failed) = if cancel {
            (
                "支付订单已在撤销中，请勿重复发起",
                "订单不是支付中, 无法进行撤销订单",
                "撤销订单失败",
            )
        } else {
            (
                "支付订单已在关闭中，请勿重复发起",
                "订单不是支付中, 无法进行关闭订单",
                "关闭订单失败",
            )
        };
        let Some(key) = order_key(p.text("orderNo"), p.text("bizOrderNo")) else {
            return Answer::refused("支付订单不存在");
        };
        {
            // The lock is taken before the status is looked at.
            let mut table = self.orders.lock();
            match lookup(&mut table, key, None) {
                None => return Answer::refused("支付订单不存在"),
                Some(entry) if entry.is_closing() || self.v20.close_held(&entry.order.order_no) => {
                    return Answer::refused(busy)
                }
                Some(entry) if entry.order.status != OrderStatus::Progress => {
                    return Answer::refused(not_progress)
                }
                Some(_) => {}
            }
        }
        let closing = match self.orders.begin_close(key, None, self.version, cancel) {
            Ok(closing) => closing,
            Err(Refusal::AlreadyClosing) => return Answer::refused(busy),
            Err(Refusal::NotFound) => return Answer::refused("支付订单不存在"),
            // The channel refuses (`微信当面付订单才可以被撤销` inside, the generic text outside).
            Err(Refusal::CancelUnsupported) => return Answer::refused(failed),
            Err(_) => return Answer::refused(not_progress),
        };
        match closing.finish().await {
            Ok(_) => {
                let mut table = self.orders.lock();
                let order = lookup(&mut table, key, None).map(|e| e.order.clone());
                drop(table);
                if let Some(order) = order {
                    self.order_changed(&order);
                }
                Answer::data(Vec::new())
            }
            Err(_) => Answer::refused(failed),
        }
    }
}
