//! `POST /unipay/sync/pay` and `/unipay/sync/refund` as 2.0.8 runs them
//! (`lifecycle-2.0.md` §7.5 item 3; read at tag 2.0.8: `UniPaySyncController`, `PaySyncService`,
//! `PayRepairService`, `RefundSyncService`, `RefundRepairService`), with the sandbox's channel.
//!
//! **Pay** (`PaySyncParam {orderNo ≤ 32, bizOrderNo ≤ 100}`): the order by non-null `orderNo`,
//! else non-null `bizOrderNo`; none → shape B `支付订单不存在`. The channel is asked
//! ([`V20State::pay_at_channel`]): its query failing → shape B with its words
//! (`OperationFailException`; nothing changes). Then `checkAndAdjustSyncStatus`:
//! - channel paid, order `success` → nothing; channel `progress`, order `progress` → nothing
//!   unless the order is expired (`expiredTime <= now`): then `pay_timeout` and the order is
//!   closed (`CLOSE_GATEWAY`); channel closed, order `close`/`cancel` → nothing;
//! - an order with a refund, or the channel saying `pay_refund` → nothing;
//! - otherwise repaired: channel paid → `success` with the channel's pay time and number
//!   (`PAY_SUCCESS`); channel closed → `close` (`CLOSE_LOCAL`);
//! - every repair registers a pay notice with the order as it now is.
//!
//! The answer is `PaySyncResult {status}`: the channel's word (`pay_success`, `pay_progress`,
//! `pay_closed`, `pay_refund`, `pay_timeout`), never the order's status.
//!
//! **Refund** (`RefundSyncParam {refundNo ≤ 100, bizRefundNo ≤ 100}`): non-blank `refundNo`,
//! else non-blank `bizRefundNo`; none → shape B `未查询到退款订单`; a refund already `close` →
//! `status: "close"` and nothing asked. The channel: its query failing, or Alipay's refund query
//! not saying success (`支付宝网关退款未成功`) → shape B. Then `checkSyncStatus`: the same state
//! on both sides → nothing; channel succeeded → the refund `success` with the channel's finish
//! time, the pay order `refunded` / `partial_refund`, and **two** refund notices
//! (`RefundRepairService.success()` and `repair()` each register one); the channel does not know
//! the refund (a synchronous `fail`: it never reached it) → `pay_not_found`, the refund `close`
//! and its amount back on the order (when that makes the whole amount refundable again, 2.0.8
//! sets the order's *status* to `success` and leaves `refundStatus` as it was), one notice.
//!
//! A sync answers after its transaction committed: the queries see its change at once.

use time::PrimitiveDateTime;

use super::super::result::{wall_clock_at, Member};
use super::super::state::lookup;
use super::super::{lock_refunds, Inner};
use super::answer::Answer;
use super::close::order_key;
use super::hooks::V20State;
use super::refund::refund_succeeded;
use super::wire::{Bound, Declared, Kind, Violations};
use crate::config::SandboxOrder;
use crate::order::{Amount, OrderStatus, RefundOrderStatus, RefundStatus, SandboxRefund};

/// `PaySyncParam`'s own fields.
pub(super) const PAY_DECLARED: Declared = &[("orderNo", Kind::Text), ("bizOrderNo", Kind::Text)];

/// `RefundSyncParam`'s own fields.
pub(super) const REFUND_DECLARED: Declared =
    &[("refundNo", Kind::Text), ("bizRefundNo", Kind::Text)];

/// What the sandbox's channel says when its query fails ([`crate::Sandbox::fail_channel_queries`]).
pub(crate) const CHANNEL_QUERY_FAIL_MSG: &str = "沙箱通道查询失败";

/// `AliPaySyncService.syncRefundStatus` for anything but a refund Alipay reports done.
const ALIPAY_REFUND_NOT_DONE: &str = "支付宝网关退款未成功";

pub(super) fn validate_pay(p: &Bound, v: &mut Violations) {
    v.at_most(p, "orderNo", 32, "支付订单号不可超过32位");
    v.at_most(p, "bizOrderNo", 100, "商户支付订单号不可超过100位");
}

pub(super) fn validate_refund(p: &Bound, v: &mut Violations) {
    v.at_most(p, "refundNo", 100, "退款号不可超过100位");
    v.at_most(p, "bizRefundNo", 100, "商户退款号不可超过100位");
}

