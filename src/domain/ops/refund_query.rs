//! Read one refund as the gateway holds it.

use crate::domain::operation::{Operation, Unknown};
use crate::domain::order::{Fen, OrderRef, PayStatus, RefundOrderStatus};

/// The refund, by DaxPay's number and/or the merchant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundQuery {
    /// DaxPay's refund number (Jeepay `refundOrderId`); the store fills it in when the merchant
    /// named the refund by its own number.
    pub refund_no: Option<String>,
    /// The merchant's refund number, as it sent it.
    pub mch_refund_no: Option<String>,
    /// The same in DaxPay's terms (a shared identity's prefix added).
    pub biz_refund_no: Option<String>,
    /// Unused by the lookup; what the pipeline's order hooks expect.
    pub order: OrderRef,
    /// What paybridge's order store keeps of the refund (found before DaxPay is asked: DaxPay's
    /// lookup is not scoped by app, the store is).
    pub kept: Option<KeptRefund>,
}

/// What paybridge keeps of a refund that DaxPay does not return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRefund {
    pub pay_amount: Option<Fen>,
    pub currency: String,
    pub created_at_ms: i64,
    /// The refund's status as the store last learnt it: a final one is never answered lower
    /// (DaxPay 2.0.8 can answer a query from before its own commit, lifecycle-2.0.md §7).
    pub status: Option<RefundOrderStatus>,
    /// The merchant's `extParam`: 2.0.8's refund query has no `attach` (lifecycle-2.0.md §6).
    pub ext_param: Option<String>,
}

/// A refund as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub refund_no: String,
    pub biz_refund_no: String,
    /// The refunded pay order's DaxPay number.
    pub order_no: Option<String>,
    pub amount: Fen,
    pub status: RefundOrderStatus,
    /// The channel's refund number.
    pub out_refund_no: Option<String>,
    pub attach: Option<String>,
    /// The channel's error code of a failed or closed refund (2.0.8's `errorCode`; 3.0 has none).
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    /// When it finished, in Unix milliseconds.
    pub finished_at_ms: Option<i64>,
    /// From paybridge's store: never from DaxPay's truncated `orderAmount`.
    pub pay_amount: Option<Fen>,
    pub currency: Option<String>,
    pub created_at_ms: Option<i64>,
}

impl Operation for RefundQuery {
    type Outcome = RefundRecord;
    const CHANGES_STATE: bool = false;

    fn order(&self) -> &OrderRef {
        &self.order
    }

    fn order_mut(&mut self) -> &mut OrderRef {
        &mut self.order
    }

    fn reported_orders(record: &mut RefundRecord) -> Vec<&mut String> {
        vec![&mut record.biz_refund_no]
    }

    fn settle_unknown(&self, _status: Option<PayStatus>) -> Unknown<RefundRecord> {
        Unknown::StillUnknown
    }
}
