//! The refund query on DaxPay: `/unipay/query/refundOrder` answered with `RefundOrderResult`
//! (lifecycle.md §5). DaxPay's lookup is not scoped by app: the pipeline only asks about refunds
//! its order store gives to the caller. `orderAmount` is never read: 3.0 truncates it to whole
//! yuan.

use serde_json::Value;

use super::limits::{java_len, label, limit, Limit};
use super::pay_query::{epoch_ms, owned};
use super::{DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::order_query::text;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{RefundQuery, RefundRecord};
use crate::domain::order::{Fen, RefundOrderStatus};
use crate::domain::Failure;

/// `QueryRefundParam` (the same in every version).
const REFUND_QUERY_LIMITS: &[Limit] = &[
    limit("refundNo", 100, label::REFUND_ORDER_ID),
    limit("bizRefundNo", 100, label::MCH_REFUND_NO),
];

impl DaxOp for RefundQuery {
    fn limits(_version: Version) -> &'static [Limit] {
        REFUND_QUERY_LIMITS
    }

    /// A shared identity's prefix, before the merchant's refund number.
    fn added_units(&self, field: &str) -> usize {
        match (field, &self.biz_refund_no, &self.mch_refund_no) {
            ("bizRefundNo", Some(sent), Some(own)) => java_len(sent).saturating_sub(java_len(own)),
            _ => 0,
        }
    }

    fn fit(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        if upstream.version == Version::V2_0 {
            return Err(Failure::OrderNotFound { verified: true });
        }
        Ok(())
    }

    /// DaxPay's number when known (it wins there too), else the merchant's.
    fn request(&self, _version: Version) -> (DaxCall, Fields<'_>) {
        let fields = match &self.refund_no {
            Some(no) => Fields::default().text("refundNo", Some(no)),
            None => Fields::default().text("bizRefundNo", self.biz_refund_no.as_deref()),
        };
        (DaxCall::RefundQuery, fields)
    }

    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<RefundRecord, Failure> {
        refund_record(data, upstream)
    }
}

/// A refund as DaxPay's `RefundOrderResult` reports it.
pub fn refund_record(data: &Value, upstream: &Upstream<'_>) -> Result<RefundRecord, Failure> {
    let required = |key: &str| {
        owned(data, key).ok_or_else(|| upstream.malformed(format!("refund answer has no {key}")))
    };
    let amount =
        Fen::from_yuan(&required("amount")?).map_err(|e| upstream.malformed(e.to_string()))?;
    let finished_at_ms = match text(data, "finishTime") {
        None => None,
        Some(t) => Some(epoch_ms(&t, upstream)?),
    };
    Ok(RefundRecord {
        refund_no: required("refundNo")?,
        biz_refund_no: required("bizRefundNo")?,
        order_no: owned(data, "orderNo"),
        amount,
        status: refund_status(data, upstream)?,
        out_refund_no: owned(data, "outRefundNo"),
        attach: owned(data, "attach"),
        error_msg: owned(data, "errorMsg"),
        finished_at_ms,
        pay_amount: None,
        currency: None,
        created_at_ms: None,
    })
}

/// A refund's `status` (`RefundStatusEnum`).
pub fn refund_status(data: &Value, upstream: &Upstream<'_>) -> Result<RefundOrderStatus, Failure> {
    let status =
        text(data, "status").ok_or_else(|| upstream.malformed("refund answer has no status"))?;
    RefundOrderStatus::parse(&status)
        .ok_or_else(|| upstream.malformed(format!("unknown refund status `{status}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::UtcOffset;

    #[test]
    fn a_refund_is_read_exactly_and_its_order_amount_ignored() {
        let upstream = Upstream {
            name: "dax",
            version: Version::V3_0,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
        };
        let data: Value = serde_json::from_str(
            r#"{"orderId":"1","orderNo":"P1","bizOrderNo":"M1","refundNo":"R9","bizRefundNo":"R1",
            "outRefundNo":null,"orderAmount":12,"amount":5.6000,"finishTime":"2025-09-01 12:00:05",
            "status":"success","attach":"x","errorMsg":null}"#,
        )
        .unwrap();
        let r = refund_record(&data, &upstream).unwrap();
        assert_eq!(r.amount, Fen(560));
        assert_eq!(r.finished_at_ms, Some(1_756_699_205_000));
        assert_eq!(r.status, RefundOrderStatus::Success);
        assert_eq!(r.pay_amount, None);
        let bad: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","amount":1,"status":"done"}"#,
        )
        .unwrap();
        assert!(refund_record(&bad, &upstream).is_err());
    }
}
