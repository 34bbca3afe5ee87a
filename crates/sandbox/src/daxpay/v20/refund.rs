//! `POST /unipay/refund` as 2.0.8's `RefundService` runs it (`lifecycle-2.0.md` §5.2, §5.3):
//!
//! 1. the lock of `bizRefundNo` held (a refund still running, [`crate::Sandbox::hold_lock`]):
//!    code 0, `msg` `退款处理中，请勿重复操作`, `refundNo` = the merchant's number;
//!    an existing `bizRefundNo` (the whole instance): not `fail` → shape B
//!    `只有失败状态的才可以重新发起退款`; `fail` → **re-sent with its stored order and amount**
//!    (only `attach`, `clientIp`, `notifyUrl` updated), no pay-order checks;
//! 2. the pay order by non-null `orderNo`, else non-null `bizOrderNo`: none → shape C 10010
//!    `支付订单不存在`; not `success` → `当前支付单订状态[…]不允许发起退款操作` (2.0.8's typo);
//!    `refunding`/`refunded` → `当前支付单退款状态[退款中|全部退款]不允许发起退款操作` (shape B);
//!    `bizRefundNo` equal to one of DaxPay's own `refundNo`s → 10006 `退款单号已存在`; no
//!    `amount` → the unboxing NPE, shape D 10001 `数据错误`; more than the balance → 10006
//!    `退款金额不能大于支付金额` (shape C);
//! 3. the balance is deducted, the order `refunding`, the refund created `progress`;
//! 4. the channel: reason [`crate::REFUND_FAIL`] throws — the refund `fail` with
//!    `errorCode`/`errorMsg`, **the pay order left `refunding` with the balance deducted**;
//!    reason [`crate::REFUND_PENDING`], or a WeChat / UnionPay order (their refunds are
//!    asynchronous in 2.0.8), leaves it `progress`; an Alipay refund succeeds at once (one
//!    refund notice).
//!
//! The answer is `RefundResult {refundNo, bizRefundNo, status}` with **`status` always null**
//! and `msg` the refund's `errorMsg` — stale after a successful re-run, since 2.0.8 never
//! clears it.

use time::{OffsetDateTime, PrimitiveDateTime};

use super::super::result::{wall_clock_at, Member};
use super::super::state::lookup;
use super::super::{lock_refunds, Inner};
use super::answer::Answer;
use super::close::order_key;
use super::wire::{Bound, Declared, Kind, Violations};
use crate::config::SandboxOrder;
use crate::order::{Amount, OrderStatus, RefundOrderStatus, RefundStatus, SandboxRefund};

/// What the sandbox's channel says when it fails a refund.
const REFUND_FAIL_MSG: &str = "沙箱通道模拟退款失败";
/// The channel's error code for it.
const REFUND_FAIL_CODE: &str = "SANDBOX_FAIL";

/// `RefundParam`'s own fields, in declaration order.
pub(super) const DECLARED: Declared = &[
    ("bizRefundNo", Kind::Text),
    ("orderNo", Kind::Text),
    ("bizOrderNo", Kind::Text),
    ("amount", Kind::Int),
    ("extraParam", Kind::Text),
    ("reason", Kind::Text),
    ("attach", Kind::Text),
    ("notifyUrl", Kind::Text),
];

pub(super) fn validate(p: &Bound, v: &mut Violations) {
    v.not_blank(p, "bizRefundNo", "商户退款号不可为空");
    v.at_most(p, "bizRefundNo", 100, "商户退款号不可超过100位");
    v.at_most(p, "orderNo", 32, "支付订单号不可超过32位");
    v.at_most(p, "bizOrderNo", 100, "商户支付订单号不可超过100位");
    v.min(p, "amount", 1, "退款金额至少为0.01元");
    v.at_most(p, "extraParam", 2048, "退款扩展参数不可超过2048位");
    v.at_most(p, "reason", 150, "退款原因不可超过150位");
    v.at_most(p, "attach", 500, "商户扩展参数不可超过500位");
    v.at_most(p, "notifyUrl", 200, "异步通知地址不可超过200位");
}

