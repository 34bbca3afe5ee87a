//! The `[sandbox]` section: the DaxPay sandbox, its apps and its seeded pay orders.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use time::{PrimitiveDateTime, UtcOffset};

use super::parse::{
    identity_field, invalid, parse_addr, parse_enum, parse_offset, parse_wall_clock, require_text,
    resolve_secret,
};
use super::raw::RawSandbox;
use super::ConfigError;
use crate::order::{Amount, OrderStatus, RefundStatus};
use crate::secret::Secret;
use crate::sign::daxpay::{SignType, Version};

/// The DaxPay sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Run inside `paybridge serve`, beside the proxy.
    pub embedded: bool,
    pub listen: SocketAddr,
    pub version: Version,
    pub utc_offset: UtcOffset,
    /// `None` turns the `reqTime` check off (3.x apps can).
    pub req_time_window: Option<Duration>,
    pub sm3_is_md5: bool,
    /// Delays between a callback's attempts (`callback_retry_ms`); the first attempt is sent
    /// at once, one more after each delay. Default [`DEFAULT_CALLBACK_RETRY_MS`].
    pub callback_retry: Vec<Duration>,
    /// 2.0: the platform's `limit_amount`, fen (`pay_limit_fen`, default 19911).
    pub pay_limit_fen: u64,
    /// 2.0: each channel config's `pay_ways` (`[sandbox.pay_ways]`); a channel not listed
    /// keeps the seed's.
    pub pay_ways: HashMap<String, Vec<String>>,
    /// 2.0: for this long after a change made outside a request, whose notice is already
    /// sent, the queries answer the state before it (`callback_before_commit_ms`, default 0).
    pub callback_before_commit: Duration,
    pub apps: Vec<SandboxApp>,
    pub orders: Vec<SandboxOrder>,
}

/// DaxPay 2.0.8's seed platform `limit_amount`: 199.11 yuan, in fen.
pub const DEFAULT_PAY_LIMIT_FEN: u64 = 19_911;

/// DaxPay 3.0.0's delays between callback attempts (`MerchantCallbackTaskService`): 15 s,
/// 30 s, 3 m, 10 m, 20 m, 30 m, 30 m, 30 m, 1 h, 3 h, 3 h, 3 h, 6 h, 6 h.
pub const DEFAULT_CALLBACK_RETRY_MS: [u64; 14] = [
    15_000, 30_000, 180_000, 600_000, 1_200_000, 1_800_000, 1_800_000, 1_800_000, 3_600_000,
    10_800_000, 10_800_000, 10_800_000, 21_600_000, 21_600_000,
];

#[derive(Debug, Clone)]
pub struct SandboxApp {
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub sign_type: SignType,
    pub secret: Secret,
    /// How a callback's `data` is ordered inside its signature (`callback_sign_order`).
    pub callback_sign_order: CallbackSignOrder,
}

/// The key order of a callback's `data` inside the signed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackSignOrder {
    /// DaxPay 3.0.0's server: `data` is a map, its keys sorted case-insensitively.
    #[default]
    Sorted,
    /// The SDK's example notice: `data`'s keys in declaration (wire) order.
    Declared,
}

impl CallbackSignOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackSignOrder::Sorted => "sorted",
            CallbackSignOrder::Declared => "declared",
        }
    }
}

impl fmt::Display for CallbackSignOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CallbackSignOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [CallbackSignOrder::Sorted, CallbackSignOrder::Declared]
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                format!("unknown callback sign order `{s}` (expected sorted or declared)")
            })
    }
}

