//! `POST /unipay/refund` and `POST /unipay/query/refundOrder`: DaxPay's `RefundService`,
//! `RefundAssistService` and `RefundOrderQueryService` (`protocols/lifecycle.md` §4, §5).
//!
//! Refund, in DaxPay's order (bean validation and signature already passed):
//! 1. no order number: 10506 `支付订单号不能都为空`;
//! 2. a refund with this `bizRefundNo` in the app exists: only a `fail` one re-runs (the
//!    channel again, nothing deducted twice), otherwise 20044 `只有失败状态的才可以重新发起退款`;
//! 3. the pay order (orderNo, else bizOrderNo, else outOrderNo, in the app): 10405
//!    `支付订单不存在`; its status must be `success`, its refund status neither `refunding` nor
//!    `refunded` (20044, the enum's name in brackets); `bizRefundNo` must not be one of DaxPay's
//!    own refund numbers (10506 `退款单号已存在`); the amount at most the refundable balance
//!    (10506 `退款金额不能大于支付金额`); the channel needs a strategy (20030);
//! 4. the balance is deducted and the order set `refunding` *before* the channel runs;
//! 5. the "channel": reason [`REFUND_FAIL`] fails it — the refund is `fail` with `errorMsg`, the
//!    answer code 0 `status=fail`, and the pay order stays `refunding` with the balance still
//!    deducted; otherwise the refund succeeds and the order becomes `partial_refund` or
//!    `refunded`.
//!
//! The magic reason is read from each request, so a re-run without it succeeds.

use time::OffsetDateTime;

use super::params::{Declared, Kind, Params};
use super::pay::{amount, amount_of, at_most, invalid, refused, required};
use super::result::{wall_clock_at, Member, Typed};
use super::state::{lookup, OrderKey, Orders, Refusal};
use crate::order::{Amount, OrderStatus, RefundOrderStatus, RefundStatus, SandboxRefund};
use crate::sign::daxpay::Version;

/// A refund `reason` with this value makes the sandbox's channel refuse the refund.
pub const REFUND_FAIL: &str = "SANDBOX_REFUND_FAIL";
/// A refund reason that leaves the refund `progress` (the channel answers later): settle it with
/// [`crate::Sandbox::close_refund`].
pub const REFUND_PENDING: &str = "SANDBOX_REFUND_PENDING";

const REFUND_FAIL_MSG: &str = "沙箱通道模拟退款失败";

/// `RefundParam`'s own fields (3.0-beta has no `outOrderNo`).
pub(super) fn declared(version: Version) -> Declared {
    match version {
        Version::V3_0 => &[
            ("bizRefundNo", Kind::Text),
            ("orderNo", Kind::Text),
            ("bizOrderNo", Kind::Text),
            ("outOrderNo", Kind::Text),
            ("amount", Kind::Decimal),
            ("extraParam", Kind::Text),
            ("reason", Kind::Text),
            ("attach", Kind::Text),
            ("notifyUrl", Kind::Text),
        ],
        Version::V3_0Beta => &[
            ("bizRefundNo", Kind::Text),
            ("orderNo", Kind::Text),
            ("bizOrderNo", Kind::Text),
            ("amount", Kind::Decimal),
            ("extraParam", Kind::Text),
            ("reason", Kind::Text),
            ("attach", Kind::Text),
            ("notifyUrl", Kind::Text),
        ],
        // 2.0.8 is read by `super::v20`.
        Version::V2_0 => &[],
    }
}

/// `QueryRefundParam`'s own fields (every version).
pub(super) const QUERY_DECLARED: Declared =
    &[("refundNo", Kind::Text), ("bizRefundNo", Kind::Text)];

pub(super) fn validate(p: &Params) -> Result<(), String> {
    required(p, "bizRefundNo", "商户退款号不可为空")?;
    at_most(p, "bizRefundNo", 100, "商户退款号不可超过100位")?;
    at_most(p, "orderNo", 100, "支付订单号不可超过100位")?;
    at_most(p, "bizOrderNo", 100, "商户支付订单号不可超过100位")?;
    at_most(p, "outOrderNo", 150, "通道支付订单号不可超过150位")?;
    amount(p, "amount", "退款金额不可为空")?;
    at_most(p, "extraParam", 2048, "退款扩展参数不可超过2048位")?;
    at_most(p, "reason", 150, "退款原因不可超过150位")?;
    at_most(p, "attach", 500, "商户扩展参数不可超过500位")?;
    at_most(p, "notifyUrl", 200, "异步通知地址不可超过200位")
}