/// What the channel reports of a pay order (`PayRemoteSyncResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayRemote {
    Paid(PrimitiveDateTime),
    Progress,
    Closed,
    Refund,
}

/// What the channel reports of a refund (`RefundRemoteSyncResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefundRemote {
    Done(PrimitiveDateTime),
    Progress,
    NotFound,
}

impl V20State {
    /// The sandbox's channel asked about `order`: a payment it took (a payer's, applied or not,
    /// [`crate::Sandbox::pay_at_channel_only`]), a closed trade for a closed order, else an
    /// unpaid one (WeChat's `NOTPAY`; the sandbox models no channel-side expiry).
    fn pay_at_channel(
        &self,
        order: &SandboxOrder,
        wall: PrimitiveDateTime,
    ) -> Result<PayRemote, String> {
        if self.channel_queries_fail() {
            return Err(CHANNEL_QUERY_FAIL_MSG.to_owned());
        }
        if let Some(paid_at) = self.channel_paid(&order.order_no) {
            return Ok(PayRemote::Paid(paid_at));
        }
        Ok(match order.status {
            OrderStatus::Success if order.refund_status == RefundStatus::Refunded => {
                PayRemote::Refund
            }
            OrderStatus::Success => PayRemote::Paid(order.pay_time.unwrap_or(wall)),
            OrderStatus::Close | OrderStatus::Cancel | OrderStatus::Fail => PayRemote::Closed,
            OrderStatus::Progress | OrderStatus::Wait | OrderStatus::Timeout => PayRemote::Progress,
        })
    }

    /// The sandbox's channel asked about `refund`.
    fn refund_at_channel(&self, refund: &SandboxRefund) -> Result<RefundRemote, String> {
        if self.channel_queries_fail() {
            return Err(CHANNEL_QUERY_FAIL_MSG.to_owned());
        }
        let remote = match self.channel_refunded(&refund.refund_no) {
            Some(at) => RefundRemote::Done(at),
            None => match (refund.status, refund.finish_time) {
                (RefundOrderStatus::Success, Some(at)) => RefundRemote::Done(at),
                (RefundOrderStatus::Progress | RefundOrderStatus::Success, _) => {
                    RefundRemote::Progress
                }
                // A synchronous failure never reached the channel.
                (RefundOrderStatus::Fail | RefundOrderStatus::Close, _) => RefundRemote::NotFound,
            },
        };
        // Alipay's refund query: anything but `REFUND_SUCCESS` fails the sync.
        if refund.channel == "ali_pay" && !matches!(remote, RefundRemote::Done(_)) {
            return Err(ALIPAY_REFUND_NOT_DONE.to_owned());
        }
        Ok(remote)
    }
}

/// `PaySyncService.syncPayOrder` on `order` at `wall`: the answer's `status`, and whether a pay
/// notice was registered; `Err`: the shape-B message (nothing changed).
pub(super) fn sync_pay_order(
    v20: &V20State,
    order: &mut SandboxOrder,
    wall: PrimitiveDateTime,
) -> Result<(&'static str, bool), String> {
    let remote = v20.pay_at_channel(order, wall)?;
    if matches!(remote, PayRemote::Paid(_)) && order.out_order_no.is_none() {
        // The channel's trade number, learnt by the sync.
        order.out_order_no = Some(format!("SBX{}", order.order_no));
    }
    let expired = order.expired_time.is_some_and(|t| t <= wall);
    let code = match remote {
        PayRemote::Paid(_) => "pay_success",
        PayRemote::Progress if order.status == OrderStatus::Progress && expired => "pay_timeout",
        PayRemote::Progress => "pay_progress",
        PayRemote::Closed => "pay_closed",
        PayRemote::Refund => "pay_refund",
    };
    let consistent = match (code, order.status) {
        ("pay_success", OrderStatus::Success) => true,
        ("pay_progress", OrderStatus::Progress) => true,
        ("pay_closed", OrderStatus::Close | OrderStatus::Cancel) => true,
        ("pay_refund", _) => true,
        _ => order.refund_status != RefundStatus::NoRefund,
    };
    if consistent {
        return Ok((code, false));
    }
    match remote {
        PayRemote::Paid(paid_at) => {
            order.status = OrderStatus::Success;
            order.pay_time = Some(paid_at);
            order.close_time = None;
        }
        // `CLOSE_GATEWAY` (`pay_timeout`; the sandbox's channel has nothing to close) or
        // `CLOSE_LOCAL` (`pay_closed`).
        PayRemote::Progress if code == "pay_timeout" => {
            order.status = OrderStatus::Close;
            order.close_time = Some(wall);
        }
        PayRemote::Closed => {
            order.status = OrderStatus::Close;
            order.close_time = Some(wall);
        }
        // `PROGRESS`: nothing changes, the notice is registered all the same.
        PayRemote::Progress | PayRemote::Refund => {}
    }
    Ok((code, true))
}