/// A pay order held by the sandbox. Times are on the sandbox's wall clock (`utc_offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOrder {
    pub order_no: String,
    pub biz_order_no: String,
    pub status: OrderStatus,
    pub app_id: Option<String>,
    pub channel: String,
    pub method: String,
    pub close_delay: Duration,
    pub channel_fails: bool,
    pub amount: Amount,
    pub title: Option<String>,
    pub description: Option<String>,
    pub out_order_no: Option<String>,
    pub attach: Option<String>,
    pub refund_status: RefundStatus,
    pub pay_time: Option<PrimitiveDateTime>,
    /// Set by the sandbox when it closes or cancels the order.
    pub close_time: Option<PrimitiveDateTime>,
    pub expired_time: Option<PrimitiveDateTime>,
    pub error_msg: Option<String>,
    /// What may still be refunded, once a refund has deducted from it; `None` before (then
    /// the amount, or 0 when `refunded`).
    pub refundable: Option<Amount>,
    /// The payer's IP given with `/unipay/pay` (stored, not in `PayOrderResult`).
    pub client_ip: Option<String>,
    /// Where DaxPay POSTs the order's callbacks (`notifyUrl` of `/unipay/pay`).
    pub notify_url: Option<String>,
    /// The browser's return address (`returnUrl` of `/unipay/pay`); stored only.
    pub return_url: Option<String>,
    /// 2.0: `allocation` of `/unipay/pay` (null stored as false).
    pub allocation: bool,
    /// 2.0: the channel's error code, when it refused.
    pub error_code: Option<String>,
}

impl SandboxOrder {
    /// An order with every optional field at its default (0.01 yuan, Alipay barcode).
    pub fn new(order_no: &str, biz_order_no: &str, status: OrderStatus) -> SandboxOrder {
        SandboxOrder {
            order_no: order_no.to_owned(),
            biz_order_no: biz_order_no.to_owned(),
            status,
            app_id: None,
            channel: "ali_pay".to_owned(),
            method: "barcode".to_owned(),
            close_delay: Duration::ZERO,
            channel_fails: false,
            amount: Amount::from_fen(1),
            title: None,
            description: None,
            out_order_no: None,
            attach: None,
            refund_status: RefundStatus::NoRefund,
            pay_time: None,
            close_time: None,
            expired_time: None,
            error_msg: None,
            refundable: None,
            client_ip: None,
            notify_url: None,
            return_url: None,
            allocation: false,
            error_code: None,
        }
    }

    /// What the payer paid: the amount once the order succeeded, nothing before.
    pub fn real_amount(&self) -> Option<Amount> {
        (self.status == OrderStatus::Success).then_some(self.amount)
    }

    /// What may still be refunded: the amount less what refunds deducted, nothing once fully
    /// refunded.
    pub fn refundable_balance(&self) -> Amount {
        match self.refund_status {
            RefundStatus::Refunded => Amount::ZERO,
            _ => self.refundable.unwrap_or(self.amount),
        }
    }
}

