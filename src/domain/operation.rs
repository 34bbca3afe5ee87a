//! What the pipeline needs to know about an operation, whatever the dialects.

use super::failure::Failure;
use super::order::{OrderRef, PayStatus};

/// What an unknown outcome (sent, but no answer that can be believed) turns into once the order
/// has been read again.
#[derive(Debug)]
pub enum Unknown<O> {
    /// The order shows the operation happened (or did not need to): this is the outcome.
    Settled(Result<O, Failure>),
    /// The order shows nothing yet: the outcome stays unknown.
    StillUnknown,
}

/// One operation: its canonical request and outcome, and the hooks the pipeline asks.
pub trait Operation: Sized + Send + Sync + 'static {
    type Outcome: Send + Sync + 'static;

    /// Changes state at the gateway. Such requests are claimed in the replay store (a re-sent
    /// request gets the first answer); a read is simply carried out again.
    const CHANGES_STATE: bool;

    /// The pay order this request is about: read again to settle an unknown outcome, and the
    /// key of a fallback to the other gateway.
    fn order(&self) -> &OrderRef;

    /// The same, for the pipeline to put the merchant's numbers in the gateway's terms (a shared
    /// DaxPay identity's order prefix).
    fn order_mut(&mut self) -> &mut OrderRef;

    /// The merchant order numbers (`bizOrderNo`) an outcome reports, for the pipeline to give
    /// back in the merchant's terms (a shared identity's prefix removed; an order without the
    /// caller's prefix is not the caller's). None by default.
    fn reported_orders(_outcome: &mut Self::Outcome) -> Vec<&mut String> {
        Vec::new()
    }

    /// Settles an unknown outcome from the order's status as it now stands (`None`: the gateway
    /// has no such order). Operations that change nothing never reach this.
    fn settle_unknown(&self, status: Option<PayStatus>) -> Unknown<Self::Outcome>;

    /// Whether a verified "order does not exist" may be asked of the other gateway.
    fn falls_back_when_not_found(&self) -> bool {
        true
    }
}
