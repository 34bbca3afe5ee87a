//! Orders on a shared DaxPay identity: paybridge acts only on the caller's own.
//!
//! Merchants sharing one DaxPay identity (`daxpay.shared = true`) each have an order prefix
//! (config::sharing). Until an order store can tell whose order is whose, the order number is:
//!
//! - a merchant order number (`mchOrderNo`) is sent as prefix + `mchOrderNo`, so it can only name
//!   the caller's orders ([`prefix`]), and the prefix is removed from every merchant order number
//!   an answer reports ([`strip`]): one place, for every operation;
//! - a gateway number (`payOrderId`) names any order of the identity, so the order is read first
//!   and acted on only if its `bizOrderNo` carries the caller's prefix ([`check`]).
//!
//! Another merchant's order is answered exactly as an order that does not exist (`订单不存在`,
//! with the same fallback), so that its existence is not revealed.

use super::call::{exchange, Job, Prepared, Translated};
use crate::config::Merchant;
use crate::dialect::daxpay::answer::Answer;
use crate::dialect::daxpay::ops::refusal;
use crate::dialect::daxpay::order_query::{biz_order_no, query_fields};
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::order::OrderRef;
use crate::domain::{Failure, Operation};

/// Puts the merchant's order number in DaxPay's terms: on a shared identity, prefixed.
pub(super) fn prefix<O: Operation>(op: &mut O, merchant: &Merchant) {
    if let (Some(prefix), Some(biz)) = (
        merchant.daxpay.order_prefix.as_deref(),
        op.order_mut().biz_order_no.as_mut(),
    ) {
        biz.insert_str(0, prefix);
    }
}

/// Gives the merchant order numbers of an outcome back in the merchant's terms; an order that
/// does not carry the caller's prefix is not the caller's, and does not exist for it.
pub(super) fn strip<O: Translated>(
    p: &Prepared<O>,
    outcome: O::Outcome,
) -> Result<O::Outcome, Failure> {
    match p.merchant.daxpay.order_prefix.as_deref() {
        None => Ok(outcome),
        Some(prefix) => unprefixed::<O>(prefix, outcome).ok_or_else(|| not_theirs(p)),
    }
}

/// `outcome` with `prefix` removed from every merchant order number it reports; `None` when one
/// lacks it.
fn unprefixed<O: Operation>(prefix: &str, mut outcome: O::Outcome) -> Option<O::Outcome> {
    let owned =
        O::reported_orders(&mut outcome)
            .into_iter()
            .all(|biz| match biz.strip_prefix(prefix) {
                Some(own) => {
                    *biz = own.to_owned();
                    true
                }
                None => false,
            });
    owned.then_some(outcome)
}

/// On a shared identity, an order named by DaxPay's number is read first: the request goes on
/// only if the order is the caller's.
pub(super) async fn check<O: Translated>(job: &Job<'_>, p: &Prepared<O>) -> Result<(), Failure> {
    let (Some(prefix), Some(order_no)) = (
        p.merchant.daxpay.order_prefix.as_deref(),
        p.op.order().order_no.as_deref(),
    ) else {
        return Ok(());
    };
    let by_number = OrderRef::new(Some(order_no), None);
    let fields = query_fields(&by_number, p.upstream.version());
    match exchange(job, p, DaxCall::PayQuery, &fields).await? {
        Answer::Done { data, .. } => match biz_order_no(&data) {
            Some(biz) if biz.starts_with(prefix) => Ok(()),
            _ => Err(not_theirs(p)),
        },
        Answer::Refused {
            code, msg, signed, ..
        } => {
            let verified = signed || p.upstream.version() == Version::V2_0;
            Err(refusal(code, msg, verified, &p.upstream.name))
        }
    }
}

fn not_theirs<O: Translated>(p: &Prepared<O>) -> Failure {
    tracing::info!(
        mch_no = p.merchant.mch_no.as_str(),
        operation = p.kind.as_str(),
        "an order of another merchant on a shared DaxPay identity: answered as not found"
    );
    metrics::counter!("paybridge_foreign_orders_total").increment(1);
    // Signed by DaxPay and read: as verified as a "no such order" answer.
    Failure::OrderNotFound { verified: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::PayStatus;
    use crate::domain::Unknown;

    /// An operation whose outcome reports a merchant order number (as the pay query will).
    struct Lookup(OrderRef);

    impl Operation for Lookup {
        type Outcome = String;
        const CHANGES_STATE: bool = false;
        fn order(&self) -> &OrderRef {
            &self.0
        }
        fn order_mut(&mut self) -> &mut OrderRef {
            &mut self.0
        }
        fn settle_unknown(&self, _: Option<PayStatus>) -> Unknown<String> {
            Unknown::StillUnknown
        }
        fn reported_orders(outcome: &mut String) -> Vec<&mut String> {
            vec![outcome]
        }
    }

    #[test]
    fn answers_are_given_back_in_the_merchants_terms_or_not_at_all() {
        assert_eq!(
            unprefixed::<Lookup>("A-", "A-M1".to_owned()).as_deref(),
            Some("M1")
        );
        assert_eq!(unprefixed::<Lookup>("A-", "B-M1".to_owned()), None);
        assert_eq!(unprefixed::<Lookup>("A-", "M1".to_owned()), None);
        // Outcomes that report no order number pass unchanged.
        assert!(
            unprefixed::<crate::domain::ops::Close>("A-", crate::domain::ops::Closed).is_some()
        );
    }
}
