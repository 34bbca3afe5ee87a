//! DaxPay's own length limits, checked before the call.
//!
//! Every text field of DaxPay's request models carries a bean-validation `@Size(max = n)`
//! (`PayParam`, `RefundParam`, `PayCloseParam`, `QueryPayParam`, `QueryRefundParam`; lifecycle.md
//! §2.4, §3–§5, daxpay.md; 3.0-beta and 2.0 where they differ). Sent over it, DaxPay refuses
//! the whole request, unsigned, with 10506 `验证参数错误` + its own words: a merchant's
//! 101-character `mchOrderNo` would come back as an operator's fault, after a round trip and
//! with a 60,000-character body on the wire. So each operation declares its call's limits per
//! version (`DaxOp::limits`, in `ops/<op>.rs`), and [`check`] refuses the request the way
//! Jeepay's own validation would word it (`<field>不能超过<n>个字符`, Jeepay's names for its
//! fields, code 9999) before anything is sent.
//!
//! Lengths are counted as Hibernate Validator counts them: Java's `String.length()`, UTF-16 code
//! units (a character outside the BMP counts two).

use crate::dialect::daxpay::envelope::{Field, Fields};
use crate::domain::Failure;

/// One DaxPay field's `@Size(max)`, and what the merchant calls the value that fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The field's name on DaxPay's wire.
    pub field: &'static str,
    /// At most this many UTF-16 code units.
    pub max: usize,
    /// The merchant's name for the value, in Jeepay's words (its field comments and messages).
    pub label: &'static str,
}

/// Shorthand for the tables in `ops/<op>.rs`.
pub const fn limit(field: &'static str, max: usize, label: &'static str) -> Limit {
    Limit { field, max, label }
}

/// Jeepay's names for the values DaxPay limits (`UnifiedOrderRQ`, `RefundOrderRQ`, … field
/// comments and `@NotBlank` messages).
pub mod label {
    pub const MCH_ORDER_NO: &str = "商户订单号";
    pub const PAY_ORDER_ID: &str = "支付系统订单号";
    pub const SUBJECT: &str = "商品标题";
    pub const BODY: &str = "商品描述信息";
    pub const EXT_PARAM: &str = "商户扩展参数";
    pub const CHANNEL_EXTRA: &str = "特定渠道发起额外参数";
    pub const OPEN_ID: &str = "openid";
    pub const AUTH_CODE: &str = "支付条码";
    pub const NOTIFY_URL: &str = "异步通知地址";
    pub const RETURN_URL: &str = "跳转通知地址";
    pub const MCH_REFUND_NO: &str = "商户退款单号";
    pub const REFUND_ORDER_ID: &str = "支付系统退款订单号";
    pub const REFUND_REASON: &str = "退款原因";
    /// The route's DaxPay codes come from the configuration (checked there against the same
    /// limits); named for completeness.
    pub const CHANNEL: &str = "支付通道编码";
    pub const METHOD: &str = "支付方式编码";
}

