//! Close and cancel on DaxPay: `/unipay/close` with an explicit `useCancel` in 3.x (the server
//! signs its primitive default `false` when it is absent); in 2.0 `/unipay/close` or
//! `/unipay/cancel`, both without it. The answer's `data` is null.

use serde_json::Value;

use super::{DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{Close, Closed};
use crate::domain::Failure;

impl DaxOp for Close {
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
}
