//! Reading a pay order on DaxPay (`/unipay/query/payOrder`): how it is named per version, and
//! its fields read from a verified answer. Used to settle an operation whose outcome is unknown,
//! and by the pay query itself.
//!
//! 3.0-beta and 2.0 declare the merchant's order number as `bizOrderNoeNo` (a typo in both
//! server and SDK, lifecycle.md §9): sent under any other name it is dropped and the lookup
//! finds nothing.

use std::borrow::Cow;

use serde_json::Value;

use super::answer_source::Upstream;
use super::envelope::Fields;
use super::sign::Version;
use crate::domain::order::{OrderRef, PayStatus};
use crate::domain::Failure;

/// The query's own fields for `order`.
pub fn query_fields(order: &OrderRef, version: Version) -> Fields<'_> {
    let biz_key = match version {
        Version::V3_0 => "bizOrderNo",
        Version::V3_0Beta | Version::V2_0 => "bizOrderNoeNo",
    };
    Fields::default()
        .text("orderNo", order.order_no.as_deref())
        .text(biz_key, order.biz_order_no.as_deref())
}

/// A field of a verified result as text: strings as they are, numbers as their literal,
/// booleans as `true`/`false`; absent, null or nested: `None`.
pub fn text<'v>(data: &'v Value, key: &str) -> Option<Cow<'v, str>> {
    match data.get(key)? {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// The merchant's order number the order was created with (what tells, on a shared identity,
/// whose order it is).
pub fn biz_order_no(data: &Value) -> Option<Cow<'_, str>> {
    text(data, "bizOrderNo")
}

/// The order's status (all that settling an unknown outcome needs).
pub fn pay_status(data: &Value, upstream: &Upstream<'_>) -> Result<PayStatus, Failure> {
    let status =
        text(data, "status").ok_or_else(|| upstream.malformed("query answer has no status"))?;
    PayStatus::parse(&status)
        .ok_or_else(|| upstream.malformed(format!("unknown pay status `{status}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::envelope::Field;
    use time::UtcOffset;

    #[test]
    fn beta_and_2_0_name_the_merchant_number_with_the_typo() {
        let order = OrderRef::new(Some("P1"), Some("B1"));
        let fields = query_fields(&order, Version::V3_0);
        assert_eq!(fields.get("bizOrderNo"), Some(Field::Text("B1")));
        for version in [Version::V3_0Beta, Version::V2_0] {
            let fields = query_fields(&order, version);
            assert_eq!(fields.get("bizOrderNoeNo"), Some(Field::Text("B1")));
            assert_eq!(fields.get("bizOrderNo"), None);
            assert_eq!(fields.get("orderNo"), Some(Field::Text("P1")));
        }
    }

    #[test]
    fn an_unknown_status_is_not_believed() {
        let upstream = Upstream {
            name: "dax",
            version: Version::V3_0,
            utc_offset: UtcOffset::UTC,
        };
        let data: Value = serde_json::from_str(r#"{"status":"closed"}"#).unwrap();
        assert!(matches!(
            pay_status(&data, &upstream),
            Err(Failure::Unverified { .. })
        ));
        let data: Value = serde_json::from_str(r#"{"status":"close"}"#).unwrap();
        assert_eq!(pay_status(&data, &upstream).unwrap(), PayStatus::Close);
        assert_eq!(biz_order_no(&data), None);
        let data: Value = serde_json::from_str(r#"{"bizOrderNo":"A-1"}"#).unwrap();
        assert_eq!(biz_order_no(&data).as_deref(), Some("A-1"));
    }
}
