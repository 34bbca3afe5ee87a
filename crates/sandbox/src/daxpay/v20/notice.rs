//! DaxPay 2.0.8's notices (`lifecycle-2.0.md` §7): a flat JSON `PaymentCommonResult` subclass
//! — `code` 0, `msg` null, `resTime` (when the task was built), `sign`, then the notice's own
//! fields, nulls written, times in epoch seconds, amounts in fen — with **no type field and no
//! identity**, signed by the verifier rule of §2.5, posted as `Content-Type: application/json`.
//! Acknowledged only by exactly `SUCCESS`.
//!
//! When (§7.1): a pay notice for `success`, `close` and `cancel` (never `fail`); a refund
//! notice for `success` and `close` (never for a synchronous `fail`). A refund success
//! learnt from the channel later (its callback or a sync) is registered **twice**
//! (`RefundRepairService`: `success()` and `repair()` each register one); one answered
//! synchronously once.

use time::{OffsetDateTime, UtcOffset};

use super::super::result::{wire_json, Member, Typed};
use super::answer::signed_result;
use super::epoch_of;
use crate::config::SandboxOrder;
use crate::order::SandboxRefund;
use crate::sign::daxpay::Scheme;

fn text(value: Option<&str>) -> Member {
    value.map_or(Member::Null, |v| Member::Text(v.to_owned()))
}

fn time(value: Option<time::PrimitiveDateTime>, offset: UtcOffset) -> Member {
    value.map_or(Member::Null, |t| Member::Integer(epoch_of(t, offset)))
}

/// `PayNoticeResult`'s own fields.
pub(crate) fn pay_notice(o: &SandboxOrder, offset: UtcOffset) -> Typed {
    vec![
        ("orderNo", Member::Text(o.order_no.clone())),
        ("bizOrderNo", Member::Text(o.biz_order_no.clone())),
        ("outOrderNo", text(o.out_order_no.as_deref())),
        ("title", text(o.title.as_deref())),
        ("description", text(o.description.as_deref())),
        ("allocation", Member::Bool(o.allocation)),
        ("autoAllocation", Member::Null),
        ("channel", Member::Text(o.channel.clone())),
        ("method", Member::Text(o.method.clone())),
        ("amount", Member::Integer(o.amount.fen())),
        ("status", Member::Text(o.status.as_str().to_owned())),
        (
            "refundStatus",
            Member::Text(o.refund_status.as_str().to_owned()),
        ),
        ("allocStatus", Member::Null),
        ("payTime", time(o.pay_time, offset)),
        ("expiredTime", time(o.expired_time, offset)),
        ("closeTime", time(o.close_time, offset)),
        ("attach", text(o.attach.as_deref())),
        ("errorCode", text(o.error_code.as_deref())),
        ("errorMsg", text(o.error_msg.as_deref())),
    ]
}

/// `RefundNoticeResult`'s own fields.
pub(crate) fn refund_notice(r: &SandboxRefund, offset: UtcOffset) -> Typed {
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
        ("refundTime", Member::Null),
        ("finishTime", time(r.finish_time, offset)),
        ("status", Member::Text(r.status.as_str().to_owned())),
        ("attach", text(r.attach.as_deref())),
        ("errorCode", text(r.error_code.as_deref())),
        ("errorMsg", text(r.error_msg.as_deref())),
    ]
}

/// The notice's body: the signed flat result as Jackson writes it.
pub(crate) fn body(
    scheme: Scheme,
    secret: &str,
    now: OffsetDateTime,
    fields: &[(&'static str, Member)],
) -> String {
    wire_json(&signed_result(scheme, secret, now, 0, None, fields))
}
