//! The close/cancel and query requests as each DaxPay version's own model declares them.
//!
//! DaxPay deserialises the body into a Java class and signs *that object*, not the raw JSON, so
//! the sandbox does the same: undeclared fields vanish, `null` and absent fields are skipped, an
//! empty string is kept, and the primitive `useCancel` of 3.x is always present. Checking a
//! signature over these models (and never over the received JSON) is what catches a client that
//! signs fields the server does not know, or omits `useCancel`.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};
use time::format_description::BorrowedFormatItem;
use time::PrimitiveDateTime;

use super::state::OrderKey;
use crate::sign::daxpay::Version;

/// `yyyy-MM-dd HH:mm:ss`, the 3.x `reqTime` / `resTime` wire format.
pub(super) const WALL_CLOCK: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// When a request was made, in the version's own representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReqTime {
    /// 3.x: the server's local wall clock, without a zone.
    WallClock(PrimitiveDateTime),
}

impl ReqTime {
    /// The value exactly as it appears on the wire (and therefore in the sign string).
    fn render(self) -> String {
        match self {
            ReqTime::WallClock(t) => t.format(WALL_CLOCK).unwrap_or_default(),
        }
    }
}

/// A close, cancel or query request after deserialisation into its version's model: each names
/// one pay order. Fields the model does not declare are `None` (3.0-beta has no `mchNo`; 2.0 has
/// no `mchNo`, `appId`, `useCancel`; no query model has `useCancel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OrderRequest {
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub client_ip: Option<String>,
    pub nonce_str: Option<String>,
    pub sign: Option<String>,
    pub req_time: Option<ReqTime>,
    pub order_no: Option<String>,
    pub biz_order_no: Option<String>,
    /// The wire name of `biz_order_no`: the 3.0.0-beta and 2.0 query models misspell it
    /// `bizOrderNoeNo` (server and SDK alike).
    pub biz_order_no_key: &'static str,
    /// `Some` in the 3.x close model, where it is a primitive boolean; `None` in 2.0 and in every
    /// query model, which have no such field.
    pub use_cancel: Option<bool>,
}

/// The 3.0.0 `PayCloseParam`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Close30 {
    mch_no: Option<String>,
    app_id: Option<String>,
    client_ip: Option<String>,
    nonce_str: Option<String>,
    sign: Option<String>,
    #[serde(default, deserialize_with = "wall_clock")]
    req_time: Option<PrimitiveDateTime>,
    order_no: Option<String>,
    biz_order_no: Option<String>,
    #[serde(default, deserialize_with = "primitive_bool")]
    use_cancel: bool,
}

/// The 3.0.0-beta `PayCloseParam`: no merchant number.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Close30Beta {
    app_id: Option<String>,
    client_ip: Option<String>,
    nonce_str: Option<String>,
    sign: Option<String>,
    #[serde(default, deserialize_with = "wall_clock")]
    req_time: Option<PrimitiveDateTime>,
    order_no: Option<String>,
    biz_order_no: Option<String>,
    #[serde(default, deserialize_with = "primitive_bool")]
    use_cancel: bool,
}

/// The 3.0.0 `QueryPayParam`: the common fields and the two order numbers, no `useCancel`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query30 {
    mch_no: Option<String>,
    app_id: Option<String>,
    client_ip: Option<String>,
    nonce_str: Option<String>,
    sign: Option<String>,
    #[serde(default, deserialize_with = "wall_clock")]
    req_time: Option<PrimitiveDateTime>,
    order_no: Option<String>,
    biz_order_no: Option<String>,
}

/// The 3.0.0-beta `QueryPayParam`: no merchant number, and the typo `bizOrderNoeNo`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query30Beta {
    app_id: Option<String>,
    client_ip: Option<String>,
    nonce_str: Option<String>,
    sign: Option<String>,
    #[serde(default, deserialize_with = "wall_clock")]
    req_time: Option<PrimitiveDateTime>,
    order_no: Option<String>,
    #[serde(rename = "bizOrderNoeNo")]
    biz_order_no: Option<String>,
}

