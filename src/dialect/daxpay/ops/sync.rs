//! DaxPay 2.0.8's channel syncs, which make DaxPay ask the channel about an order or refund and
//! repair its own record from the answer (lifecycle-2.0.md §7.5.3; `D2G/UniPaySyncController`):
//!
//! - `POST /unipay/sync/pay`, `PaySyncParam {orderNo ≤ 32 (支付订单号不可超过32位), bizOrderNo ≤ 100
//!   (商户支付订单号不可超过100位)}`: the order by non-null `orderNo`, else non-null `bizOrderNo`
//!   (`PayOrderQueryService.findByBizOrOrderNo`); none → shape B `支付订单不存在`.
//! - `POST /unipay/sync/refund`, `RefundSyncParam {refundNo ≤ 100 (退款号不可超过100位),
//!   bizRefundNo ≤ 100 (商户退款号不可超过100位)}`: non-blank `refundNo`, else non-blank
//!   `bizRefundNo` (`RefundOrderQueryService.findByBizOrRefundNo`); none → shape B
//!   `未查询到退款订单`.
//!
//! Both are signed like every other 2.0 request (`PaymentCommonParam` first, §2.4; the envelope
//! adds `nonceStr` and `reqTime`). The answer's `data` is `PaySyncResult` / `RefundSyncResult`,
//! `code, msg, resTime, sign, status`, where `status` is what the **channel** said
//! (`PaySyncStatusEnum`, `RefundSyncStatusEnum`), not the order's state: the order is read again
//! afterwards, and only that signed record counts. A channel query that failed is shape B with the
//! channel's words (`OperationFailException`), and nothing was changed.

use serde_json::Value;

use super::limits::{check, label, limit, Limit};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::order_query::text;
use crate::dispatch::DaxCall;
use crate::domain::Failure;

/// `PaySyncParam`'s own fields.
const PAY_SYNC_LIMITS: &[Limit] = &[
    limit("orderNo", 32, label::PAY_ORDER_ID),
    limit("bizOrderNo", 100, label::MCH_ORDER_NO),
];

/// `RefundSyncParam`'s own fields.
const REFUND_SYNC_LIMITS: &[Limit] = &[
    limit("refundNo", 100, label::REFUND_ORDER_ID),
    limit("bizRefundNo", 100, label::MCH_REFUND_NO),
];

/// `PaySyncStatusEnum`'s codes (2.0.8).
const PAY_SYNC_STATUSES: [&str; 8] = [
    "pay_fail",
    "pay_success",
    "pay_progress",
    "pay_closed",
    "pay_refund",
    "pay_not_found",
    "pay_not_found_unknown",
    "pay_timeout",
];

/// `RefundSyncStatusEnum`'s codes, and `close`: `RefundSyncService.sync` answers a refund that
/// is closed already with the refund's own status.
const REFUND_SYNC_STATUSES: [&str; 5] = [
    "refund_success",
    "refund_fail",
    "refund_progress",
    "pay_not_found",
    "close",
];

/// The pay sync of DaxPay's order `order_no` (the merchant's `biz_order_no` beside it; DaxPay
/// looks the order up by `orderNo` when it is there).
pub fn pay_sync<'a>(
    order_no: &'a str,
    biz_order_no: &'a str,
) -> Result<(DaxCall, Fields<'a>), Failure> {
    let fields = Fields::default()
        .text("orderNo", Some(order_no))
        .text("bizOrderNo", Some(biz_order_no));
    check(&fields, PAY_SYNC_LIMITS, |_| 0)?;
    Ok((DaxCall::PaySync, fields))
}

/// The refund sync of DaxPay's refund `refund_no` (the merchant's `biz_refund_no` beside it).
pub fn refund_sync<'a>(
    refund_no: &'a str,
    biz_refund_no: &'a str,
) -> Result<(DaxCall, Fields<'a>), Failure> {
    let fields = Fields::default()
        .text("refundNo", Some(refund_no))
        .text("bizRefundNo", Some(biz_refund_no));
    check(&fields, REFUND_SYNC_LIMITS, |_| 0)?;
    Ok((DaxCall::RefundSync, fields))
}