/// `PayStatusEnum`'s names (2.0.8).
fn pay_status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Progress => "支付中",
        OrderStatus::Success => "成功",
        OrderStatus::Close => "支付关闭",
        OrderStatus::Cancel => "支付撤销",
        OrderStatus::Fail => "失败",
        OrderStatus::Wait => "待支付",
        OrderStatus::Timeout => "支付超时",
    }
}

/// How the fake channel answers a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Fails,
    Pending,
    Succeeds,
}

fn channel_outcome(p: &Bound, channel: &str, held: bool) -> Channel {
    match p.text("reason") {
        Some(crate::REFUND_FAIL) => Channel::Fails,
        Some(crate::REFUND_PENDING) => Channel::Pending,
        _ if held || channel != "ali_pay" => Channel::Pending,
        _ => Channel::Succeeds,
    }
}

impl Inner {
    pub(super) fn refund_v20(&self, p: &Bound, now: OffsetDateTime) -> Answer {
        let wall = wall_clock_at(now, self.utc_offset);
        let held = self.v20.refunds_held();
        let biz = p.text("bizRefundNo").unwrap_or_default();
        if self.v20.locked(biz) {
            // The merchant's number stands in `refundNo` here (§5.2 step 2).
            return Answer::Data {
                msg: Some("退款处理中，请勿重复操作".to_owned()),
                fields: vec![
                    ("refundNo", Member::Text(biz.to_owned())),
                    ("bizRefundNo", Member::Text(biz.to_owned())),
                    ("status", Member::Null),
                ],
            };
        }
        let (answer, notify) = {
            let mut table = self.orders.lock();
            let mut refunds = lock_refunds(&self.orders.refunds);
            let biz_refund_no = p.text("bizRefundNo").unwrap_or_default();
            if let Some(refund) = refunds
                .iter_mut()
                .find(|r| r.biz_refund_no == biz_refund_no)
            {
                if refund.status != RefundOrderStatus::Fail {
                    return Answer::refused("只有失败状态的才可以重新发起退款");
                }
                refund.attach = p.text("attach").map(str::to_owned);
                refund.client_ip = p.text("clientIp").map(str::to_owned);
                refund.notify_url = p.text("notifyUrl").map(str::to_owned);
                let outcome = channel_outcome(p, &refund.channel, held);
                if let Some(entry) = table.get_mut(&refund.order_no) {
                    run_channel(refund, &mut entry.order, outcome, wall);
                }
                (refund_result(refund), refund.clone())
            } else {
                let Some(key) = order_key(p.text("orderNo"), p.text("bizOrderNo")) else {
                    return Answer::missing("支付订单不存在");
                };
                let Some(entry) = lookup(&mut table, key, None) else {
                    return Answer::missing("支付订单不存在");
                };
                let order_id = entry.id;
                let order = &mut entry.order;
                if order.status != OrderStatus::Success {
                    let name = pay_status_name(order.status);
                    return Answer::refused(&format!("当前支付单订状态[{name}]不允许发起退款操作"));
                }
                let busy = match order.refund_status {
                    RefundStatus::Refunded => Some("全部退款"),
                    RefundStatus::Refunding => Some("退款中"),
                    _ => None,
                };
                if let Some(name) = busy {
                    return Answer::refused(&format!(
                        "当前支付单退款状态[{name}]不允许发起退款操作"
                    ));
                }
                if refunds.position_by_no(biz_refund_no).is_some() {
                    return Answer::invalid("退款单号已存在");
                }
                let Some(amount) = p.int("amount") else {
                    return Answer::null_pointer();
                };
                let amount = Amount::from_fen(amount.unsigned_abs());
                let balance = order.refundable_balance();
                if amount > balance {
                    return Answer::invalid("退款金额不能大于支付金额");
                }
                // `preRefundMethod`: deducted and marked before the channel is called.
                order.refundable = Some(Amount::from_fen(balance.fen() - amount.fen()));
                order.refund_status = RefundStatus::Refunding;
                let (refund_no, _) = loop {
                    let (no, seq) = self.order_no_v20('R', OffsetDateTime::now_utc());
                    if refunds.position_by_no(&no).is_none() {
                        break (no, seq);
                    }
                };
                let mut refund = new_refund(order, order_id, refund_no, p, amount);
                // A test's stale `errorMsg` (`Sandbox::set_stale_refund_msg`).
                refund.error_msg = self.v20.stale_msg();
                let outcome = channel_outcome(p, &refund.channel, held);
                run_channel(&mut refund, order, outcome, wall);
                let result = refund_result(&refund);
                refunds.push(refund.clone());
                (result, refund)
            }
        };
        // A success answered at once is notified once (`RefundService.successHandler`).
        self.refund_changed(&notify);
        answer
    }
}

