//! epay's `type` (+ `device`, V2 `method`, the browser for `submit.php`) → a Jeepay way code,
//! whose DaxPay channel and method the merchant's `way_codes` table then gives
//! (`domain::way_code`). Defaults from epay.md §16 (what the gateway's own Jeepay plugin does),
//! each overridable per merchant in the configuration.
//!
//! | type \ situation | pc | mobile (qq, alipay, app browsers) | wechat browser | jump | jsapi | app | scan | applet |
//! |---|---|---|---|---|---|---|---|---|
//! | `alipay` | ALI_PC | ALI_WAP | ALI_WAP | ALI_PC | ALI_JSAPI | ALI_APP | ALI_BAR | ALI_LITE |
//! | `wxpay` | WX_NATIVE | WX_H5 | WX_NATIVE | WX_NATIVE | WX_JSAPI | WX_APP | WX_BAR | WX_LITE |
//! | `bank` | UP_QR | UP_WAP | UP_WAP | UP_QR | UP_JSAPI | UP_APP | UP_BAR | — |
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
//!
//! `jump` (`mapi.php` `device=jump`, V2 `method=jump`; epay.md §6.2, §8) asks for a URL only:
//! the gateway answers `payurl` (V2 `pay_type:"jump"`) whatever the type, a page of its own
//! (`{site}pay/submit/{trade_no}/`) that the merchant sends the payer to. paybridge's page for
//! an order is its return URL (`notify::returning`): while the order is unpaid it shows the QR
//! code (with the same polling as `submit.php`'s page), once paid it sends the payer on to the
//! merchant. So jump takes the PC way codes: `ALI_PC` (a URL, answered as it is), `WX_NATIVE` and
//! `UP_QR` (QR content: answered with that page's URL; `ops/pay.rs`), which work on a desktop as
//! on a phone. On a page (`submit.php`) `device=jump` means nothing: the payer's browser decides,
//! as the gateway sniffs it.

use std::collections::BTreeMap;

/// Where the payer pays, in the table's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Situation {
    /// A desktop browser (`device=pc`, the default).
    Pc,
    /// A phone browser (`device=mobile`, `qq`, `alipay`, `app`).
    Mobile,
    /// WeChat's own browser (`device=wechat`).
    Wechat,
    /// A URL only (`mapi.php` `device=jump`, V2 `method=jump`).
    Jump,
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
    pub const ALL: [Situation; 8] = [
        Situation::Pc,
        Situation::Mobile,
        Situation::Wechat,
        Situation::Jump,
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
            Situation::Jump => "jump",
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
    /// (a URL only).
    pub fn of_device(device: &str) -> Situation {
        match device {
            "mobile" | "qq" | "alipay" | "app" => Situation::Mobile,
            "wechat" => Situation::Wechat,
            "jump" => Situation::Jump,
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
        ("alipay", Pc | Jump) => "ALI_PC",
        ("alipay", Mobile | Wechat) => "ALI_WAP",
        ("alipay", Jsapi) => "ALI_JSAPI",
        ("alipay", App) => "ALI_APP",
        ("alipay", Scan) => "ALI_BAR",
        ("alipay", Applet) => "ALI_LITE",
        ("wxpay", Pc | Wechat | Jump) => "WX_NATIVE",
        ("wxpay", Mobile) => "WX_H5",
        ("wxpay", Jsapi) => "WX_JSAPI",
        ("wxpay", App) => "WX_APP",
        ("wxpay", Scan) => "WX_BAR",
        ("wxpay", Applet) => "WX_LITE",
        ("bank", Pc | Jump) => "UP_QR",
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

    /// The types the merchant's own entries name (`alipay` of `alipay/pc`), for the cashier.
    pub fn own_types(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for key in self.own.into_iter().flat_map(|m| m.keys()) {
            let name = key.split_once('/').map_or(key.as_str(), |(t, _)| t);
            if !types.iter().any(|t| t == name) {
                types.push(name.to_owned());
            }
        }
        types
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
        assert_eq!(Situation::of_device("jump"), Situation::Jump);
        assert_eq!(
            EpayWays::default().way_code("wxpay", Situation::Jump),
            Some("WX_NATIVE")
        );
        assert_eq!(
            EpayWays::default().way_code("alipay", Situation::Jump),
            Some("ALI_PC")
        );
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