pub(super) fn validate_query(p: &Params) -> Result<(), String> {
    at_most(p, "refundNo", 100, "退款号不可超过100位")?;
    at_most(p, "bizRefundNo", 100, "商户退款号不可超过100位")
}

/// `PayStatusEnum`'s names.
fn pay_status_name(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Wait => "待支付",
        OrderStatus::Progress => "支付中",
        OrderStatus::Success => "成功",
        OrderStatus::Close => "支付关闭",
        OrderStatus::Cancel => "支付撤销",
        OrderStatus::Fail => "失败",
        OrderStatus::Timeout => "支付超时",
    }
}

impl Orders {
    /// Steps 1 to 5 of the module docs; `Ok` is the `RefundResult`.
    pub(super) fn refund(
        &self,
        p: &Params,
        app_id: Option<&str>,
        version: Version,
        now: OffsetDateTime,
    ) -> Result<Typed, Refusal> {
        let order_no = p.filled("orderNo");
        if order_no.is_none() && p.text("bizOrderNo").is_none() && p.text("outOrderNo").is_none() {
            return Err(invalid(version, "支付订单号不能都为空"));
        }
        let biz_refund_no = p.text("bizRefundNo").unwrap_or_default();
        let fails = p.text("reason") == Some(REFUND_FAIL);
        let pending = p.text("reason") == Some(REFUND_PENDING);
        let wall = wall_clock_at(now, self.utc_offset);
        let mut table = self.lock();
        let mut refunds = super::lock_refunds(&self.refunds);

        let existing = refunds.position_by_biz(biz_refund_no, app_id);
        if let Some(at) = existing {
            let refund = &mut refunds[at];
            if refund.status != RefundOrderStatus::Fail {
                return Err(refused(20044, "只有失败状态的才可以重新发起退款"));
            }
            let order = table
                .get_mut(&refund.order_no)
                .map(|e| &mut e.order)
                .ok_or_else(|| refused(20041, "支付订单不存在"))?;
            refund.attach = p.text("attach").map(str::to_owned);
            refund.client_ip = p.text("clientIp").map(str::to_owned);
            run_channel(refund, order, fails, wall);
            return Ok(refund_result(refund));
        }

        let key = match (order_no, p.text("bizOrderNo"), p.text("outOrderNo")) {
            (Some(no), _, _) => OrderKey::OrderNo(no),
            (None, Some(biz), _) => OrderKey::BizOrderNo(biz),
            (None, None, out) => OrderKey::OutOrderNo(out.unwrap_or_default()),
        };
        let entry =
            lookup(&mut table, key, app_id).ok_or_else(|| refused(10405, "支付订单不存在"))?;
        let order_id = entry.id;
        let order = &mut entry.order;
        if order.status != OrderStatus::Success {
            let name = pay_status_name(order.status);
            return Err(refused(
                20044,
                format!("当前支付单订状态[{name}]不允许发起退款操作"),
            ));
        }
        let busy = match order.refund_status {
            RefundStatus::Refunded => Some("全部退款"),
            RefundStatus::Refunding => Some("退款中"),
            _ => None,
        };
        if let Some(name) = busy {
            return Err(refused(
                20044,
                format!("当前支付单退款状态[{name}]不允许发起退款操作"),
            ));
        }
        if refunds.position_by_no(biz_refund_no).is_some() {
            return Err(invalid(version, "退款单号已存在"));
        }
        let amount = amount_of(p, "amount");
        let balance = order.refundable_balance();
        if amount > balance {
            return Err(invalid(version, "退款金额不能大于支付金额"));
        }
        if !["ali_pay", "alipay_isv", "wechat_pay", "wechat_pay_isv"]
            .contains(&order.channel.as_str())
        {
            return Err(refused(20030, format!("不支持的能力: {}", order.channel)));
        }
        // preRefundMethod: deduct and mark the order before the channel is called.
        order.refundable = Some(Amount::from_fen(balance.fen() - amount.fen()));
        order.refund_status = RefundStatus::Refunding;
        let (refund_no, _) = loop {
            let (no, seq) = self.trade_no('R', now);
            if refunds.position_by_no(&no).is_none() {
                break (no, seq);
            }
        };
        let mut refund = SandboxRefund {
            app_id: app_id.map(str::to_owned),
            order_id,
            order_no: order.order_no.clone(),
            out_order_no: order.out_order_no.clone(),
            biz_order_no: order.biz_order_no.clone(),
            title: order.title.clone(),
            refund_no,
            biz_refund_no: biz_refund_no.to_owned(),
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
        };
        if pending {
            // The channel has not answered: `progress`, the order `refunding`, balance held.
            refund.status = RefundOrderStatus::Progress;
        } else {
            run_channel(&mut refund, order, fails, wall);
        }
        let result = refund_result(&refund);
        refunds.push(refund);
        Ok(result)
    }

