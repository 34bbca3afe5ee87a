//! Jeepay way codes in DaxPay's terms (lifecycle.md §2.2, §2.7): which channel and method a way
//! code is paid with, and how DaxPay's `payBody` is given back as Jeepay's `payDataType` /
//! `payData`. Each DaxPay version has its table ([`WayTable`]): open-source 3.0.0 has no Union
//! Pay channel, 2.0.8 has one (lifecycle-2.0.md §3.5), so UP_WAP, UP_PC, UP_QR, UP_BAR and
//! YSF_BAR are routed by default on a 2.0 upstream only. A merchant may route a way code
//! elsewhere (`way_codes` in its configuration, e.g. `alipay_isv`).

use std::collections::BTreeMap;

use super::failure::Failure;

/// Every way code Jeepay knows (`t_pay_way`); anything else is `不支持的支付方式`.
pub const JEEPAY_WAY_CODES: &[&str] = &[
    "ALI_BAR",
    "ALI_JSAPI",
    "ALI_LITE",
    "ALI_APP",
    "ALI_PC",
    "ALI_WAP",
    "ALI_QR",
    "ALI_OC",
    "WX_JSAPI",
    "WX_LITE",
    "WX_BAR",
    "WX_APP",
    "WX_NATIVE",
    "WX_H5",
    "YSF_BAR",
    "YSF_JSAPI",
    "UP_APP",
    "UP_WAP",
    "UP_QR",
    "UP_BAR",
    "UP_B2B",
    "UP_PC",
    "UP_JSAPI",
    "PP_PC",
    "QR_CASHIER",
    "AUTO_BAR",
];

/// How DaxPay's `payBody` becomes Jeepay's `payDataType` and `payData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayData {
    /// Bar codes: `none`, `""`.
    Nothing,
    /// A URL to open: `payurl`.
    Url,
    /// QR content: `codeUrl`.
    CodeUrl,
    /// Alipay SDK parameters as they are: `aliapp`.
    AliApp,
    /// Alipay JSAPI: DaxPay gives the trade number; Jeepay `{"alipayTradeNo":…}`.
    AliTradeNo,
    /// WeChat JSAPI parameters as they are: `wxapp`.
    WxApp,
    /// WeChat APP parameters re-keyed to Jeepay's (V2) names: `wxapp`.
    WxAppRekeyed,
    /// WeChat H5: the URL with `redirect_url` appended: `payurl`.
    WxH5,
    /// An HTML form that submits itself (Union Pay's web and wap pages): `form`, the HTML as
    /// it is (Jeepay's `CommonPayDataRS.formContent`).
    Form,
}

impl PayData {
    /// Jeepay's `payDataType`.
    pub fn data_type(self) -> &'static str {
        match self {
            PayData::Nothing => "none",
            PayData::Url | PayData::WxH5 => "payurl",
            PayData::CodeUrl => "codeUrl",
            PayData::AliApp | PayData::AliTradeNo => "aliapp",
            PayData::WxApp | PayData::WxAppRekeyed => "wxapp",
            PayData::Form => "form",
        }
    }

    /// The shape of a channel and method's answer when a merchant routes a way code the table
    /// lacks. Union Pay's web and wap pay bodies are form HTML (2.0.8 and 3.0.0-beta4's
    /// `UnionPayService`, lifecycle-2.0.md §3.3, lifecycle.md §2.7).
    fn for_method(channel: &str, method: &str) -> PayData {
        match (channel, method) {
            (_, "barcode") => PayData::Nothing,
            (_, "qrcode") => PayData::CodeUrl,
            ("union_pay", "wap" | "web") => PayData::Form,
            _ => PayData::Url,
        }
    }
}

/// Which default table a merchant's way codes start from: its DaxPay upstream's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayTable {
    /// Open-source DaxPay 3.0.0 (and 3.0.0-beta4 as paybridge serves it): Alipay and WeChat.
    DaxPay3,
    /// DaxPay 2.0.8: the same, and Union Pay (lifecycle-2.0.md §3.5).
    DaxPay2,
}

/// A way code's DaxPay channel and method, and its answer's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRoute {
    pub channel: String,
    pub method: String,
    pub data: PayData,
}

