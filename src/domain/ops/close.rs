//! Close (or cancel) one unpaid pay order.

use crate::domain::failure::Failure;
use crate::domain::operation::{Operation, Unknown};
use crate::domain::order::{OrderRef, PayStatus};

/// Close the order; with `cancel`, reverse it as DaxPay's cancel does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub order: OrderRef,
    pub cancel: bool,
}

/// A close succeeded: the answer carries no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Operation for Close {
    type Outcome = Closed;
    const CHANGES_STATE: bool = true;

    fn order(&self) -> &OrderRef {
        &self.order
    }

    fn order_mut(&mut self) -> &mut OrderRef {
        &mut self.order
    }

    /// Closed or cancelled is what was asked for; still open means the close is not known to
    /// have happened; anything else can no longer be closed.
    fn settle_unknown(&self, status: Option<PayStatus>) -> Unknown<Closed> {
        match status {
            None => Unknown::Settled(Err(Failure::OrderNotFound { verified: false })),
            Some(PayStatus::Wait | PayStatus::Progress) => Unknown::StillUnknown,
            Some(PayStatus::Close | PayStatus::Cancel) => Unknown::Settled(Ok(Closed)),
            Some(_) => Unknown::Settled(Err(Failure::NotClosable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close() -> Close {
        Close {
            order: OrderRef::new(Some("P1"), None),
            cancel: false,
        }
    }

    #[test]
    fn an_unknown_close_is_settled_by_the_order_status() {
        assert!(matches!(
            close().settle_unknown(Some(PayStatus::Close)),
            Unknown::Settled(Ok(Closed))
        ));
        assert!(matches!(
            close().settle_unknown(Some(PayStatus::Progress)),
            Unknown::StillUnknown
        ));
        assert!(matches!(
            close().settle_unknown(Some(PayStatus::Success)),
            Unknown::Settled(Err(Failure::NotClosable))
        ));
        assert!(matches!(
            close().settle_unknown(None),
            Unknown::Settled(Err(Failure::OrderNotFound { verified: false }))
        ));
    }
}
