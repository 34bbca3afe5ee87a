//! DaxPay's ground truth, read from the in-process sandbox once the load is over: every pay
//! order and refund it holds for the soak's numbers, and what Jeepay would call their states.
//!
//! On a shared DaxPay identity (2.0) DaxPay's `bizOrderNo` / `bizRefundNo` carry the merchant's
//! order prefix: the records here have it taken off, so that everything judged speaks the
//! merchants' own numbers (as paybridge must answer them).

use std::collections::{HashMap, HashSet};

use paybridge_sandbox::{
    OrderStatus, RefundOrderStatus, RefundStatus, SandboxOrder, SandboxRefund,
};

use super::book::{lock, FieldSet, Op};
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
    /// Refunds DaxPay failed whose failure paybridge may rightly not have notified yet
    /// ([`failure_may_be_withheld`]), by `mchRefundNo`.
    pub(crate) withheld: HashSet<String>,
}

impl Truth {
    pub(crate) fn read(ctx: &Ctx) -> Truth {
        let numbers = lock(&ctx.book.orders).clone();
        let mut orders = HashMap::new();
        let mut order_by_no = HashMap::new();
        let mut merchant_of = HashMap::new();
        // DaxPay's bizOrderNo → (the merchant, its own number).
        let mut own_of = HashMap::new();
        for (merchant, no) in numbers {
            merchant_of.insert(no.clone(), merchant);
            if let Some(mut o) = ctx.dax_order(merchant, &no) {
                own_of.insert(o.biz_order_no.clone(), (merchant, no.clone()));
                o.biz_order_no = no.clone();
                order_by_no.insert(o.order_no.clone(), no.clone());
                orders.insert(no, o);
            }
        }
        let mut refunds = HashMap::new();
        let mut refund_by_no = HashMap::new();
        for mut r in ctx.sandbox.refunds() {
            let Some((merchant, own)) = own_of.get(&r.biz_order_no) else {
                continue;
            };
            let prefix = ctx.dax.prefix(*merchant);
            let Some(own_refund) = r.biz_refund_no.strip_prefix(prefix).map(str::to_owned) else {
                continue;
            };
            r.biz_order_no = own.clone();
            r.biz_refund_no = own_refund;
            refund_by_no.insert(r.refund_no.clone(), r.biz_refund_no.clone());
            refunds.insert(r.biz_refund_no.clone(), r);
        }
        let withheld = refunds
            .values()
            .filter(|r| r.status == RefundOrderStatus::Fail)
            .filter(|r| failure_may_be_withheld(ctx, &r.biz_refund_no))
            .map(|r| r.biz_refund_no.clone())
            .collect();
        Truth {
            orders,
            refunds,
            order_by_no,
            refund_by_no,
            merchant_of,
            withheld,
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

/// Whether paybridge may still be withholding the failure of refund `mch_refund_no`: two or
/// more of its requests (distinct bodies) whose outcome stayed unknown to the merchant. DaxPay
/// failed one of them; another may still land, and DaxPay runs a failed refund again when one
/// does, so paybridge reports the failure only once none can (its attempt window, which on an
/// upstream with no declared request expiry never closes: `notify::settle::MAY_STILL_LAND`,
/// docs/reliability.md). A notification that does come is still judged.
fn failure_may_be_withheld(ctx: &Ctx, mch_refund_no: &str) -> bool {
    let sent = lock(&ctx.book.sent);
    let mut unknown: HashMap<u64, bool> = HashMap::new();
    for s in sent
        .iter()
        .filter(|s| s.op == Op::Refund && s.refund.as_deref() == Some(mch_refund_no))
    {
        *unknown.entry(s.body_group).or_insert(true) &= s.answer.unknown();
    }
    unknown.values().filter(|u| **u).count() >= 2
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