pub(super) fn validate(raw: RawSandbox) -> Result<SandboxConfig, ConfigError> {
    let version: Version = parse_enum("sandbox.version", raw.version.as_deref(), Version::V3_0)?;
    let mut apps = Vec::new();
    for (i, a) in raw.apps.into_iter().enumerate() {
        let key = |field: &str| format!("sandbox.apps[{i}].{field}");
        let app = SandboxApp {
            mch_no: identity_field(&key("mch_no"), a.mch_no, version == Version::V3_0, version)?,
            app_id: identity_field(&key("app_id"), a.app_id, version != Version::V2_0, version)?,
            sign_type: parse_enum(
                &key("sign_type"),
                a.sign_type.as_deref(),
                SignType::HmacSha256,
            )?,
            secret: resolve_secret(&key("secret"), a.secret)?,
            callback_sign_order: parse_enum(
                &key("callback_sign_order"),
                a.callback_sign_order.as_deref(),
                CallbackSignOrder::Sorted,
            )?,
        };
        if version == Version::V2_0 && app.sign_type == SignType::Sm3 {
            return Err(invalid(
                key("sign_type"),
                "DaxPay 2.0 signs with md5 or hmac_sha256 only",
            ));
        }
        if app.secret.is_empty() {
            return Err(invalid(key("secret"), "must not be empty"));
        }
        if version != Version::V2_0 && apps.iter().any(|o: &SandboxApp| o.app_id == app.app_id) {
            return Err(invalid(key("app_id"), "duplicate sandbox app"));
        }
        apps.push(app);
    }
    if apps.is_empty() {
        return Err(invalid("sandbox.apps", "at least one app is needed"));
    }
    if version == Version::V2_0 && apps.len() > 1 {
        return Err(invalid(
            "sandbox.apps",
            "DaxPay 2.0 has one platform secret: configure exactly one app",
        ));
    }
    let mut orders: Vec<SandboxOrder> = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut seen_refs = HashSet::new();
    for (i, o) in raw.orders.into_iter().enumerate() {
        let key = |field: &str| format!("sandbox.orders[{i}].{field}");
        require_text(&key("order_no"), &o.order_no)?;
        require_text(&key("biz_order_no"), &o.biz_order_no)?;
        if let Some(app_id) = &o.app_id {
            if !apps.iter().any(|a| a.app_id.as_ref() == Some(app_id)) {
                return Err(invalid(key("app_id"), format!("no sandbox app `{app_id}`")));
            }
        }
        // Sets, not scans: a sandbox may hold hundreds of thousands of orders.
        if !seen_ids.insert(o.order_no.clone())
            || !seen_refs.insert((o.app_id.clone(), o.biz_order_no.clone()))
        {
            return Err(invalid(key("order_no"), "duplicate sandbox order"));
        }
        let status: OrderStatus = o
            .status
            .parse()
            .map_err(|e: String| invalid(key("status"), e))?;
        let mut order = SandboxOrder::new(&o.order_no, &o.biz_order_no, status);
        order.app_id = o.app_id;
        if let Some(channel) = o.channel {
            order.channel = channel;
        }
        if let Some(method) = o.method {
            order.method = method;
        }
        order.close_delay = Duration::from_millis(o.close_delay_ms);
        order.channel_fails = o.channel_fails;
        if let Some(amount) = o.amount.as_deref() {
            order.amount = amount
                .parse()
                .map_err(|e: String| invalid(key("amount"), e))?;
        }
        order.title = o.title;
        order.description = o.description;
        order.out_order_no = o.out_order_no;
        order.attach = o.attach;
        order.refund_status = parse_enum(
            &key("refund_status"),
            o.refund_status.as_deref(),
            RefundStatus::NoRefund,
        )?;
        order.pay_time = o
            .pay_time
            .as_deref()
            .map(|t| parse_wall_clock(&key("pay_time"), t))
            .transpose()?;
        order.expired_time = o
            .expired_time
            .as_deref()
            .map(|t| parse_wall_clock(&key("expired_time"), t))
            .transpose()?;
        order.error_msg = o.error_msg;
        order.notify_url = o.notify_url;
        order.return_url = o.return_url;
        orders.push(order);
    }
    Ok(SandboxConfig {
        embedded: raw.embedded,
        listen: parse_addr("sandbox.listen", raw.listen.as_deref(), "127.0.0.1:9090")?,
        version,
        utc_offset: parse_offset("sandbox.utc_offset", raw.utc_offset.as_deref())?,
        // 2.0.8's seed `req_timeout` is 10 s; 3.x apps default to 300 here.
        req_time_window: match raw.req_time_window_secs {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None if version == Version::V2_0 => Some(Duration::from_secs(10)),
            None => Some(Duration::from_secs(300)),
        },
        sm3_is_md5: raw.sm3_is_md5,
        // 2.0.8's retry job ships stopped: one attempt unless configured.
        callback_retry: raw
            .callback_retry_ms
            .unwrap_or_else(|| match version {
                Version::V2_0 => Vec::new(),
                _ => DEFAULT_CALLBACK_RETRY_MS.to_vec(),
            })
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
        pay_limit_fen: raw.pay_limit_fen.unwrap_or(DEFAULT_PAY_LIMIT_FEN),
        pay_ways: validate_pay_ways(raw.pay_ways.unwrap_or_default())?,
        callback_before_commit: Duration::from_millis(raw.callback_before_commit_ms),
        apps,
        orders,
    })
}

/// `[sandbox.pay_ways]`: 2.0.8's channels and methods only.
fn validate_pay_ways(
    ways: HashMap<String, Vec<String>>,
) -> Result<HashMap<String, Vec<String>>, ConfigError> {
    const METHODS: [&str; 8] = [
        "normal", "wap", "app", "web", "qrcode", "barcode", "jsapi", "b2b",
    ];
    for (channel, methods) in &ways {
        let key = format!("sandbox.pay_ways.{channel}");
        if !["ali_pay", "wechat_pay", "union_pay", "wallet_pay"].contains(&channel.as_str()) {
            return Err(invalid(key, "not a DaxPay 2.0 channel"));
        }
        if let Some(bad) = methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(invalid(key, format!("`{bad}` is not a DaxPay 2.0 method")));
        }
    }
    Ok(ways)
}