/// The default of open-source DaxPay 3.0.0 for a way code (`None`: no channel there).
pub fn default_route(way_code: &str) -> Option<PayRoute> {
    let (channel, method, data) = match way_code {
        "ALI_BAR" => ("ali_pay", "barcode", PayData::Nothing),
        "ALI_JSAPI" | "ALI_LITE" => ("ali_pay", "jsapi", PayData::AliTradeNo),
        "ALI_APP" => ("ali_pay", "app", PayData::AliApp),
        "ALI_WAP" => ("ali_pay", "wap", PayData::Url),
        "ALI_PC" => ("ali_pay", "web", PayData::Url),
        "ALI_QR" | "ALI_OC" => ("ali_pay", "qrcode", PayData::CodeUrl),
        "WX_BAR" => ("wechat_pay", "barcode", PayData::Nothing),
        "WX_JSAPI" | "WX_LITE" => ("wechat_pay", "jsapi", PayData::WxApp),
        "WX_APP" => ("wechat_pay", "app", PayData::WxAppRekeyed),
        "WX_NATIVE" => ("wechat_pay", "qrcode", PayData::CodeUrl),
        "WX_H5" => ("wechat_pay", "wap", PayData::WxH5),
        _ => return None,
    };
    Some(PayRoute {
        channel: channel.to_owned(),
        method: method.to_owned(),
        data,
    })
}

/// The default of `table` for a way code (`None`: no channel there). DaxPay 2.0.8 adds Union
/// Pay to 3.0.0's table (lifecycle-2.0.md §3.5): UP_WAP and UP_PC as form HTML, UP_QR as QR
/// content, UP_BAR and YSF_BAR as bar codes. UP_APP (the JSON Jeepay merchants expect around the
/// bare `tn` is not established), UP_JSAPI and YSF_JSAPI (2.0.8 never calls the channel) and
/// UP_B2B (rejected by 2.0.8) have none.
pub fn default_route_in(table: WayTable, way_code: &str) -> Option<PayRoute> {
    let union = match (table, way_code) {
        (WayTable::DaxPay3, _) => None,
        (WayTable::DaxPay2, "UP_WAP") => Some(("wap", PayData::Form)),
        (WayTable::DaxPay2, "UP_PC") => Some(("web", PayData::Form)),
        (WayTable::DaxPay2, "UP_QR") => Some(("qrcode", PayData::CodeUrl)),
        (WayTable::DaxPay2, "UP_BAR" | "YSF_BAR") => Some(("barcode", PayData::Nothing)),
        (WayTable::DaxPay2, _) => None,
    };
    match union {
        Some((method, data)) => Some(PayRoute {
            channel: "union_pay".to_owned(),
            method: method.to_owned(),
            data,
        }),
        None => default_route(way_code),
    }
}

/// A merchant's way-code table: the defaults, with its own routes over them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WayCodes {
    /// Way code → (channel, method), as configured.
    overrides: BTreeMap<String, (String, String)>,
}

impl WayCodes {
    pub fn new(overrides: BTreeMap<String, (String, String)>) -> WayCodes {
        WayCodes { overrides }
    }

    /// The route of `way_code` for this merchant on DaxPay 3.0.0's table
    /// ([`WayCodes::route_in`]).
    pub fn route(&self, way_code: &str) -> Result<PayRoute, Failure> {
        self.route_in(WayTable::DaxPay3, way_code)
    }

    /// The route of `way_code` for this merchant, its own route over `table`'s default; a way
    /// code with no channel is `商户应用不支持该支付方式`. A routed way code keeps its
    /// default's answer shape, or takes its channel and method's.
    pub fn route_in(&self, table: WayTable, way_code: &str) -> Result<PayRoute, Failure> {
        let default = default_route_in(table, way_code);
        match self.overrides.get(way_code) {
            Some((channel, method)) => Ok(PayRoute {
                channel: channel.clone(),
                method: method.clone(),
                data: default.map_or_else(|| PayData::for_method(channel, method), |d| d.data),
            }),
            None => default.ok_or(Failure::WayCodeUnsupported),
        }
    }

    pub fn overrides(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.overrides
            .iter()
            .map(|(w, (c, m))| (w.as_str(), c.as_str(), m.as_str()))
    }
}

