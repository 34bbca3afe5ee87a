//! epay's `type` (+ `device`, V2 `method`, the browser for `submit.php`) → a Jeepay way code,
//! whose DaxPay channel and method the merchant's `way_codes` table then gives
//! (`domain::way_code`). Defaults from epay.md §16 (what the gateway's own Jeepay plugin does),
//! each overridable per merchant in the configuration.
//!
//! | type \ situation | pc | mobile (qq, alipay, app browsers) | wechat browser | jsapi | app | scan | applet |
//! |---|---|---|---|---|---|---|---|
//! | `alipay` | ALI_PC | ALI_WAP | ALI_WAP | ALI_JSAPI | ALI_APP | ALI_BAR | ALI_LITE |
//! | `wxpay` | WX_NATIVE | WX_H5 | WX_NATIVE | WX_JSAPI | WX_APP | WX_BAR | WX_LITE |
//! | `bank` | UP_QR | UP_WAP | UP_WAP | UP_JSAPI | UP_APP | UP_BAR | — |
//!
//! Why: `ALI_PC`/`ALI_WAP` answer a URL the payer opens (epay's `payurl`), `WX_NATIVE` QR
//! content (`qrcode`), `WX_H5` a URL that works in a phone browser but not inside WeChat, where
//! `WX_JSAPI` would need the payer's openid that epay's V1 never carries: so a WeChat browser
//! gets the QR content (long-press to pay). `bank` has no route in open-source DaxPay: it works
//! once the merchant routes those way codes (`[merchants.way_codes]`). `qqpay`, `jdpay`,
//! `paypal` and any other type have no counterpart: `支付方式(type)不存在`, as the gateway
//! answers a type that is off.
//!
//! A merchant's own entries (`epay_way_codes = { "alipay" = "ALI_QR", "wxpay/mobile" = "WX_H5" }`)
//! name a situation by the names of [`Situation::as_str`].

use std::collections::BTreeMap;

/// Where the payer pays, in the table's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Situation {
    /// A desktop browser (`device=pc`, the default; `device=jump` too).
    Pc,
    /// A phone browser (`device=mobile`, `qq`, `alipay`, `app`).
    Mobile,
    /// WeChat's own browser (`device=wechat`).
    Wechat,
    /// V2 `method=jsapi`.
    Jsapi,
    /// V2 `method=app`.
    App,
    /// V2 `method=scan` (the payer's payment code, `auth_code`).
    Scan,
    /// V2 `method=applet` (a mini program).
    Applet,
}

impl Situation {
    pub const ALL: [Situation; 7] = [
        Situation::Pc,
        Situation::Mobile,
        Situation::Wechat,
        Situation::Jsapi,
        Situation::App,
        Situation::Scan,
        Situation::Applet,
    ];

    /// The name used in the configuration (`alipay.pc = "ALI_QR"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Situation::Pc => "pc",
            Situation::Mobile => "mobile",
            Situation::Wechat => "wechat",
            Situation::Jsapi => "jsapi",
            Situation::App => "app",
            Situation::Scan => "scan",
            Situation::Applet => "applet",
        }
    }

    pub fn parse(text: &str) -> Option<Situation> {
        Situation::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// epay's `device` (`mapi.php`, V2 `method=web`): `pc` (also empty and unknown values, the
    /// gateway's default), `mobile`, `qq`/`alipay`/`app` (mobile with a hint), `wechat`, `jump`
    /// (as pc: paybridge has no page of its own to jump to).
    pub fn of_device(device: &str) -> Situation {
        match device {
            "mobile" | "qq" | "alipay" | "app" => Situation::Mobile,
            "wechat" => Situation::Wechat,
            _ => Situation::Pc,
        }
    }

    /// `submit.php` without `device`: the payer's browser, as the gateway sniffs its User-Agent.
    pub fn of_user_agent(user_agent: &str) -> Situation {
        if user_agent.contains("MicroMessenger") {
            Situation::Wechat
        } else if ["Mobile", "Android", "iPhone", "iPad", "AlipayClient", "QQ/"]
            .iter()
            .any(|hint| user_agent.contains(hint))
        {
            Situation::Mobile
        } else {
            Situation::Pc
        }
    }
}

