//! DaxPay's ground truth, read from the in-process sandbox once the load is over: every pay
//! order and refund it holds for the soak's numbers, and what Jeepay would call their states.

use std::collections::HashMap;

use paybridge_sandbox::{
    OrderStatus, RefundOrderStatus, RefundStatus, SandboxOrder, SandboxRefund,
};

use super::book::{lock, FieldSet};
use super::load::Ctx;

pub(crate) struct Truth {
    /// By `bizOrderNo` (the merchant's `mchOrderNo`).
    pub(crate) orders: HashMap<String, SandboxOrder>,
    /// By `bizRefundNo` (the merchant's `mchRefundNo`).
    pub(crate) refunds: HashMap<String, SandboxRefund>,
    pub(crate) order_by_no: HashMap<String, String>,
    pub(crate) refund_by_no: HashMap<String, String>,
    /// Which merchant each `mchOrderNo` belongs to.
    pub(crate) merchant_of: HashMap<String, usize>,
}

impl Truth {
    pub(crate) fn read(ctx: &Ctx) -> Truth {
        let numbers = lock(&ctx.book.orders).clone();
        let mut orders = HashMap::new();
        let mut order_by_no = HashMap::new();
        let mut merchant_of = HashMap::new();
        for (merchant, no) in numbers {
            merchant_of.insert(no.clone(), merchant);
            if let Some(o) = ctx.sandbox.order_by_biz(&no) {
                order_by_no.insert(o.order_no.clone(), no.clone());
                orders.insert(no, o);
            }
        }
        let mut refunds = HashMap::new();
        let mut refund_by_no = HashMap::new();
        for r in ctx.sandbox.refunds() {
            if orders.contains_key(&r.biz_order_no) {
                refund_by_no.insert(r.refund_no.clone(), r.biz_refund_no.clone());
                refunds.insert(r.biz_refund_no.clone(), r);
            }
        }
        Truth {
            orders,
            refunds,
            order_by_no,
            refund_by_no,
            merchant_of,
        }
    }

    pub(crate) fn order_by_no(&self, order_no: &str) -> Option<&SandboxOrder> {
        self.orders.get(self.order_by_no.get(order_no)?)
    }

    pub(crate) fn refund_by_no(&self, refund_no: &str) -> Option<&SandboxRefund> {
        self.refunds.get(self.refund_by_no.get(refund_no)?)
    }

    /// The pay orders DaxPay holds, sorted by number (a stable report).
    pub(crate) fn sorted_orders(&self) -> Vec<&SandboxOrder> {
        let mut all: Vec<&SandboxOrder> = self.orders.values().collect();
        all.sort_by(|a, b| a.biz_order_no.cmp(&b.biz_order_no));
        all
    }

    pub(crate) fn sorted_refunds(&self) -> Vec<&SandboxRefund> {
        let mut all: Vec<&SandboxRefund> = self.refunds.values().collect();
        all.sort_by(|a, b| a.biz_refund_no.cmp(&b.biz_refund_no));
        all
    }
}

/// Jeepay's `state` of a pay order as DaxPay holds it (lifecycle.md §8).
pub(crate) fn pay_state(o: &SandboxOrder) -> &'static str {
    match o.status {
        OrderStatus::Wait => "0",
        OrderStatus::Progress => "1",
        OrderStatus::Success if o.refund_status == RefundStatus::Refunded => "5",
        OrderStatus::Success => "2",
        OrderStatus::Fail => "3",
        OrderStatus::Cancel => "4",
        OrderStatus::Close | OrderStatus::Timeout => "6",
    }
}

/// Jeepay's refund `state` of a refund as DaxPay holds it.
pub(crate) fn refund_state(r: &SandboxRefund) -> &'static str {
    match r.status {
        RefundOrderStatus::Progress => "1",
        RefundOrderStatus::Success => "2",
        RefundOrderStatus::Fail | RefundOrderStatus::Close => "3",
    }
}

/// The field set DaxPay accepted: the one whose `extParam` became the order's `attach`.
pub(crate) fn accepted(ctx: &Ctx, attach: Option<&str>) -> Option<FieldSet> {
    let id = FieldSet::id_of(attach?)?;
    lock(&ctx.book.fieldsets).get(&id).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jeepay_states_of_daxpay_records() {
        let mut o = SandboxOrder::new("P1", "B1", OrderStatus::Success);
        assert_eq!(pay_state(&o), "2");
        o.refund_status = RefundStatus::Refunded;
        assert_eq!(pay_state(&o), "5");
        o.status = OrderStatus::Close;
        assert_eq!(pay_state(&o), "6");
        o.status = OrderStatus::Progress;
        assert_eq!(pay_state(&o), "1");
    }
}
