//! Refund part or all of a paid order.

use crate::domain::operation::{Operation, Unknown};
use crate::domain::order::{Fen, OrderRef, PayStatus, RefundOrderStatus};

/// What the merchant asked to be refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The paid order, by DaxPay's number and/or the merchant's (in DaxPay's terms).
    pub order: OrderRef,
    /// The merchant's refund number, as it sent it.
    pub mch_refund_no: String,
    /// The same in DaxPay's terms (a shared identity's prefix added).
    pub biz_refund_no: String,
    pub amount: Fen,
    pub currency: String,
    pub reason: String,
    pub client_ip: Option<String>,
    pub notify_url: Option<String>,
    pub ext_param: Option<String>,
    /// The refund amount in the upstream's unit (set for the upstream it goes to).
    pub amount_text: String,
    /// paybridge's own notify URL given to DaxPay in the merchant's stead.
    pub relay_notify_url: Option<String>,
}

/// What DaxPay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// DaxPay's refund number (Jeepay `refundOrderId`).
    pub refund_no: String,
    /// The merchant's refund number as DaxPay reports it.
    pub biz_refund_no: String,
    pub status: RefundOrderStatus,
    /// The channel's error code of a failed or closed refund (2.0.8's `errorCode`; 3.0 has none).
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    /// The paid order's amount (from paybridge's store, or a pay query): DaxPay's refund
    /// answer has none, and its refund query truncates it to whole yuan.
    pub pay_amount: Option<Fen>,
    pub refund_amount: Fen,
    /// The channel's refund number, when known.
    pub channel_refund_no: Option<String>,
    /// The merchant's refund number was used before and this is that earlier refund, answered
    /// again with nothing sent (epay V2's `out_refund_no` is an idempotency key, and its
    /// gateway words such an answer differently).
    pub repeated: bool,
}

impl Operation for Refund {
    type Outcome = Refunded;
    const CHANGES_STATE: bool = true;

    fn order(&self) -> &OrderRef {
        &self.order
    }

    fn order_mut(&mut self) -> &mut OrderRef {
        &mut self.order
    }

    fn reported_orders(refunded: &mut Refunded) -> Vec<&mut String> {
        vec![&mut refunded.biz_refund_no]
    }

    /// Settled by the refund's own lookup (see the DaxPay wire form), not the pay order's.
    fn settle_unknown(&self, _status: Option<PayStatus>) -> Unknown<Refunded> {
        Unknown::StillUnknown
    }
}