    /// `queryRefundOrder`: `refundNo` (any app) wins, else `bizRefundNo` in the caller's app.
    pub(super) fn find_refund(
        &self,
        p: &Params,
        app_id: Option<&str>,
        version: Version,
    ) -> Result<SandboxRefund, Refusal> {
        if p.filled("refundNo").is_none() && p.text("bizRefundNo").is_none() {
            return Err(invalid(version, "退款号或商户退款号不能都为空"));
        }
        let refunds = super::lock_refunds(&self.refunds);
        let found = match (p.filled("refundNo"), p.filled("bizRefundNo")) {
            (Some(no), _) => refunds.position_by_no(no),
            (None, Some(biz)) => refunds.position_by_biz(biz, app_id),
            (None, None) => None,
        };
        found
            .map(|at| refunds[at].clone())
            .ok_or_else(|| refused(20041, "退款订单不存在"))
    }
}

/// The channel call and DaxPay's handling of its outcome (`successHandler` /
/// `updateOrderByError`).
fn run_channel(
    refund: &mut SandboxRefund,
    order: &mut crate::config::SandboxOrder,
    fails: bool,
    wall: time::PrimitiveDateTime,
) {
    if fails {
        refund.status = RefundOrderStatus::Fail;
        refund.error_msg = Some(REFUND_FAIL_MSG.to_owned());
        return;
    }
    refund.status = RefundOrderStatus::Success;
    refund.error_msg = None;
    refund.finish_time = Some(wall);
    refund.out_refund_no = Some(format!("SBX{}", refund.refund_no));
    order.refund_status = if order.refundable_balance() == Amount::ZERO {
        RefundStatus::Refunded
    } else {
        RefundStatus::PartialRefund
    };
}

fn refund_result(refund: &SandboxRefund) -> Typed {
    vec![
        ("refundNo", Member::Text(refund.refund_no.clone())),
        ("bizRefundNo", Member::Text(refund.biz_refund_no.clone())),
        ("status", Member::Text(refund.status.as_str().to_owned())),
        (
            "errorMsg",
            refund.error_msg.clone().map_or(Member::Null, Member::Text),
        ),
    ]
}

/// `RefundOrderResult` in declaration order. `orderAmount` is an `Integer` in 3.0 (MapStruct
/// truncates the yuan), a `BigDecimal` in 3.0-beta. (2.0: `super::v20::query`.)
pub(super) fn refund_order_result(r: &SandboxRefund, version: Version) -> Typed {
    let amount = |a: Amount| Member::Decimal(a.yuan_4());
    let order_amount = match version {
        Version::V3_0 => Member::Integer(r.order_amount.whole_yuan()),
        _ => amount(r.order_amount),
    };
    let text = |v: &Option<String>| v.clone().map_or(Member::Null, Member::Text);
    vec![
        ("orderId", Member::Text(r.order_id.to_string())),
        ("orderNo", Member::Text(r.order_no.clone())),
        ("outOrderNo", text(&r.out_order_no)),
        ("bizOrderNo", Member::Text(r.biz_order_no.clone())),
        ("title", text(&r.title)),
        ("refundNo", Member::Text(r.refund_no.clone())),
        ("bizRefundNo", Member::Text(r.biz_refund_no.clone())),
        ("outRefundNo", text(&r.out_refund_no)),
        ("channel", Member::Text(r.channel.clone())),
        ("orderAmount", order_amount),
        ("amount", amount(r.amount)),
        ("reason", text(&r.reason)),
        (
            "finishTime",
            r.finish_time
                .and_then(|t| t.format(super::model::WALL_CLOCK).ok())
                .map_or(Member::Null, Member::Text),
        ),
        ("status", Member::Text(r.status.as_str().to_owned())),
        ("attach", text(&r.attach)),
        ("clientIp", text(&r.client_ip)),
        ("errorMsg", text(&r.error_msg)),
    ]
}
