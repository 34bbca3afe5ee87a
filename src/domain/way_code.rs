//! Jeepay way codes in DaxPay's terms (lifecycle.md §2.2, §2.7): which channel and method a way
//! code is paid with, and how DaxPay's `payBody` is given back as Jeepay's `payDataType` /
//! `payData`. The table is open-source DaxPay 3.0.0's; a merchant may route a way code elsewhere
//! (`way_codes` in its configuration, e.g. `alipay_isv`).

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
        }
    }

    /// The shape of a method's answer when a merchant routes a way code the table lacks.
    fn for_method(method: &str) -> PayData {
        match method {
            "barcode" => PayData::Nothing,
            "qrcode" => PayData::CodeUrl,
            _ => PayData::Url,
        }
    }
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

    /// The route of `way_code` for this merchant; a way code with no channel is
    /// `商户应用不支持该支付方式`.
    pub fn route(&self, way_code: &str) -> Result<PayRoute, Failure> {
        let default = default_route(way_code);
        match self.overrides.get(way_code) {
            Some((channel, method)) => Ok(PayRoute {
                channel: channel.clone(),
                method: method.clone(),
                data: default.map_or_else(|| PayData::for_method(method), |d| d.data),
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
    }
}
