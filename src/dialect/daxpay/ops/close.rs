//! Close and cancel on DaxPay: `/unipay/close` with an explicit `useCancel` in 3.x (the server
//! signs its primitive default `false` when it is absent); in 2.0 `/unipay/close` or
//! `/unipay/cancel`, both without it. The answer's `data` is null. `PayCloseParam` (and 2.0's
//! `PayCancelParam`) take an `orderNo` of at most 100 characters in 3.0, 32 before, and a
//! `bizOrderNo` of at most 100.

use serde_json::Value;

use super::limits::{label, limit, Limit};
use super::{DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Close, Closed};
use crate::domain::Failure;

/// The lookup fields of close, the pay query and refund (`orderNo`, `bizOrderNo`), per version.
pub(super) const ORDER_LIMITS_3_0: &[Limit] = &[
    limit("orderNo", 100, label::PAY_ORDER_ID),
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
];
pub(super) const ORDER_LIMITS_BEFORE_3_0: &[Limit] = &[
    limit("orderNo", 32, label::PAY_ORDER_ID),
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
    // The pay query's own spelling there (order_query.rs).
    limit("bizOrderNoeNo", 100, label::MCH_ORDER_NO),
];

/// The order limits of `version`.
pub(super) fn order_limits(version: Version) -> &'static [Limit] {
    match version {
        Version::V3_0 => ORDER_LIMITS_3_0,
        Version::V3_0Beta | Version::V2_0 => ORDER_LIMITS_BEFORE_3_0,
    }
}

impl DaxOp for Close {
    fn limits(version: Version) -> &'static [Limit] {
        order_limits(version)
    }

    fn request(&self, version: Version) -> (DaxCall, Fields<'_>) {
        let fields = Fields::default()
            .text("orderNo", self.order.order_no.as_deref())
            .text("bizOrderNo", self.order.biz_order_no.as_deref());
        match version {
            Version::V3_0 | Version::V3_0Beta => {
                (DaxCall::Close, fields.bool("useCancel", self.cancel))
            }
            Version::V2_0 if self.cancel => (DaxCall::Cancel, fields),
            Version::V2_0 => (DaxCall::Close, fields),
        }
    }

    fn outcome(&self, _data: &Value, _upstream: &Upstream<'_>) -> Result<Closed, Failure> {
        Ok(Closed)
    }

    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        match code {
            20042 | 20044 => Failure::NotClosable,
            20043 => Failure::CloseInProgress,
            _ => super::refusal(code, msg, verified, upstream),
        }
    }

    /// 20043: another close of the order is under way, so whether it is closed is found out.
    fn settled_by_query(&self, failure: &Failure) -> bool {
        failure.outcome_unknown() || matches!(failure, Failure::CloseInProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use crate::domain::order::OrderRef;

    fn close(cancel: bool) -> Close {
        Close {
            order: OrderRef::new(Some("O1"), Some("")),
            cancel,
        }
    }

    #[test]
    fn version_3_sends_an_explicit_use_cancel() {
        for version in [Version::V3_0, Version::V3_0Beta] {
            for cancel in [false, true] {
                let op = close(cancel);
                let (call, fields) = op.request(version);
                assert_eq!(call, DaxCall::Close);
                assert_eq!(fields.get("useCancel"), Some(Field::Bool(cancel)));
                assert_eq!(fields.get("orderNo"), Some(Field::Text("O1")));
                assert_eq!(
                    fields.get("bizOrderNo"),
                    None,
                    "empty strings are never sent"
                );
            }
        }
    }

    #[test]
    fn version_2_cancels_on_its_own_path() {
        let op = close(true);
        let (call, fields) = op.request(Version::V2_0);
        assert_eq!(call, DaxCall::Cancel);
        assert_eq!(fields.get("useCancel"), None);
        let op = close(false);
        assert_eq!(op.request(Version::V2_0).0, DaxCall::Close);
    }

    #[test]
    fn refusals_in_canonical_terms() {
        let op = close(false);
        let said = |code| op.refusal(code, "x".into(), true, "u");
        assert!(matches!(
            said(20041),
            Failure::OrderNotFound { verified: true }
        ));
        assert!(matches!(said(20044), Failure::NotClosable));
        assert!(matches!(said(20042), Failure::NotClosable));
        assert!(matches!(said(20043), Failure::CloseInProgress));
        assert!(matches!(said(20080), Failure::Refused { code: 20080, .. }));
        assert!(matches!(said(20052), Failure::Rejected { code: 20052, .. }));
        assert!(matches!(said(10506), Failure::Rejected { .. }));
        assert!(matches!(said(30000), Failure::Rejected { .. }));
        assert!(matches!(said(1), Failure::Refused { code: 1, .. }));
        assert!(op.settled_by_query(&Failure::CloseInProgress));
        assert!(!op.settled_by_query(&Failure::NotClosable));
    }

    /// 2.0.8's close and cancel refusals (`PayCloseService`, `PayCancelService`) come as code 1;
    /// with the code given back from the message they are Jeepay's `订单不存在` and
    /// `当前订单不可关闭`.
    #[test]
    fn version_2_refusals_are_read_by_their_message() {
        use crate::dialect::daxpay::answer::code_of_2_0;
        let op = close(false);
        let said = |msg: &str| op.refusal(code_of_2_0(1, msg), msg.into(), true, "u");
        assert!(matches!(
            said("支付订单不存在"),
            Failure::OrderNotFound { verified: true }
        ));
        assert!(matches!(
            said("订单不是支付中, 无法进行关闭订单"),
            Failure::NotClosable
        ));
        assert!(matches!(
            said("订单不是支付中, 无法进行撤销订单"),
            Failure::NotClosable
        ));
        assert!(matches!(
            said("支付订单已在撤销中，请勿重复发起"),
            Failure::CloseInProgress
        ));
        assert!(matches!(
            said("撤销订单失败"),
            Failure::Refused { code: 1, .. }
        ));
    }
}
