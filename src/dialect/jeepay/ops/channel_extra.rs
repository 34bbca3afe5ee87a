//! `channelExtra` of a unified order, bound as Jeepay binds it: to the request class of the
//! order's way code, by the same smart matching as the request itself ([`crate::dialect::jeepay::fold`]).
//!
//! `UnifiedOrderRQ.buildBizRQ` parses `channelExtra` (empty: `{}`) with
//! `JSONObject.parseObject(channelExtra, <class>)` for the way codes it has a branch for, then
//! copies the outer request's fields over the result (`BeanUtils.copyProperties`), so only the
//! class's own fields come from `channelExtra` (lifecycle.md §2.2). A way code without a branch
//! (`WX_APP`, every other `UP_*`) never parses it. `UP_BAR` has no branch either, but its class
//! (`UpBarOrderRQ`) declares `authCode` and DaxPay 2.0.8 pays it with one (lifecycle-2.0.md §3.5):
//! paybridge binds it, since without the code the payment cannot happen at all. So the SDK demo's `{"openId":…}` fills `openid` of
//! `WxJsapiOrderRQ`, and so do `open_id` and `OPENID`; a key two of which bind to one field is
//! refused (code 11), as in the request itself.

use crate::dialect::jeepay::params::{is_blank, Params};
use crate::domain::Failure;

/// `UnifiedOrderRQ`'s fields (after `AbstractMchAppRQ`'s), then a way code class's own.
macro_rules! unified_order_rq {
    ($($own:literal),*) => {
        &[
            "mchOrderNo", "wayCode", "amount", "currency", "clientIp", "subject", "body",
            "notifyUrl", "returnUrl", "expiredTime", "channelExtra", "extParam", "divisionMode",
            $($own),*
        ]
    };
}

/// The fields of the class `buildBizRQ` binds `channelExtra` to for `way_code` (beyond the
/// common ones); `None`: no branch, `channelExtra` is not parsed
/// (`JPP/rqrs/payorder/payway/*RQ.java`; `CommonPayDataRQ` adds `payDataType`).
fn class(way_code: &str) -> Option<&'static [&'static str]> {
    Some(match way_code {
        // WxJsapiOrderRQ, WxLiteOrderRQ: `openid`, `isSubOpenId` (a Byte).
        "WX_JSAPI" | "WX_LITE" => unified_order_rq!("openid", "isSubOpenId"),
        // AliJsapiOrderRQ, AliLiteOrderRQ, AliAppOrderRQ: `buyerUserId`.
        "ALI_JSAPI" | "ALI_LITE" | "ALI_APP" => unified_order_rq!("buyerUserId"),
        // The bar codes (AUTO_BAR classifies its `authCode` first).
        "ALI_BAR" | "WX_BAR" | "YSF_BAR" | "UP_BAR" | "AUTO_BAR" => unified_order_rq!("authCode"),
        // CommonPayDataRQ's descendants.
        "WX_NATIVE" | "WX_H5" | "ALI_PC" | "ALI_WAP" | "ALI_QR" | "ALI_OC" | "QR_CASHIER" => {
            unified_order_rq!("payDataType")
        }
        "PP_PC" => unified_order_rq!("payDataType", "cancelUrl"),
        "YSF_JSAPI" => unified_order_rq!(),
        _ => return None,
    })
}

/// What `channelExtra` carries for DaxPay.
#[derive(Debug, Default)]
pub struct ChannelExtra {
    pub auth_code: Option<String>,
    pub open_id: Option<String>,
    pub sub_open_id: bool,
    pub buyer_id: Option<String>,
}

impl ChannelExtra {
    /// `text` bound to `way_code`'s class. Not a JSON object (but empty), or two keys for one
    /// field: refused as unreadable (fastjson throws before Jeepay's own checks; what Jeepay then
    /// answers is not traced, lifecycle.md §11).
    pub fn read(text: &str, way_code: &str) -> Result<ChannelExtra, Failure> {
        let Some(class) = class(way_code) else {
            return Ok(ChannelExtra::default());
        };
        // `StringUtils.defaultIfEmpty(channelExtra, "{}")`.
        let text = if text.is_empty() { "{}" } else { text };
        let bound = Params::read(class, true, None, text.as_bytes())
            .map_err(|_| unreadable("channelExtra"))?;
        let text = |name: &str| bound.get(name).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(ChannelExtra {
            auth_code: text("authCode"),
            open_id: text("openid"),
            sub_open_id: sub_open_id(bound.get("isSubOpenId").unwrap_or_default())? == Some(1),
            buyer_id: text("buyerUserId"),
        })
    }
}

