//! The pay, refund and refund-query requests, read the way DaxPay reads them: into the
//! version's declared fields only (everything else is dropped, as Jackson drops it), each with
//! its Java type. The signature is then checked over those fields, never over the raw JSON.
//!
//! The close and pay-query models ([`super::model`]) are few and small enough to be written
//! out as structs; these are larger and differ per version in many fields, so they are
//! described as tables of `(name, kind)` instead ([`Declared`]).

use std::borrow::Cow;

use serde_json::{Map, Value};
use time::PrimitiveDateTime;

use super::model::{parse_wall_clock, ReqTime, WALL_CLOCK};
use crate::sign::daxpay::{strip_decimal, Version};

/// The Java type of a declared field, as far as reading and signing go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `String`: Jackson also takes a number or boolean as its text.
    Text,
    /// `BigDecimal`: a JSON number or numeric string, kept as written.
    Decimal,
    /// `Boolean`.
    Bool,
    /// `LocalDateTime` as `yyyy-MM-dd HH:mm:ss` (3.x `reqTime`, `expiredTime`).
    Time,
}

/// A field list: the model's declared fields in declaration order.
pub(super) type Declared = &'static [(&'static str, Kind)];

/// A read value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Text(String),
    Decimal(String),
    Bool(bool),
    Time(PrimitiveDateTime),
}

/// A request read into its model: the non-null declared fields.
#[derive(Debug, Clone, Default)]
pub(super) struct Params {
    fields: Vec<(&'static str, Val)>,
}

/// The common fields of every request (`PaymentCommonParam`) per version.
pub(super) fn common(version: Version) -> Declared {
    match version {
        Version::V3_0 => &[
            ("mchNo", Kind::Text),
            ("appId", Kind::Text),
            ("clientIp", Kind::Text),
            ("nonceStr", Kind::Text),
            ("sign", Kind::Text),
            ("reqTime", Kind::Time),
        ],
        Version::V3_0Beta => &[
            ("appId", Kind::Text),
            ("clientIp", Kind::Text),
            ("nonceStr", Kind::Text),
            ("sign", Kind::Text),
            ("reqTime", Kind::Time),
        ],
        // 2.0.8 is read by `super::v20`.
        Version::V2_0 => &[],
    }
}

impl Params {
    /// Reads `body` (a JSON object) into `common` + `own`. A value of the wrong type is a
    /// parse error (10505 / 10005), as in Jackson.
    pub(super) fn parse(common: Declared, own: Declared, body: &[u8]) -> Result<Params, String> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err("not a JSON object".to_owned());
        }
        let object: Map<String, Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut fields = Vec::new();
        for (name, kind) in common.iter().chain(own) {
            let Some(value) = object.get(*name) else {
                continue;
            };
            if let Some(v) = read(*kind, value).map_err(|e| format!("{name}: {e}"))? {
                fields.push((*name, v));
            }
        }
        Ok(Params { fields })
    }

    pub(super) fn get(&self, name: &str) -> Option<&Val> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub(super) fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Val::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The text when it is not blank (Java `isNotBlank`).
    pub(super) fn filled(&self, name: &str) -> Option<&str> {
        self.text(name).filter(|s| !s.trim().is_empty())
    }

    pub(super) fn req_time(&self) -> Option<ReqTime> {
        match self.get("reqTime") {
            Some(Val::Time(t)) => Some(ReqTime::WallClock(*t)),
            _ => None,
        }
    }

    pub(super) fn time(&self, name: &str) -> Option<PrimitiveDateTime> {
        match self.get(name) {
            Some(Val::Time(t)) => Some(*t),
            _ => None,
        }
    }

    /// The model's signable fields: every non-null field but `sign`, rendered as on the wire.
    pub(super) fn sign_fields(&self) -> Vec<(&'static str, Cow<'_, str>)> {
        self.fields
            .iter()
            .filter(|(k, _)| *k != "sign")
            .map(|(k, v)| {
                let rendered = match v {
                    Val::Text(s) => Cow::Borrowed(s.as_str()),
                    Val::Decimal(d) => Cow::Owned(strip_decimal(d)),
                    Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
                    Val::Time(t) => Cow::Owned(t.format(WALL_CLOCK).unwrap_or_default()),
                };
                (*k, rendered)
            })
            .collect()
    }
}