/// The length DaxPay's `@Size` measures: Java's `String.length()`.
pub fn java_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Every text field of `fields` that has a limit in `limits` is within it; the first that is
/// not is refused in the merchant's terms. `added(field)`: how many units of the value
/// paybridge put before the merchant's own (a shared identity's order prefix), taken off the
/// limit the merchant is told.
pub fn check(
    fields: &Fields<'_>,
    limits: &[Limit],
    added: impl Fn(&str) -> usize,
) -> Result<(), Failure> {
    for (name, value) in fields.iter() {
        let Field::Text(text) = value else {
            continue;
        };
        let Some(limit) = limits.iter().find(|l| l.field == name) else {
            continue;
        };
        // Most values are short ASCII: counted without walking UTF-16 when bytes already fit.
        if text.len() > limit.max && java_len(text) > limit.max {
            return Err(Failure::TooLong {
                label: limit.label,
                max: limit.max.saturating_sub(added(name)),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &[Limit] = &[
        limit("bizOrderNo", 100, label::MCH_ORDER_NO),
        limit("title", 5, label::SUBJECT),
    ];

    #[test]
    fn lengths_are_utf16_units_as_java_counts_them() {
        assert_eq!(java_len("abc"), 3);
        assert_eq!(java_len("商品"), 2);
        // U+1F600 is two UTF-16 units (and four UTF-8 bytes).
        assert_eq!(java_len("😀"), 2);
        let five = Fields::default().text("title", Some("商品标题五"));
        assert!(check(&five, LIMITS, |_| 0).is_ok());
        let over = Fields::default().text("title", Some("商品😀标题"));
        assert!(matches!(
            check(&over, LIMITS, |_| 0),
            Err(Failure::TooLong {
                label: label::SUBJECT,
                max: 5
            })
        ));
    }

    #[test]
    fn the_first_field_over_its_limit_is_refused_with_the_merchants_allowance() {
        let at = "x".repeat(100);
        let over = "x".repeat(101);
        let ok = Fields::default().text("bizOrderNo", Some(&at));
        assert!(check(&ok, LIMITS, |_| 0).is_ok());
        let long = Fields::default()
            .text("bizOrderNo", Some(&over))
            .text("title", Some("abcdefg"));
        // A 5-character prefix was put before the merchant's number: 95 are the merchant's.
        assert!(matches!(
            check(&long, LIMITS, |f| if f == "bizOrderNo" { 5 } else { 0 }),
            Err(Failure::TooLong {
                label: label::MCH_ORDER_NO,
                max: 95
            })
        ));
        // Fields without a limit, and numbers, are not measured.
        let other = Fields::default()
            .text("expiredTime", Some(&over))
            .number("amount", &over);
        assert!(check(&other, LIMITS, |_| 0).is_ok());
    }

    mod every_field_sent {
        //! Every text field an operation can send, in every version, has its limit declared
        //! (or has none on DaxPay): a field added later without one fails here.

        use super::super::super::DaxOp;
        use super::*;
        use crate::dialect::daxpay::envelope::Fields;
        use crate::dialect::daxpay::sign::Version;
        use crate::dialect::jeepay::ops::JeepayOp;
        use crate::domain::ops::{Close, Pay, PayQuery, Refund, RefundQuery};
        use crate::domain::order::OrderRef;
        use crate::domain::way_code::default_route;
        use crate::domain::OpKind;

        /// DaxPay declares no `@Size` on these (a `LocalDateTime`).
        const UNLIMITED: &[&str] = &["expiredTime"];

        const VERSIONS: [Version; 3] = [Version::V3_0, Version::V3_0Beta, Version::V2_0];

        fn covered<O: DaxOp>(op: &O, expected_fields: usize) {
            for version in VERSIONS {
                let (_, fields): (_, Fields<'_>) = op.request(version);
                let limits = O::limits(version);
                let mut texts = 0;
                for (name, value) in fields.iter() {
                    if matches!(value, Field::Text(_)) {
                        texts += 1;
                        assert!(
                            UNLIMITED.contains(&name) || limits.iter().any(|l| l.field == name),
                            "{version:?}: `{name}` is sent without its limit"
                        );
                    }
                }
                assert!(texts >= expected_fields, "{version:?}: {texts} text fields");
            }
        }

        fn everything() -> OrderRef {
            OrderRef::new(Some("P1"), Some("M1"))
        }

        #[test]
        fn pay() {
            let merchant = crate::config::test_merchant();
            for way_code in ["WX_JSAPI", "ALI_JSAPI", "WX_BAR"] {
                let mut op = Pay::sample(OpKind::Pay, &merchant);
                op.order = everything();
                op.route = default_route(way_code).unwrap();
                op.subject = "s".into();
                op.body = "b".into();
                op.open_id = Some("o".into());
                op.auth_code = Some("a".into());
                op.buyer_id = Some("2088".into());
                op.sub_open_id = true;
                op.ext_param = Some("e".into());
                op.upstream_text.expired_time = "2025-01-01 00:00:00".into();
                op.upstream_text.extra_param = Some("{}".into());
                op.relay.notify_url = Some("n".into());
                op.relay.return_url = Some("r".into());
                // 2.0 writes its expiry as a number and `extraParam` as a JSON object: 8.
                covered(&op, 8);
            }
        }

        #[test]
        fn refund() {
            let mut op = Refund::sample(OpKind::Refund, &crate::config::test_merchant());
            op.order = everything();
            op.biz_refund_no = "R1".into();
            op.reason = "r".into();
            op.ext_param = Some("e".into());
            op.relay_notify_url = Some("n".into());
            covered(&op, 6);
        }

        #[test]
        fn lookups() {
            let merchant = crate::config::test_merchant();
            let mut close = Close::sample(OpKind::Close, &merchant);
            close.order = everything();
            covered(&close, 2);
            let mut query = PayQuery::sample(OpKind::PayQuery, &merchant);
            query.order = everything();
            covered(&query, 2);
            let mut by_number = RefundQuery::sample(OpKind::RefundQuery, &merchant);
            by_number.refund_no = Some("R1".into());
            covered(&by_number, 1);
            let mut by_merchant = RefundQuery::sample(OpKind::RefundQuery, &merchant);
            by_merchant.biz_refund_no = Some("R1".into());
            covered(&by_merchant, 1);
        }
    }
}