/// Jackson maps JSON `null` onto a primitive `boolean` as `false`, like an absent field.
fn primitive_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// A `LocalDateTime` with `@JsonFormat("yyyy-MM-dd HH:mm:ss")`, parsed strictly: exactly that
/// shape, a real calendar date. Jackson reads an empty string as `null`.
fn wall_clock<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PrimitiveDateTime>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    parse_wall_clock(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("reqTime is not yyyy-MM-dd HH:mm:ss"))
}

pub(super) fn parse_wall_clock(text: &str) -> Option<PrimitiveDateTime> {
    const SHAPE: &[u8; 19] = b"0000-00-00 00:00:00";
    let bytes = text.as_bytes();
    let shaped = bytes.len() == SHAPE.len()
        && bytes.iter().zip(SHAPE).all(|(b, s)| match s {
            b'0' => b.is_ascii_digit(),
            _ => b == s,
        });
    if !shaped {
        return None;
    }
    PrimitiveDateTime::parse(text, WALL_CLOCK).ok()
}

/// Which request model a body is read into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Model {
    /// `PayCloseParam` (also the 2.0 cancel parameter).
    Close,
    /// `QueryPayParam`.
    Query,
}

/// Why a body did not deserialise (DaxPay's 10505 / 10005).
#[derive(Debug, thiserror::Error)]
#[error("body does not deserialise into the DaxPay {version} {model:?} model: {reason}")]
pub(super) struct ParseError {
    version: Version,
    model: Model,
    reason: String,
}

/// Deserialises a JSON object body into `T`. The body must be an object: serde would accept an
/// array positionally, Jackson would not.
fn object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("not a JSON object".to_owned());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The fields every request shares (`PaymentCommonParam`), as read.
pub(super) struct Common<'a> {
    pub mch_no: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub nonce_str: Option<&'a str>,
    pub sign: Option<&'a str>,
    pub has_req_time: bool,
}

/// Bean validation of the common fields, first violated constraint in declaration order.
pub(super) fn validate_common(version: Version, c: &Common<'_>) -> Result<(), String> {
    let required = |value: Option<&str>, reason: &str| match value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(reason.to_owned()),
    };
    // Java's String.length() counts UTF-16 code units.
    let at_most = |value: Option<&str>, max: usize, what: &str| match value {
        Some(v) if v.encode_utf16().count() > max => Err(format!("{what}长度不能超过{max}")),
        _ => Ok(()),
    };
    if version == Version::V3_0 {
        required(c.mch_no, "商户号不可为空")?;
        at_most(c.mch_no, 32, "商户号")?;
    }
    if version != Version::V2_0 {
        required(c.app_id, "应用号不可为空")?;
        at_most(c.app_id, 32, "应用号")?;
    }
    at_most(c.client_ip, 64, "客户端IP")?;
    if let Some(ip) = c.client_ip.filter(|ip| !ip.is_empty()) {
        if ip.parse::<IpAddr>().is_err() {
            return Err("客户端IP格式不正确".to_owned());
        }
    }
    at_most(c.nonce_str, 32, "随机数")?;
    at_most(c.sign, 64, "签名")?;
    if !c.has_req_time {
        return Err("请求时间不可为空".to_owned());
    }
    Ok(())
}