/// One value as Jackson binds it to `kind`; `None` for JSON null (and `""` for a time).
fn read(kind: Kind, value: &Value) -> Result<Option<Val>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = || Err(format!("cannot bind {value} as {kind:?}"));
    Ok(Some(match (kind, value) {
        (Kind::Text, Value::String(s)) => Val::Text(s.clone()),
        (Kind::Text, Value::Number(n)) => Val::Text(n.to_string()),
        (Kind::Text, Value::Bool(b)) => Val::Text(b.to_string()),
        (Kind::Decimal, Value::Number(n)) => Val::Decimal(plain_decimal(&n.to_string())?),
        (Kind::Decimal, Value::String(s)) => Val::Decimal(plain_decimal(s.trim())?),
        (Kind::Bool, Value::Bool(b)) => Val::Bool(*b),
        (Kind::Time, Value::String(s)) if s.is_empty() => return Ok(None),
        (Kind::Time, Value::String(s)) => {
            Val::Time(parse_wall_clock(s).ok_or("not yyyy-MM-dd HH:mm:ss")?)
        }
        _ => return wrong(),
    }))
}

/// A decimal in plain notation (`-12.30`); exponent forms are refused (the sandbox's
/// simplification: Jackson would accept `1E+2`).
fn plain_decimal(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || digits.ends_with('.') {
        return Err(format!("`{text}` is not a plain decimal"));
    }
    Ok(text.to_owned())
}

/// A `BigDecimal` checked as `@DecimalMin("0.01") @Digits(integer = 8, fraction = 2)` check
/// it (`Digits` strips trailing zeros first): the amount in fen, or which check failed.
pub(super) fn yuan_to_fen(text: &str) -> Result<u64, AmountError> {
    let stripped = strip_decimal(text);
    let negative = stripped.starts_with('-');
    let digits = stripped.trim_start_matches('-');
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let is_zero = int.is_empty() && frac.bytes().all(|b| b == b'0');
    // Below 0.01: negative, zero, or only non-zero digits after the second decimal.
    let below_min = negative
        || is_zero
        // (Padded: `0.1` is ten fen, not below the minimum.)
        || (int.is_empty() && format!("{frac:0<2}").bytes().take(2).all(|b| b == b'0'));
    if below_min {
        return Err(AmountError::BelowMinimum);
    }
    if int.len() > 8 || frac.len() > 2 {
        return Err(AmountError::Digits);
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| AmountError::Digits)?
    };
    let frac: u64 = format!("{frac:0<2}")
        .parse()
        .map_err(|_| AmountError::Digits)?;
    Ok(int * 100 + frac)
}

/// Which amount constraint failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AmountError {
    BelowMinimum,
    Digits,
}

/// Java `String.length()`: UTF-16 code units.
pub(super) fn java_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_decimal_min_and_digits() {
        assert_eq!(yuan_to_fen("12.3"), Ok(1230));
        assert_eq!(yuan_to_fen("12.300"), Ok(1230));
        assert_eq!(yuan_to_fen("0.01"), Ok(1));
        assert_eq!(yuan_to_fen("0.1"), Ok(10));
        assert_eq!(yuan_to_fen("99999999.99"), Ok(9_999_999_999));
        assert_eq!(yuan_to_fen("100"), Ok(10_000));
        for low in ["0", "0.00", "-1", "0.001", "0.009"] {
            assert_eq!(yuan_to_fen(low), Err(AmountError::BelowMinimum), "{low}");
        }
        for bad in ["1.234", "100000000", "123456789.1"] {
            assert_eq!(yuan_to_fen(bad), Err(AmountError::Digits), "{bad}");
        }
    }

    #[test]
    fn only_declared_fields_are_read_with_their_types() {
        const OWN: Declared = &[("amount", Kind::Decimal), ("title", Kind::Text)];
        let body = br#"{"appId":"A1","amount":12.30,"title":7,"extra":"x","reqTime":""}"#;
        let p = Params::parse(common(Version::V3_0Beta), OWN, body).expect("reads");
        assert_eq!(p.get("amount"), Some(&Val::Decimal("12.30".to_owned())));
        assert_eq!(p.text("title"), Some("7"));
        assert!(p.get("extra").is_none() && p.req_time().is_none());
        let fields = p.sign_fields();
        assert!(fields.contains(&("amount", Cow::Borrowed("12.3"))));
        for bad in [&br#"{"amount":"x"}"#[..], br#"{"title":{}}"#, b"[1]", b"{"] {
            assert!(Params::parse(common(Version::V3_0), OWN, bad).is_err());
        }
    }
}
