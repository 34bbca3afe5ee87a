//! Each operation's Jeepay wire form: its declared fields, how a verified request becomes the
//! canonical operation, and the signed `data` of its answer.

mod channel_extra;
pub mod close;
pub mod pay;
pub mod pay_query;
pub mod refund;
pub mod refund_query;

use super::envelope::Data;
use super::params::Request;
use crate::config::Merchant;
use crate::domain::order::OrderRef;
use crate::domain::{Failure, OpKind, Operation};

/// An operation as Jeepay merchants call it.
pub trait JeepayOp: Operation {
    /// The fields its request class declares beyond the common six, in declaration order.
    const FIELDS: &'static [&'static str];

    /// The canonical request, read from a request whose signature verified, with Jeepay's own
    /// checks and messages.
    fn read(request: &Request<'_, '_>, kind: OpKind, merchant: &Merchant) -> Result<Self, Failure>;

    /// The operation a request of `kind` from `merchant` becomes, with no order named (what
    /// `paybridge route` explains).
    fn sample(kind: OpKind, merchant: &Merchant) -> Self;

    /// The `data` of a success.
    fn data(&self, outcome: &Self::Outcome, caller: &Merchant) -> Data;
}

/// The pay order a request names by `payOrderId` and/or `mchOrderNo`; one of them is required
/// (`isAllEmpty`: whitespace counts as given), refused with `words`, each operation's own.
pub(crate) fn named_order(
    request: &Request<'_, '_>,
    words: &'static str,
) -> Result<OrderRef, Failure> {
    let order = OrderRef::new(
        Some(request.field("payOrderId")),
        Some(request.field("mchOrderNo")),
    );
    if order.is_empty() {
        return Err(Failure::Invalid {
            kind: "no_order_id",
            words,
        });
    }
    Ok(order)
}