impl OrderRequest {
    /// Deserialises `body` into `version`'s `model`.
    pub(super) fn parse_as(
        version: Version,
        model: Model,
        body: &[u8],
    ) -> Result<OrderRequest, ParseError> {
        let fail = |reason: String| ParseError {
            version,
            model,
            reason,
        };
        let request = match (model, version) {
            (Model::Close, Version::V3_0) => {
                let m: Close30 = object(body).map_err(fail)?;
                OrderRequest {
                    mch_no: m.mch_no,
                    app_id: m.app_id,
                    client_ip: m.client_ip,
                    nonce_str: m.nonce_str,
                    sign: m.sign,
                    req_time: m.req_time.map(ReqTime::WallClock),
                    order_no: m.order_no,
                    biz_order_no: m.biz_order_no,
                    biz_order_no_key: "bizOrderNo",
                    use_cancel: Some(m.use_cancel),
                }
            }
            (Model::Close, Version::V3_0Beta) => {
                let m: Close30Beta = object(body).map_err(fail)?;
                OrderRequest {
                    mch_no: None,
                    app_id: m.app_id,
                    client_ip: m.client_ip,
                    nonce_str: m.nonce_str,
                    sign: m.sign,
                    req_time: m.req_time.map(ReqTime::WallClock),
                    order_no: m.order_no,
                    biz_order_no: m.biz_order_no,
                    biz_order_no_key: "bizOrderNo",
                    use_cancel: Some(m.use_cancel),
                }
            }
            (Model::Query, Version::V3_0) => {
                let m: Query30 = object(body).map_err(fail)?;
                OrderRequest {
                    mch_no: m.mch_no,
                    app_id: m.app_id,
                    client_ip: m.client_ip,
                    nonce_str: m.nonce_str,
                    sign: m.sign,
                    req_time: m.req_time.map(ReqTime::WallClock),
                    order_no: m.order_no,
                    biz_order_no: m.biz_order_no,
                    biz_order_no_key: "bizOrderNo",
                    use_cancel: None,
                }
            }
            // 2.0.8 is read by `super::v20`.
            (_, Version::V2_0) => return Err(fail("not a 3.x model".to_owned())),
            (Model::Query, Version::V3_0Beta) => {
                let m: Query30Beta = object(body).map_err(fail)?;
                OrderRequest {
                    mch_no: None,
                    app_id: m.app_id,
                    client_ip: m.client_ip,
                    nonce_str: m.nonce_str,
                    sign: m.sign,
                    req_time: m.req_time.map(ReqTime::WallClock),
                    order_no: m.order_no,
                    biz_order_no: m.biz_order_no,
                    biz_order_no_key: "bizOrderNoeNo",
                    use_cancel: None,
                }
            }
        };
        Ok(request)
    }

    /// The bean-validation step, reporting the first violated constraint in declaration order,
    /// then DaxPay's "one of the order numbers" check. The reason goes after `验证参数错误\n`.
    pub(super) fn validate(&self, version: Version) -> Result<(), String> {
        validate_common(
            version,
            &Common {
                mch_no: self.mch_no.as_deref(),
                app_id: self.app_id.as_deref(),
                client_ip: self.client_ip.as_deref(),
                nonce_str: self.nonce_str.as_deref(),
                sign: self.sign.as_deref(),
                has_req_time: self.req_time.is_some(),
            },
        )?;
        let at_most = |value: &Option<String>, max: usize, what: &str| match value {
            Some(v) if v.encode_utf16().count() > max => Err(format!("{what}长度不能超过{max}")),
            _ => Ok(()),
        };
        let order_no_max = if version == Version::V3_0Beta {
            32
        } else {
            100
        };
        at_most(&self.order_no, order_no_max, "订单号")?;
        at_most(&self.biz_order_no, 100, "商户订单号")?;
        let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        if empty(&self.order_no) && empty(&self.biz_order_no) {
            return Err("支付订单号不能都为空".to_owned());
        }
        Ok(())
    }

    /// The model's signable fields: every non-null field but `sign`, rendered as on the wire.
    pub(super) fn sign_fields(&self) -> Vec<(&'static str, Cow<'_, str>)> {
        let strings = [
            ("mchNo", &self.mch_no),
            ("appId", &self.app_id),
            ("clientIp", &self.client_ip),
            ("nonceStr", &self.nonce_str),
            ("orderNo", &self.order_no),
            (self.biz_order_no_key, &self.biz_order_no),
        ];
        let mut fields: Vec<(&'static str, Cow<'_, str>)> = strings
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, Cow::Borrowed(v))))
            .collect();
        if let Some(t) = self.req_time {
            fields.push(("reqTime", Cow::Owned(t.render())));
        }
        if let Some(c) = self.use_cancel {
            fields.push(("useCancel", Cow::Borrowed(if c { "true" } else { "false" })));
        }
        fields
    }

    /// The first non-null of `orderNo`, `bizOrderNo` (validation guarantees one is set).
    pub(super) fn order_key(&self) -> Option<OrderKey<'_>> {
        match (&self.order_no, &self.biz_order_no) {
            (Some(no), _) => Some(OrderKey::OrderNo(no)),
            (None, Some(biz)) => Some(OrderKey::BizOrderNo(biz)),
            (None, None) => None,
        }
    }
}