/// Jeepay's `AUTO_BAR`: the way code a bar code belongs to (`JeepayKit.getPayWayCodeByBarCode`).
pub fn classify_bar_code(auth_code: &str) -> Result<&'static str, Failure> {
    if auth_code.is_empty() {
        return Err(Failure::Invalid {
            kind: "bar_code_empty",
            words: "条码为空",
        });
    }
    let digits = auth_code.bytes().all(|b| b.is_ascii_digit());
    let prefix: u32 = auth_code.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    let len = auth_code.len();
    match (digits, len, prefix) {
        (true, 18, 10..=15) => Ok("WX_BAR"),
        (true, 16..=24, 25..=30) => Ok("ALI_BAR"),
        (true, 19, 62) => Ok("YSF_BAR"),
        _ => Err(Failure::Invalid {
            kind: "bar_code_unsupported",
            words: "不支持的条码",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_codes_are_classified_as_jeepay_does() {
        assert_eq!(classify_bar_code("134567890123456789").ok(), Some("WX_BAR"));
        assert_eq!(
            classify_bar_code("284567890123456789").ok(),
            Some("ALI_BAR")
        );
        assert_eq!(classify_bar_code("2845678901234567").ok(), Some("ALI_BAR"));
        assert_eq!(
            classify_bar_code("6212345678901234567").ok(),
            Some("YSF_BAR")
        );
        for bad in [
            "1345678901234567",
            "99456789012345678",
            "13456789012345678x",
            "28456789012345",
        ] {
            assert!(
                matches!(
                    classify_bar_code(bad),
                    Err(Failure::Invalid {
                        words: "不支持的条码",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            classify_bar_code(""),
            Err(Failure::Invalid {
                words: "条码为空",
                ..
            })
        ));
    }

    #[test]
    fn every_default_route_is_a_jeepay_way_code() {
        for code in JEEPAY_WAY_CODES {
            if let Some(route) = default_route(code) {
                assert!(
                    ["ali_pay", "wechat_pay"].contains(&route.channel.as_str()),
                    "{code}"
                );
            }
        }
        assert!(default_route("YSF_BAR").is_none());
        assert!(default_route("QR_CASHIER").is_none());
    }

    #[test]
    fn merchants_route_way_codes_their_own_way() {
        let mut own = BTreeMap::new();
        own.insert(
            "ALI_JSAPI".to_owned(),
            ("alipay_isv".to_owned(), "jsapi".to_owned()),
        );
        own.insert(
            "YSF_BAR".to_owned(),
            ("union_pay".to_owned(), "barcode".to_owned()),
        );
        let codes = WayCodes::new(own);
        let r = codes.route("ALI_JSAPI").unwrap();
        assert_eq!(
            (r.channel.as_str(), r.data),
            ("alipay_isv", PayData::AliTradeNo)
        );
        assert_eq!(codes.route("YSF_BAR").unwrap().data, PayData::Nothing);
        assert!(matches!(
            codes.route("UP_PC"),
            Err(Failure::WayCodeUnsupported)
        ));
        assert_eq!(codes.route("WX_NATIVE").unwrap().method, "qrcode");
        // On 3.0 a Union Pay page routed by the merchant is still a form.
        let mut own = BTreeMap::new();
        own.insert(
            "UP_PC".to_owned(),
            ("union_pay".to_owned(), "web".to_owned()),
        );
        let routed = WayCodes::new(own).route("UP_PC").unwrap();
        assert_eq!(routed.data, PayData::Form);
        assert_eq!(routed.data.data_type(), "form");
    }

    #[test]
    fn daxpay_2_routes_union_pay_by_default_and_3_does_not() {
        let codes = WayCodes::default();
        for (way, method, data) in [
            ("UP_WAP", "wap", PayData::Form),
            ("UP_PC", "web", PayData::Form),
            ("UP_QR", "qrcode", PayData::CodeUrl),
            ("UP_BAR", "barcode", PayData::Nothing),
            ("YSF_BAR", "barcode", PayData::Nothing),
        ] {
            let route = codes.route_in(WayTable::DaxPay2, way).unwrap();
            assert_eq!(
                (route.channel.as_str(), route.method.as_str(), route.data),
                ("union_pay", method, data),
                "{way}"
            );
            assert!(
                matches!(
                    codes.route_in(WayTable::DaxPay3, way),
                    Err(Failure::WayCodeUnsupported)
                ),
                "{way}"
            );
        }
        for way in [
            "UP_APP",
            "UP_JSAPI",
            "YSF_JSAPI",
            "UP_B2B",
            "QR_CASHIER",
            "PP_PC",
        ] {
            assert!(
                matches!(
                    codes.route_in(WayTable::DaxPay2, way),
                    Err(Failure::WayCodeUnsupported)
                ),
                "{way}"
            );
        }
        // The rest of the table is 3.0.0's.
        for way in JEEPAY_WAY_CODES {
            if let Some(route) = default_route(way) {
                assert_eq!(default_route_in(WayTable::DaxPay2, way), Some(route));
            }
        }
    }
}
