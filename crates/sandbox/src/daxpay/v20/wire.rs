//! A DaxPay 2.0.8 request as the server reads it (`lifecycle-2.0.md` §2.2–§2.4): bound into
//! the endpoint's declared fields with Jackson's coercions (undeclared fields dropped), checked
//! by bean validation with 2.0.8's messages, and signed over the *bound object* — the nested
//! `extraParam` map rendered as hutool writes it.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::super::result::hutool_escape;
use crate::sign::daxpay::strip_decimal;

/// The Java type of a declared field, as far as binding and signing go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `String`: a JSON number or boolean binds as its text.
    Text,
    /// `Integer`: a float is truncated, a numeric string parsed, beyond `int` a parse error.
    Int,
    /// `Boolean`: also `"true"` / `"false"`.
    Bool,
    /// `LocalDateTime` through `TimestampToLocalDateTimeDeserializer`: epoch seconds, as a JSON
    /// number or numeric string; blank is null.
    Epoch,
    /// `Map<String, Object>`: a JSON object only.
    Map,
}

/// A field list: the model's declared fields in declaration order.
pub(super) type Declared = &'static [(&'static str, Kind)];

/// `PaymentCommonParam` (2.0.8): no `mchNo`, no `appId`.
pub(super) const COMMON: Declared = &[
    ("clientIp", Kind::Text),
    ("nonceStr", Kind::Text),
    ("sign", Kind::Text),
    ("reqTime", Kind::Epoch),
];

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Text(String),
    Int(i64),
    Bool(bool),
    Epoch(i64),
    Map(Map<String, Value>),
}

/// A request bound to its model: the non-null declared fields.
#[derive(Debug, Clone, Default)]
pub(super) struct Bound {
    fields: Vec<(&'static str, Val)>,
}

impl Bound {
    /// Binds `body` (a JSON object) to `COMMON` + `own`; `Err` is a binding failure (10005).
    pub(super) fn parse(own: Declared, body: &[u8]) -> Result<Bound, String> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err("JSON parse error: not an object".to_owned());
        }
        let object: Map<String, Value> =
            serde_json::from_slice(body).map_err(|e| format!("JSON parse error: {e}"))?;
        let mut fields = Vec::new();
        for (name, kind) in COMMON.iter().chain(own) {
            let Some(value) = object.get(*name) else {
                continue;
            };
            if let Some(v) =
                bind(*kind, value).map_err(|e| format!("JSON parse error: {name}: {e}"))?
            {
                fields.push((*name, v));
            }
        }
        Ok(Bound { fields })
    }

    pub(super) fn get(&self, name: &str) -> Option<&Val> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// A `String` field, `None` when null.
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Val::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The text when not blank (hutool `StrUtil.isNotBlank`).
    pub(super) fn filled(&self, name: &str) -> Option<&str> {
        self.text(name).filter(|s| !is_blank(s))
    }

    pub(super) fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Val::Int(n)) => Some(*n),
            _ => None,
        }
    }

    pub(super) fn epoch(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Val::Epoch(n)) => Some(*n),
            _ => None,
        }
    }

    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Val::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub(super) fn map(&self, name: &str) -> Option<&Map<String, Value>> {
        match self.get(name) {
            Some(Val::Map(m)) => Some(m),
            _ => None,
        }
    }

    /// `PaySignUtil.toMap` over the bound object: every non-null field but `sign`, rendered
    /// by its declared type (the map through [`extra_param_json`]).
    pub(super) fn sign_fields(&self) -> Vec<(&'static str, Cow<'_, str>)> {
        self.fields
            .iter()
            .filter(|(k, _)| *k != "sign")
            .map(|(k, v)| {
                let rendered = match v {
                    Val::Text(s) => Cow::Borrowed(s.as_str()),
                    Val::Int(n) | Val::Epoch(n) => Cow::Owned(n.to_string()),
                    Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
                    Val::Map(m) => Cow::Owned(extra_param_json(m)),
                };
                (*k, rendered)
            })
            .collect()
    }
}

/// Java's `String.trim().isEmpty()`: nothing but characters up to U+0020.
pub(super) fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c <= ' ')
}

/// Java `String.length()`: UTF-16 code units.
pub(super) fn java_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// One value as Jackson binds it to `kind`; `None` for JSON null (and blank epoch text).
fn bind(kind: Kind, value: &Value) -> Result<Option<Val>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = || Err(format!("cannot bind {value} as {kind:?}"));
    Ok(Some(match (kind, value) {
        (Kind::Text, Value::String(s)) => Val::Text(s.clone()),
        (Kind::Text, Value::Number(n)) => Val::Text(n.to_string()),
        (Kind::Text, Value::Bool(b)) => Val::Text(b.to_string()),
        (Kind::Int, Value::Number(n)) => Val::Int(int_of(&n.to_string())?),
        (Kind::Int, Value::String(s)) if s.trim().is_empty() => return Ok(None),
        (Kind::Int, Value::String(s)) => Val::Int(
            s.trim()
                .parse::<i32>()
                .map_err(|_| format!("`{s}` is not an int"))?
                .into(),
        ),
        (Kind::Bool, Value::Bool(b)) => Val::Bool(*b),
        (Kind::Bool, Value::String(s)) if s.is_empty() => return Ok(None),
        (Kind::Bool, Value::String(s)) if s == "true" || s == "false" => Val::Bool(s == "true"),
        (Kind::Epoch, Value::Number(n)) => Val::Epoch(epoch_of(&n.to_string())?),
        (Kind::Epoch, Value::String(s)) if is_blank(s) => return Ok(None),
        (Kind::Epoch, Value::String(s)) => Val::Epoch(epoch_of(s)?),
        (Kind::Map, Value::Object(m)) => Val::Map(m.clone()),
        _ => return wrong(),
    }))
}