impl Inner {
    /// `POST /unipay/sync/pay`.
    pub(super) fn sync_pay_v20(&self, p: &Bound, now: time::OffsetDateTime) -> Answer {
        let wall = wall_clock_at(now, self.utc_offset);
        let Some(key) = order_key(p.text("orderNo"), p.text("bizOrderNo")) else {
            return Answer::refused("支付订单不存在");
        };
        let (synced, snapshot) = {
            let mut table = self.orders.lock();
            let Some(entry) = lookup(&mut table, key, None) else {
                return Answer::refused("支付订单不存在");
            };
            let synced = sync_pay_order(&self.v20, &mut entry.order, wall);
            (synced, entry.order.clone())
        };
        match synced {
            Ok((code, notify)) => {
                if notify {
                    self.order_changed(&snapshot);
                }
                Answer::data(vec![("status", Member::Text(code.to_owned()))])
            }
            Err(msg) => Answer::refused(&msg),
        }
    }

    /// `POST /unipay/sync/refund`.
    pub(super) fn sync_refund_v20(&self, p: &Bound, now: time::OffsetDateTime) -> Answer {
        let wall = wall_clock_at(now, self.utc_offset);
        let status = |code: &str| Answer::data(vec![("status", Member::Text(code.to_owned()))]);
        let (code, notices, refund) = {
            let mut table = self.orders.lock();
            let mut refunds = lock_refunds(&self.orders.refunds);
            let at = match (p.filled("refundNo"), p.filled("bizRefundNo")) {
                (Some(no), _) => refunds.position_by_no(no),
                (None, Some(biz)) => refunds.iter().position(|r| r.biz_refund_no == biz),
                (None, None) => None,
            };
            let Some(refund) = at.and_then(|at| refunds.get_mut(at)) else {
                return Answer::refused("未查询到退款订单");
            };
            if refund.status == RefundOrderStatus::Close {
                return status("close");
            }
            let remote = match self.v20.refund_at_channel(refund) {
                Ok(remote) => remote,
                Err(msg) => return Answer::refused(&msg),
            };
            let Some(entry) = table.get_mut(&refund.order_no) else {
                // `RefundRepairService`: `new RuntimeException("支付单不存在")`, shape D.
                return Answer::Error {
                    code: 10001,
                    msg: "系统错误".to_owned(),
                };
            };
            let order = &mut entry.order;
            let (code, notices) = match (remote, refund.status) {
                (RefundRemote::Done(_), RefundOrderStatus::Success) => ("refund_success", 0),
                (RefundRemote::Done(finished_at), _) => {
                    refund_succeeded(refund, order, wall);
                    refund.finish_time = Some(finished_at);
                    ("refund_success", 2)
                }
                (RefundRemote::Progress, _) => ("refund_progress", 0),
                (RefundRemote::NotFound, _) => {
                    closed_at_channel(refund, order);
                    ("pay_not_found", 1)
                }
            };
            (code, notices, refund.clone())
        };
        for _ in 0..notices {
            self.refund_changed(&refund);
        }
        status(code)
    }
}

/// `RefundRepairService.close`: the refund `close`, its amount back on the order.
fn closed_at_channel(refund: &mut SandboxRefund, order: &mut SandboxOrder) {
    let back = order.refundable_balance().fen() + refund.amount.fen();
    if back == order.amount.fen() {
        order.status = OrderStatus::Success;
    } else {
        order.refund_status = RefundStatus::PartialRefund;
    }
    order.refundable = Some(Amount::from_fen(back));
    refund.status = RefundOrderStatus::Close;
}
