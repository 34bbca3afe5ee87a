//! The pay query on DaxPay: `/unipay/query/payOrder` answered with `PayOrderResult`
//! (lifecycle.md §3, §9). Amounts are yuan with DaxPay's 4 stored decimals in 3.x (`12.3000`),
//! integer fen in 2.0; `payTime` is a wall clock in the upstream's zone in 3.x, epoch seconds
//! (a JSON number) in 2.0.8 (lifecycle-2.0.md §2.9, §4).

use serde_json::Value;
use time::PrimitiveDateTime;

use super::close::order_limits;
use super::limits::Limit;
use super::{DaxOp, Upstream};
use crate::dialect::daxpay::envelope::Fields;
use crate::dialect::daxpay::order_query::{pay_status, query_fields, text};
use crate::dialect::daxpay::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::ops::PayQuery;
use crate::domain::order::{Fen, PayOrder, RefundStatus};
use crate::domain::Failure;

impl DaxOp for PayQuery {
    /// `QueryPayParam`: as close's.
    fn limits(version: Version) -> &'static [Limit] {
        order_limits(version)
    }

    fn request(&self, version: Version) -> (DaxCall, Fields<'_>) {
        (DaxCall::PayQuery, query_fields(&self.order, version))
    }

    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<PayOrder, Failure> {
        pay_order(data, upstream)
    }
}

pub(super) fn owned(data: &Value, key: &str) -> Option<String> {
    text(data, key).map(|t| t.into_owned())
}

/// The order as DaxPay's `PayOrderResult` reports it.
pub fn pay_order(data: &Value, upstream: &Upstream<'_>) -> Result<PayOrder, Failure> {
    let required = |key: &str| {
        owned(data, key).ok_or_else(|| upstream.malformed(format!("query answer has no {key}")))
    };
    let amount = amount(&required("amount")?, upstream)?;
    let refund_status = match text(data, "refundStatus") {
        None => None,
        Some(s) => Some(
            RefundStatus::parse(&s)
                .ok_or_else(|| upstream.malformed(format!("unknown refund status `{s}`")))?,
        ),
    };
    let paid_at_ms = time_ms(data, "payTime", upstream)?;
    Ok(PayOrder {
        order_no: required("orderNo")?,
        biz_order_no: required("bizOrderNo")?,
        channel: owned(data, "channel"),
        method: owned(data, "method"),
        amount,
        status: pay_status(data, upstream)?,
        refund_status,
        title: owned(data, "title"),
        description: owned(data, "description"),
        out_order_no: owned(data, "outOrderNo"),
        attach: owned(data, "attach"),
        error_code: owned(data, "errorCode"),
        error_msg: owned(data, "errorMsg"),
        paid_at_ms,
        // Only the settlement worker's expiry follow-up reads it: an unreadable expiry is no
        // reason to refuse the query's answer.
        expires_at_ms: time_ms(data, "expiredTime", upstream).ok().flatten(),
        kept: None,
    })
}

/// An amount as the upstream writes it: integer fen in 2.0, yuan in 3.x.
pub(super) fn amount(text: &str, upstream: &Upstream<'_>) -> Result<Fen, Failure> {
    match upstream.version {
        Version::V2_0 => Fen::from_fen_text(text),
        Version::V3_0 | Version::V3_0Beta => Fen::from_yuan(text),
    }
    .map_err(|e| upstream.malformed(e.to_string()))
}

/// A time field of a verified result as Unix milliseconds (`None`: absent or null): epoch
/// seconds in 2.0.8, a wall clock in the upstream's zone in 3.x.
pub(super) fn time_ms(
    data: &Value,
    key: &str,
    upstream: &Upstream<'_>,
) -> Result<Option<i64>, Failure> {
    let Some(t) = text(data, key) else {
        return Ok(None);
    };
    match upstream.version {
        Version::V2_0 => epoch_seconds_ms(&t, upstream).map(Some),
        Version::V3_0 | Version::V3_0Beta => epoch_ms(&t, upstream).map(Some),
    }
}

/// 2.0.8's epoch seconds (`LocalDateTimeToTimestampSerializer`) as Unix milliseconds.
fn epoch_seconds_ms(seconds: &str, upstream: &Upstream<'_>) -> Result<i64, Failure> {
    let unreadable = || upstream.malformed(format!("`{seconds}` is not epoch seconds"));
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unreadable());
    }
    seconds
        .parse::<i64>()
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(unreadable)
}

