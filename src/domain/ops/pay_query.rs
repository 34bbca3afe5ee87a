//! Read one pay order as the gateway holds it.

use crate::domain::operation::{Operation, Unknown};
use crate::domain::order::{OrderRef, PayOrder, PayStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayQuery {
    pub order: OrderRef,
}

impl Operation for PayQuery {
    type Outcome = PayOrder;
    /// A query changes nothing: a re-sent one is answered afresh, never from the replay store
    /// (a stored answer would show a state that may have moved on).
    const CHANGES_STATE: bool = false;

    fn order(&self) -> &OrderRef {
        &self.order
    }

    fn order_mut(&mut self) -> &mut OrderRef {
        &mut self.order
    }

    /// The order's merchant number is reported back in the merchant's terms.
    fn reported_orders(order: &mut PayOrder) -> Vec<&mut String> {
        vec![&mut order.biz_order_no]
    }

    fn settle_unknown(&self, _status: Option<PayStatus>) -> Unknown<PayOrder> {
        // Nothing was changed: an unanswered query is simply unanswered.
        Unknown::StillUnknown
    }
}