/// epay.md §16's default way code for a type in a situation (`None`: no counterpart).
pub fn default_way(pay_type: &str, situation: Situation) -> Option<&'static str> {
    use Situation::*;
    Some(match (pay_type, situation) {
        ("alipay", Pc) => "ALI_PC",
        ("alipay", Mobile | Wechat) => "ALI_WAP",
        ("alipay", Jsapi) => "ALI_JSAPI",
        ("alipay", App) => "ALI_APP",
        ("alipay", Scan) => "ALI_BAR",
        ("alipay", Applet) => "ALI_LITE",
        ("wxpay", Pc | Wechat) => "WX_NATIVE",
        ("wxpay", Mobile) => "WX_H5",
        ("wxpay", Jsapi) => "WX_JSAPI",
        ("wxpay", App) => "WX_APP",
        ("wxpay", Scan) => "WX_BAR",
        ("wxpay", Applet) => "WX_LITE",
        ("bank", Pc) => "UP_QR",
        ("bank", Mobile | Wechat) => "UP_WAP",
        ("bank", Jsapi) => "UP_JSAPI",
        ("bank", App) => "UP_APP",
        ("bank", Scan) => "UP_BAR",
        _ => return None,
    })
}

/// A merchant's table: its own entries (`[merchants] epay_way_codes`: `type` or
/// `type/<situation>` → way code, checked by the configuration), the defaults for the rest.
#[derive(Debug, Clone, Copy, Default)]
pub struct EpayWays<'a> {
    own: Option<&'a BTreeMap<String, String>>,
}

impl<'a> EpayWays<'a> {
    pub fn new(own: &'a BTreeMap<String, String>) -> EpayWays<'a> {
        EpayWays { own: Some(own) }
    }

    /// The way code for `pay_type` in `situation`: the merchant's `type/<situation>` entry
    /// (WeChat's browser: else its `type/mobile`), else its `type` entry, else the default.
    /// `None`: `支付方式(type)不存在`.
    pub fn way_code(&self, pay_type: &str, situation: Situation) -> Option<&'a str> {
        let own = |key: String| self.own.and_then(|m| m.get(&key)).map(String::as_str);
        let specific = |s: Situation| own(format!("{pay_type}/{}", s.as_str()));
        specific(situation)
            .or_else(|| (situation == Situation::Wechat).then(|| specific(Situation::Mobile))?)
            .or_else(|| own(pay_type.to_owned()))
            .or_else(|| default_way(pay_type, situation))
            .filter(|way| !way.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_of_epay_md_16() {
        let ways = EpayWays::default();
        assert_eq!(ways.way_code("alipay", Situation::Pc), Some("ALI_PC"));
        assert_eq!(ways.way_code("alipay", Situation::Mobile), Some("ALI_WAP"));
        assert_eq!(ways.way_code("wxpay", Situation::Pc), Some("WX_NATIVE"));
        assert_eq!(ways.way_code("wxpay", Situation::Mobile), Some("WX_H5"));
        assert_eq!(ways.way_code("wxpay", Situation::Wechat), Some("WX_NATIVE"));
        assert_eq!(ways.way_code("wxpay", Situation::Jsapi), Some("WX_JSAPI"));
        assert_eq!(ways.way_code("bank", Situation::Pc), Some("UP_QR"));
        for none in ["qqpay", "jdpay", "paypal", "ecny", "", "ALIPAY"] {
            assert_eq!(ways.way_code(none, Situation::Pc), None, "{none}");
        }
        assert_eq!(ways.way_code("bank", Situation::Applet), None);
    }

    #[test]
    fn merchants_entries_come_first() {
        let own: BTreeMap<String, String> = [
            ("alipay/pc", "ALI_QR"),
            ("wxpay/mobile", "WX_NATIVE"),
            ("qqpay", "QR_CASHIER"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let ways = EpayWays::new(&own);
        assert_eq!(ways.way_code("alipay", Situation::Pc), Some("ALI_QR"));
        assert_eq!(ways.way_code("alipay", Situation::Mobile), Some("ALI_WAP"));
        assert_eq!(ways.way_code("wxpay", Situation::Mobile), Some("WX_NATIVE"));
        // WeChat's browser follows the merchant's mobile entry.
        assert_eq!(ways.way_code("wxpay", Situation::Wechat), Some("WX_NATIVE"));
        assert_eq!(ways.way_code("qqpay", Situation::Pc), Some("QR_CASHIER"));
        assert_eq!(ways.way_code("qqpay", Situation::Scan), Some("QR_CASHIER"));
    }

    #[test]
    fn devices_and_browsers() {
        assert_eq!(Situation::of_device(""), Situation::Pc);
        assert_eq!(Situation::of_device("jump"), Situation::Pc);
        assert_eq!(Situation::of_device("qq"), Situation::Mobile);
        assert_eq!(Situation::of_device("wechat"), Situation::Wechat);
        assert_eq!(
            Situation::of_user_agent("Mozilla/5.0 (iPhone) MicroMessenger/8.0"),
            Situation::Wechat
        );
        assert_eq!(
            Situation::of_user_agent("Mozilla/5.0 (Linux; Android 14) Mobile"),
            Situation::Mobile
        );
        assert_eq!(
            Situation::of_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            Situation::Pc
        );
    }
}