/// `isSubOpenId`, a `Byte`: blank or `null` is none, `true`/`false` are 1/0 (`castToByte`),
/// otherwise `Byte.parseByte`'s decimal integer; anything else cannot be bound. (A JSON number
/// beyond a byte, which Java would wrap, is refused too: it is bound here as its text.)
fn sub_open_id(text: &str) -> Result<Option<i8>, Failure> {
    match text {
        _ if is_blank(text) || text == "null" || text == "NULL" => Ok(None),
        "true" => Ok(Some(1)),
        "false" => Ok(Some(0)),
        _ => text
            .parse::<i8>()
            .map(Some)
            .map_err(|_| unreadable("isSubOpenId")),
    }
}

fn unreadable(field: &str) -> Failure {
    Failure::Unreadable(format!("`{field}` cannot be bound to its type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::jeepay::fold::ambiguous_pair;
    use crate::dialect::jeepay::ops::JeepayOp;
    use crate::domain::ops::Pay;
    use crate::domain::way_code::JEEPAY_WAY_CODES;

    fn read(text: &str, way_code: &str) -> Result<ChannelExtra, Failure> {
        ChannelExtra::read(text, way_code)
    }

    #[test]
    fn the_sdk_demos_open_id_and_its_spellings_fill_openid() {
        for text in [
            r#"{"openId":"134756231107811344"}"#,
            r#"{"open_id":"134756231107811344"}"#,
            r#"{"OPENID":"134756231107811344"}"#,
            r#"{"openid":"134756231107811344"}"#,
        ] {
            for way_code in ["WX_JSAPI", "WX_LITE"] {
                let extra = read(text, way_code).unwrap();
                assert_eq!(
                    extra.open_id.as_deref(),
                    Some("134756231107811344"),
                    "{text}"
                );
            }
        }
        let extra = read(r#"{"openid":"o","is_sub_open_id":"1"}"#, "WX_JSAPI").unwrap();
        assert!(extra.sub_open_id);
        assert!(
            !read(r#"{"openid":"o","isSubOpenId":0}"#, "WX_JSAPI")
                .unwrap()
                .sub_open_id
        );
        assert!(read(r#"{"openid":"o","isSubOpenId":"yes"}"#, "WX_JSAPI").is_err());
    }

    #[test]
    fn each_class_binds_only_its_own_fields() {
        let all = r#"{"auth_code":"134567890123456789","BuyerUserId":"2088","openId":"o"}"#;
        let bar = read(all, "WX_BAR").unwrap();
        assert_eq!(bar.auth_code.as_deref(), Some("134567890123456789"));
        assert_eq!((bar.open_id, bar.buyer_id), (None, None));
        let ali = read(all, "ALI_JSAPI").unwrap();
        assert_eq!(ali.buyer_id.as_deref(), Some("2088"));
        assert_eq!((ali.open_id, ali.auth_code), (None, None));
        // No branch in buildBizRQ: never parsed, so not even refused.
        assert!(read("not json", "WX_APP").is_ok());
        assert!(read("not json", "WX_NATIVE").is_err());
        assert!(read("", "WX_JSAPI").unwrap().open_id.is_none());
    }

    #[test]
    fn two_keys_for_one_field_are_refused() {
        for text in [
            r#"{"openid":"a","openId":"b"}"#,
            r#"{"open_id":"a","OPENID":"a"}"#,
        ] {
            assert!(
                matches!(read(text, "WX_JSAPI"), Err(Failure::Unreadable(_))),
                "{text}"
            );
        }
        // A field of another class is not this class's field.
        assert!(read(
            r#"{"openid":"a","authCode":"1","auth_code":"2"}"#,
            "WX_JSAPI"
        )
        .is_ok());
    }

    #[test]
    fn every_class_extends_unified_order_rq_and_folds_unambiguously() {
        let base: &[&str] = unified_order_rq!();
        assert_eq!(base, Pay::FIELDS);
        for way_code in JEEPAY_WAY_CODES {
            if let Some(fields) = class(way_code) {
                let mut all = vec!["version", "signType", "sign", "reqTime", "mchNo", "appId"];
                all.extend_from_slice(fields);
                assert_eq!(ambiguous_pair(&all), None, "{way_code}");
                assert!(all.len() <= crate::dialect::jeepay::params::MAX_FIELDS);
            }
        }
    }
}