fn new_refund(
    order: &SandboxOrder,
    order_id: u64,
    refund_no: String,
    p: &Bound,
    amount: Amount,
) -> SandboxRefund {
    SandboxRefund {
        app_id: None,
        order_id,
        order_no: order.order_no.clone(),
        out_order_no: order.out_order_no.clone(),
        biz_order_no: order.biz_order_no.clone(),
        title: order.title.clone(),
        refund_no,
        biz_refund_no: p.text("bizRefundNo").unwrap_or_default().to_owned(),
        out_refund_no: None,
        channel: order.channel.clone(),
        order_amount: order.amount,
        amount,
        reason: p.text("reason").map(str::to_owned),
        finish_time: None,
        status: RefundOrderStatus::Progress,
        attach: p.text("attach").map(str::to_owned),
        client_ip: p.text("clientIp").map(str::to_owned),
        error_code: None,
        error_msg: None,
        notify_url: p.text("notifyUrl").map(str::to_owned),
    }
}

/// The channel call and 2.0.8's handling of its outcome. `errorMsg` is never cleared.
fn run_channel(
    refund: &mut SandboxRefund,
    order: &mut SandboxOrder,
    outcome: Channel,
    wall: PrimitiveDateTime,
) {
    match outcome {
        Channel::Fails => {
            refund.status = RefundOrderStatus::Fail;
            refund.error_code = Some(REFUND_FAIL_CODE.to_owned());
            refund.error_msg = Some(REFUND_FAIL_MSG.to_owned());
        }
        Channel::Pending => {
            refund.status = RefundOrderStatus::Progress;
            // UnionPay's strategy sets the finish time although the refund is in progress.
            if refund.channel == "union_pay" {
                refund.finish_time = Some(wall);
            }
        }
        Channel::Succeeds => refund_succeeded(refund, order, wall),
    }
}

/// The refund went through: `success`, the channel's number, the pay order `refunded` or
/// `partial_refund` by what remains.
pub(super) fn refund_succeeded(
    refund: &mut SandboxRefund,
    order: &mut SandboxOrder,
    wall: PrimitiveDateTime,
) {
    refund.status = RefundOrderStatus::Success;
    refund.finish_time = Some(wall);
    if refund.out_refund_no.is_none() {
        refund.out_refund_no = Some(format!("SBX{}", refund.refund_no));
    }
    order.refund_status = if order.refundable_balance() == Amount::ZERO {
        RefundStatus::Refunded
    } else {
        RefundStatus::PartialRefund
    };
}

/// `RefundResult`: `status` is never set by 2.0.8; `msg` is the refund's `errorMsg`.
fn refund_result(refund: &SandboxRefund) -> Answer {
    Answer::Data {
        msg: refund.error_msg.clone(),
        fields: vec![
            ("refundNo", Member::Text(refund.refund_no.clone())),
            ("bizRefundNo", Member::Text(refund.biz_refund_no.clone())),
            ("status", Member::Null),
        ],
    }
}