/// A JSON number bound to `Integer`: integers within `int`, floats truncated toward zero.
fn int_of(text: &str) -> Result<i64, String> {
    if let Ok(n) = text.parse::<i32>() {
        return Ok(n.into());
    }
    let float: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    let truncated = float.trunc();
    if truncated < f64::from(i32::MIN) || truncated > f64::from(i32::MAX) {
        return Err(format!("`{text}` is out of range for an int"));
    }
    Ok(truncated as i64)
}

/// `Long.parseLong` of the value's text (a float's text is not a long).
fn epoch_of(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .map_err(|_| format!("`{text}` is not epoch seconds"))
}

/// `extraParam` as `PaySignUtil` renders a `Map`: copied into a case-insensitive `TreeMap`
/// (keys equal ignoring case collapse: first spelling, last value), then hutool's
/// `JSONUtil.toJsonStr`: nested objects in arrival order, nulls dropped at every level,
/// numbers as Jackson parsed them, hutool string escaping (§2.4).
pub(super) fn extra_param_json(map: &Map<String, Value>) -> String {
    let mut top: Vec<(&str, &Value)> = Vec::new();
    for (key, value) in map {
        match top
            .iter_mut()
            .find(|(k, _)| case_insensitive(k, key) == Ordering::Equal)
        {
            Some(slot) => slot.1 = value,
            None => top.push((key, value)),
        }
    }
    top.sort_by(|a, b| case_insensitive(a.0, b.0));
    let members: Vec<String> = top
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("\"{}\":{}", hutool_escape(k), hutool_json(v)))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// A value as hutool writes it; nulls inside objects and arrays are left out.
fn hutool_json(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => jackson_number(&n.to_string()),
        Value::String(s) => format!("\"{}\"", hutool_escape(s)),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .filter(|v| !v.is_null())
                .map(hutool_json)
                .collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("\"{}\":{}", hutool_escape(k), hutool_json(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}

/// A number as Jackson parsed it into the map and hutool printed it: integers as written,
/// other numbers as a `Double`, trailing zeros stripped (`1.50` → `1.5`).
fn jackson_number(text: &str) -> String {
    if !text.contains(['.', 'e', 'E']) {
        return text.to_owned();
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => strip_decimal(&format!("{f}")),
        _ => text.to_owned(),
    }
}

/// Java's `String.CASE_INSENSITIVE_ORDER`: UTF-16 unit by unit, upper-cased then lower-cased.
pub(crate) fn case_insensitive(a: &str, b: &str) -> Ordering {
    let fold = |u: u16| -> u32 {
        let c = char::from_u32(u32::from(u)).unwrap_or('\u{fffd}');
        let upper = single(c.to_uppercase(), c);
        u32::from(single(upper.to_lowercase(), upper))
    };
    a.encode_utf16().map(fold).cmp(b.encode_utf16().map(fold))
}

fn single(mut it: impl Iterator<Item = char>, c: char) -> char {
    match (it.next(), it.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Bean validation: every violated constraint's message, in declaration order (the order of
/// a Java `Set` is unspecified; this one is stable).
#[derive(Debug, Default)]
pub(super) struct Violations(Vec<String>);

impl Violations {
    pub(super) fn add(&mut self, msg: &str) {
        self.0.push(msg.to_owned());
    }

    /// `@NotBlank`.
    pub(super) fn not_blank(&mut self, p: &Bound, name: &str, msg: &str) {
        if p.filled(name).is_none() {
            self.add(msg);
        }
    }

    /// `@Size(max)` on a `String` (UTF-16 length) or a `Map` (entries).
    pub(super) fn at_most(&mut self, p: &Bound, name: &str, max: usize, msg: &str) {
        let len = match p.get(name) {
            Some(Val::Text(s)) => java_len(s),
            Some(Val::Map(m)) => m.len(),
            _ => 0,
        };
        if len > max {
            self.add(msg);
        }
    }

    /// `@Min(min)` on an `Integer` (null passes).
    pub(super) fn min(&mut self, p: &Bound, name: &str, min: i64, msg: &str) {
        if p.int(name).is_some_and(|n| n < min) {
            self.add(msg);
        }
    }

    /// `PaymentCommonParam`'s constraints.
    pub(super) fn common(&mut self, p: &Bound) {
        if let Some(ip) = p.text("clientIp").filter(|ip| !is_blank(ip)) {
            if ip.parse::<IpAddr>().is_err() {
                self.add("IP地址不合法！");
            }
        }
        self.at_most(p, "clientIp", 64, "客户端ip不可超过64位");
        self.at_most(p, "nonceStr", 32, "随机数不可超过32位");
        self.at_most(p, "sign", 64, "签名不可超过64位");
        if p.epoch("reqTime").is_none() {
            self.add("请求时间必填");
        }
    }

    /// `ValidationUtil.extractMessages`: each message followed by a line separator.
    pub(super) fn into_result(self) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        Err(self.0.iter().map(|m| format!("{m}\n")).collect())
    }
}
