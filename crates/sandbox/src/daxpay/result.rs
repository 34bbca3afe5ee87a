//! DaxPay's typed `data` objects (the query's `PayOrderResult`), written twice: on the wire as
//! Jackson writes them (declaration order, nulls included, amounts with their stored scale),
//! and into the sign string as hutool's `JsonUtil.toJsonStr` writes them (declaration order,
//! nulls dropped, decimals stripped, hutool's string escaping). `protocols/lifecycle.md` §1.2.

use time::{PrimitiveDateTime, UtcOffset};

use super::model::WALL_CLOCK;
use crate::config::SandboxOrder;
use crate::order::Amount;
use crate::sign::daxpay::{strip_decimal, Version};

/// One member of a typed result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Null,
    Text(String),
    Bool(bool),
    /// A `BigDecimal`, as stored (`12.3000`).
    Decimal(String),
    Integer(u64),
}

impl Member {
    fn text(value: Option<&str>) -> Member {
        value.map_or(Member::Null, |v| Member::Text(v.to_owned()))
    }

    fn time(value: Option<PrimitiveDateTime>) -> Member {
        value
            .and_then(|t| t.format(WALL_CLOCK).ok())
            .map_or(Member::Null, Member::Text)
    }

    /// Jackson's rendering: nulls kept, decimals with their scale.
    fn wire(&self) -> String {
        match self {
            Member::Null => "null".to_owned(),
            Member::Text(s) => serde_json::to_string(s).unwrap_or_else(|_| "null".to_owned()),
            Member::Bool(b) => b.to_string(),
            Member::Decimal(d) => d.clone(),
            Member::Integer(n) => n.to_string(),
        }
    }

    /// hutool's rendering; `None` for null (dropped).
    fn signed(&self) -> Option<String> {
        match self {
            Member::Null => None,
            Member::Text(s) => Some(format!("\"{}\"", hutool_escape(s))),
            Member::Bool(b) => Some(b.to_string()),
            Member::Decimal(d) => Some(strip_decimal(d)),
            Member::Integer(n) => Some(n.to_string()),
        }
    }

    /// The member as a top-level sign-string value (2.0's flat result); `None` for null.
    pub fn plain(&self) -> Option<String> {
        match self {
            Member::Null => None,
            Member::Text(s) => Some(s.clone()),
            Member::Bool(b) => Some(b.to_string()),
            Member::Decimal(d) => Some(strip_decimal(d)),
            Member::Integer(n) => Some(n.to_string()),
        }
    }
}

/// A typed object: its members in declaration order.
pub type Typed = Vec<(&'static str, Member)>;

/// The object as Jackson puts it on the wire.
pub fn wire_json(object: &[(&str, Member)]) -> String {
    let members: Vec<String> = object
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", v.wire()))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The object as `PaySignUtil` renders it into the sign string (before quotes and backslashes
/// are removed and the string upper-cased).
pub fn signed_json(object: &[(&str, Member)]) -> String {
    let members: Vec<String> = object
        .iter()
        .filter_map(|(k, v)| v.signed().map(|v| format!("\"{k}\":{v}")))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// hutool's `JSONUtil.quote` without the surrounding quotes.
pub fn hutool_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous = '\0';
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if previous == '<' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}'
            | '\u{80}'..='\u{a0}'
            | '\u{2000}'..='\u{2010}'
            | '\u{2028}'..='\u{202f}'
            | '\u{2066}'..='\u{206f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            other => out.push(other),
        }
        previous = c;
    }
    out
}

/// The order's 3.x `PayOrderResult`, in the server class's declaration order, amounts in yuan
/// with 4 decimals. (2.0: `super::v20::query`.)
pub fn pay_order_result(order: &SandboxOrder, version: Version) -> Typed {
    let _ = version;
    let amount = |a: Amount| Member::Decimal(a.yuan_4());
    vec![
        ("bizOrderNo", Member::Text(order.biz_order_no.clone())),
        ("orderNo", Member::Text(order.order_no.clone())),
        ("outOrderNo", Member::text(order.out_order_no.as_deref())),
        ("title", Member::text(order.title.as_deref())),
        ("description", Member::text(order.description.as_deref())),
        ("allocation", Member::Bool(false)),
        ("autoAllocation", Member::Bool(false)),
        ("channel", Member::Text(order.channel.clone())),
        ("method", Member::Text(order.method.clone())),
        ("otherMethod", Member::Null),
        ("limitPay", Member::Null),
        ("amount", amount(order.amount)),
        (
            "realAmount",
            order.real_amount().map_or(Member::Null, amount),
        ),
        ("refundableBalance", amount(order.refundable_balance())),
        ("status", Member::Text(order.status.as_str().to_owned())),
        (
            "refundStatus",
            Member::Text(order.refund_status.as_str().to_owned()),
        ),
        ("allocStatus", Member::Null),
        ("settleStatus", Member::Null),
        ("payTime", Member::time(order.pay_time)),
        ("closeTime", Member::time(order.close_time)),
        ("expiredTime", Member::time(order.expired_time)),
        ("attach", Member::text(order.attach.as_deref())),
        ("errorMsg", Member::text(order.error_msg.as_deref())),
    ]
}

/// `now` on the wall clock of `offset`.
pub fn wall_clock_at(now: time::OffsetDateTime, offset: UtcOffset) -> PrimitiveDateTime {
    let local = now.to_offset(offset);
    PrimitiveDateTime::new(local.date(), local.time())
}
