//! The refund query on DaxPay: `/unipay/query/refundOrder` answered with `RefundOrderResult`
//! (lifecycle.md §5). DaxPay's lookup is not scoped by app: the pipeline only asks about refunds
//! its order store gives to the caller. `orderAmount` is read only from 2.0.8, where it is exact
//! fen (3.0 truncates it to whole yuan); 2.0.8's times are epoch seconds (lifecycle-2.0.md §6).

use serde_json::Value;

use super::limits::{java_len, label, limit, Limit};
use super::pay_query::{amount, owned, time_ms};
use super::{DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::order_query::text;
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::{RefundQuery, RefundRecord};
use crate::domain::order::RefundOrderStatus;
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
    let refunded = amount(&required("amount")?, upstream)?;
    let status = refund_status(data, upstream)?;
    let finished_at_ms = time_ms(data, "finishTime", upstream)?;
    // Exact fen in 2.0.8 only; 3.0 truncates it to whole yuan.
    let pay_amount = match (upstream.version, text(data, "orderAmount")) {
        (Version::V2_0, Some(t)) => Some(amount(&t, upstream)?),
        _ => None,
    };
    Ok(RefundRecord {
        refund_no: required("refundNo")?,
        biz_refund_no: required("bizRefundNo")?,
        order_no: owned(data, "orderNo"),
        amount: refunded,
        status,
        out_refund_no: owned(data, "outRefundNo"),
        attach: owned(data, "attach"),
        error_code: refund_error_code(data, status, upstream),
        error_msg: refund_error(data, status, upstream),
        finished_at_ms,
        pay_amount,
        currency: None,
        created_at_ms: None,
    })
}

/// A refund's `errorMsg` as the merchant's `errMsg`. 2.0.8 never clears it, so a refund re-run
/// after a failure keeps the old message whatever its outcome (lifecycle-2.0.md §5.3): there it
/// is told only with a failed or closed refund (§5.4: "only when state 3").
pub fn refund_error(
    data: &Value,
    status: RefundOrderStatus,
    upstream: &Upstream<'_>,
) -> Option<String> {
    let failed = matches!(status, RefundOrderStatus::Fail | RefundOrderStatus::Close);
    (upstream.version != Version::V2_0 || failed)
        .then(|| owned(data, "errorMsg"))
        .flatten()
}

/// A failed or closed 2.0.8 refund's `errorCode` as the merchant's `errCode` (lifecycle-2.0.md
/// §5.4, §6: "only when state 3"; `"0"` when the failure was no recorded channel error, §5.2).
/// 3.0's refund results have no error code.
pub fn refund_error_code(
    data: &Value,
    status: RefundOrderStatus,
    upstream: &Upstream<'_>,
) -> Option<String> {
    let failed = matches!(status, RefundOrderStatus::Fail | RefundOrderStatus::Close);
    (upstream.version == Version::V2_0 && failed)
        .then(|| owned(data, "errorCode"))
        .flatten()
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
    use crate::domain::order::Fen;
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

    #[test]
    fn a_2_0_refund_is_in_fen_and_epoch_seconds() {
        let upstream = Upstream {
            name: "dax",
            version: Version::V2_0,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
        };
        // lifecycle-2.0.md §11 vector 12, as the refund query answers it.
        let data: Value = serde_json::from_str(
            r#"{"code":0,"msg":null,"resTime":1719815760,"sign":"e4","orderNo":"P24070112000056000001",
            "bizOrderNo":"M20240701001","outOrderNo":"4200002222202407011234567890","title":"测试商品",
            "refundNo":"R24070112050056000002","bizRefundNo":"R20240701001",
            "outRefundNo":"50300009999202407011234567890","channel":"wechat_pay","orderAmount":1230,
            "amount":1,"reason":"用户申请退款","refundTime":null,"finishTime":1719815730,
            "status":"success","errorCode":null,"errorMsg":null}"#,
        )
        .unwrap();
        let r = refund_record(&data, &upstream).unwrap();
        assert_eq!(r.amount, Fen(1));
        assert_eq!(r.pay_amount, Some(Fen(1230)));
        assert_eq!(r.finished_at_ms, Some(1_719_815_730_000));
        assert_eq!(r.status, RefundOrderStatus::Success);
        assert_eq!(
            r.out_refund_no.as_deref(),
            Some("50300009999202407011234567890")
        );
        let yuan: Value = serde_json::from_str(
            r#"{"refundNo":"R9","bizRefundNo":"R1","amount":0.01,"status":"success"}"#,
        )
        .unwrap();
        assert!(refund_record(&yuan, &upstream).is_err());
    }
}