/// DaxPay's `yyyy-MM-dd HH:mm:ss`, a wall clock in the upstream's zone, as Unix milliseconds.
pub(super) fn epoch_ms(wall: &str, upstream: &Upstream<'_>) -> Result<i64, Failure> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let local = PrimitiveDateTime::parse(wall, &format)
        .map_err(|_| upstream.malformed(format!("`{wall}` is not yyyy-MM-dd HH:mm:ss")))?;
    let instant = local.assume_offset(upstream.utc_offset);
    Ok((instant.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::PayStatus;
    use time::UtcOffset;

    fn upstream(version: Version) -> Upstream<'static> {
        Upstream {
            name: "dax",
            version,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_3_0_order_is_read_exactly() {
        let data: Value = serde_json::from_str(
            r#"{"bizOrderNo":"M1","orderNo":"P1","outOrderNo":"4200001","title":"T","description":null,
            "allocation":false,"channel":"wechat_pay","method":"jsapi","amount":12.3000,"realAmount":12.3000,
            "refundableBalance":0.0000,"status":"success","refundStatus":"refunded","payTime":"2025-09-01 12:00:05",
            "attach":"a=1&b=2","errorMsg":null}"#,
        )
        .unwrap();
        let order = pay_order(&data, &upstream(Version::V3_0)).unwrap();
        assert_eq!(order.amount, Fen(1230));
        assert_eq!(order.status, PayStatus::Success);
        assert_eq!(order.refund_status, Some(RefundStatus::Refunded));
        assert_eq!(order.paid_at_ms, Some(1_756_699_205_000));
        assert_eq!(order.description, None);
        assert_eq!(order.attach.as_deref(), Some("a=1&b=2"));
    }

    #[test]
    fn version_2_amounts_are_fen() {
        let data: Value = serde_json::from_str(
            r#"{"bizOrderNo":"M1","orderNo":"P1","amount":1230,"status":"progress","errorCode":"E1"}"#,
        )
        .unwrap();
        let order = pay_order(&data, &upstream(Version::V2_0)).unwrap();
        assert_eq!(order.amount, Fen(1230));
        assert_eq!(order.error_code.as_deref(), Some("E1"));
    }

    #[test]
    fn version_2_times_are_epoch_seconds() {
        // lifecycle-2.0.md §4: `payTime`, `expiredTime`, `closeTime` are JSON numbers of seconds.
        let data: Value = serde_json::from_str(
            r#"{"code":0,"msg":null,"resTime":1719815460,"bizOrderNo":"M1","orderNo":"P1",
            "amount":1,"refundableBalance":1,"status":"success","refundStatus":"no_refund",
            "payTime":1719815455,"expiredTime":1719822600,"closeTime":null}"#,
        )
        .unwrap();
        let order = pay_order(&data, &upstream(Version::V2_0)).unwrap();
        assert_eq!(order.paid_at_ms, Some(1_719_815_455_000));
        assert_eq!(order.expires_at_ms, Some(1_719_822_600_000));
        for bad in [r#""2024-07-01 14:30:55""#, "-5", "1.5"] {
            let data: Value = serde_json::from_str(&format!(
                r#"{{"bizOrderNo":"M1","orderNo":"P1","amount":1,"status":"success","payTime":{bad}}}"#
            ))
            .unwrap();
            assert!(pay_order(&data, &upstream(Version::V2_0)).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unreadable_order_is_not_believed() {
        for body in [
            r#"{"orderNo":"P1","bizOrderNo":"M1","amount":12.345,"status":"success"}"#,
            r#"{"orderNo":"P1","bizOrderNo":"M1","amount":1,"status":"paid"}"#,
            r#"{"orderNo":"P1","bizOrderNo":"M1","status":"success"}"#,
            r#"{"orderNo":"P1","bizOrderNo":"M1","amount":1,"status":"success","payTime":"yesterday"}"#,
        ] {
            let data: Value = serde_json::from_str(body).unwrap();
            let err = pay_order(&data, &upstream(Version::V3_0)).unwrap_err();
            assert!(matches!(err, Failure::Unverified { .. }), "{body}");
        }
    }
}