/// What the channel said, from a verified sync answer's `data`, as one of 2.0.8's codes
/// (`None`: absent or a code 2.0.8 does not have). For the log only: nothing is decided on it.
pub fn remote_status(call: DaxCall, data: &Value) -> Option<&'static str> {
    let said = text(data, "status")?;
    let known: &[&'static str] = match call {
        DaxCall::PaySync => &PAY_SYNC_STATUSES,
        DaxCall::RefundSync => &REFUND_SYNC_STATUSES,
        _ => &[],
    };
    known.iter().copied().find(|code| *code == said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Caller;
    use crate::dialect::daxpay::sign::{Scheme, Version};
    use crate::dialect::daxpay::SignType;
    use hmac::{KeyInit, Mac};
    use md5::{Digest, Md5};
    use time::{OffsetDateTime, UtcOffset};

    const SECRET: &str = "dax_secret_Key123";

    fn encode(sign_type: SignType, fields: &Fields<'_>) -> Value {
        let caller = Caller {
            scheme: Scheme::new(Version::V2_0, sign_type),
            secret: SECRET,
            mch_no: None,
            app_id: None,
            client_ip: None,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
            now: OffsetDateTime::from_unix_timestamp(1_719_815_400).unwrap(),
            nonce: "0123456789abcdef",
        };
        serde_json::from_slice(&caller.encode(fields)).unwrap()
    }

    /// §2.4 by hand: the string DaxPay signs for these fields, and its digest.
    fn digest(sign_type: SignType, string: &str) -> String {
        let keyed = format!("{string}&key={SECRET}");
        match sign_type {
            SignType::Md5 => hex::encode(Md5::digest(keyed.as_bytes())),
            _ => {
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(keyed.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    #[test]
    fn the_pay_sync_names_the_order_both_ways_and_is_signed_for_both_sign_types() {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let (call, fields) = pay_sync("P24070112000056000001", "M20240701001").unwrap();
            assert_eq!(call, DaxCall::PaySync);
            assert_eq!(call.path(), "/unipay/sync/pay");
            let wire = encode(sign_type, &fields);
            let keys: Vec<&str> = wire
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                ["nonceStr", "reqTime", "orderNo", "bizOrderNo", "sign"]
            );
            assert_eq!(wire["reqTime"], 1_719_815_400, "epoch seconds, a number");
            let string = "bizOrderNo=M20240701001&nonceStr=0123456789abcdef\
                          &orderNo=P24070112000056000001&reqTime=1719815400";
            assert_eq!(wire["sign"], digest(sign_type, string), "{sign_type:?}");
        }
    }

    #[test]
    fn the_refund_sync_names_the_refund_both_ways_and_is_signed_for_both_sign_types() {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let (call, fields) = refund_sync("R24070112050056000002", "R20240701001").unwrap();
            assert_eq!(call.path(), "/unipay/sync/refund");
            let wire = encode(sign_type, &fields);
            let keys: Vec<&str> = wire
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                ["nonceStr", "reqTime", "refundNo", "bizRefundNo", "sign"]
            );
            let string = "bizRefundNo=R20240701001&nonceStr=0123456789abcdef\
                          &refundNo=R24070112050056000002&reqTime=1719815400";
            assert_eq!(wire["sign"], digest(sign_type, string), "{sign_type:?}");
        }
    }

    #[test]
    fn numbers_over_daxpays_limits_are_not_sent() {
        let long = "P".repeat(33);
        assert!(matches!(
            pay_sync(&long, "M1"),
            Err(Failure::TooLong { max: 32, .. })
        ));
        let long = "R".repeat(101);
        assert!(matches!(
            refund_sync("R1", &long),
            Err(Failure::TooLong { max: 100, .. })
        ));
    }

    #[test]
    fn the_channels_word_is_read_for_the_log_only_when_it_is_one_of_2_0_8s() {
        let data = |status: &str| serde_json::json!({"code": 0, "status": status});
        assert_eq!(
            remote_status(DaxCall::PaySync, &data("pay_timeout")),
            Some("pay_timeout")
        );
        assert_eq!(
            remote_status(DaxCall::RefundSync, &data("pay_not_found")),
            Some("pay_not_found")
        );
        assert_eq!(
            remote_status(DaxCall::RefundSync, &data("close")),
            Some("close")
        );
        assert_eq!(remote_status(DaxCall::PaySync, &data("close")), None);
        assert_eq!(remote_status(DaxCall::PaySync, &data("success")), None);
        assert_eq!(
            remote_status(DaxCall::PaySync, &serde_json::json!({})),
            None
        );
    }
}
