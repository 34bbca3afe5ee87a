//! The `[sandbox]` and `[legacy_sandbox]` sections as written, before validation. Other
//! top-level sections belong to the proxy and are ignored here; inside the two sections,
//! unknown keys are rejected so that a typo never silently falls back to a default.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawSandboxes {
    pub sandbox: Option<RawSandbox>,
    pub legacy_sandbox: Option<RawLegacySandbox>,
}

/// `"inline"`, `{ env = "VAR" }` or `{ file = "/path" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSecret {
    Inline(String),
    Env { env: String },
    File { file: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    #[serde(default)]
    pub embedded: bool,
    pub listen: Option<String>,
    pub version: Option<String>,
    pub utc_offset: Option<String>,
    pub req_time_window_secs: Option<u64>,
    #[serde(default)]
    pub sm3_is_md5: bool,
    /// Delays between callback attempts, in milliseconds; default DaxPay's schedule (3.x),
    /// none (2.0: the retry job ships stopped).
    pub callback_retry_ms: Option<Vec<u64>>,
    /// 2.0: the platform's `limit_amount` in fen (default the seed's 19911).
    pub pay_limit_fen: Option<u64>,
    /// 2.0: each channel config's `pay_ways` (default the seed's).
    pub pay_ways: Option<std::collections::HashMap<String, Vec<String>>>,
    /// 2.0: how long the queries answer the state before a change whose notice was sent.
    #[serde(default)]
    pub callback_before_commit_ms: u64,
    #[serde(default)]
    pub apps: Vec<RawSandboxApp>,
    #[serde(default)]
    pub orders: Vec<RawSandboxOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandboxApp {
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub sign_type: Option<String>,
    pub secret: RawSecret,
    /// `sorted` (default) or `declared`: how `data` is ordered in a callback's signature.
    pub callback_sign_order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandboxOrder {
    pub order_no: String,
    pub biz_order_no: String,
    pub status: String,
    pub app_id: Option<String>,
    pub channel: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub close_delay_ms: u64,
    #[serde(default)]
    pub channel_fails: bool,
    /// Yuan, as text (`"12.30"`); default `"0.01"`.
    pub amount: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub out_order_no: Option<String>,
    pub attach: Option<String>,
    pub refund_status: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` on the sandbox's wall clock.
    pub pay_time: Option<String>,
    pub expired_time: Option<String>,
    pub error_msg: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLegacySandbox {
    #[serde(default)]
    pub embedded: bool,
    pub listen: Option<String>,
    #[serde(default)]
    pub apps: Vec<RawLegacyApp>,
    #[serde(default)]
    pub orders: Vec<RawLegacyOrder>,
    /// The legacy epay (彩虹易支付) gateway served beside Jeepay: its merchants.
    #[serde(default)]
    pub epay_merchants: Vec<RawEpayMerchant>,
    /// And its orders.
    #[serde(default)]
    pub epay_orders: Vec<RawEpayOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEpayMerchant {
    /// epay's merchant id, an integer (written as a number or as text).
    pub pid: RawPid,
    pub key: RawSecret,
}

/// `1001` or `"1001"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawPid {
    Number(u64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEpayOrder {
    pub trade_no: String,
    pub out_trade_no: String,
    pub pid: RawPid,
    /// Yuan as text (`"1.00"`).
    pub money: String,
    /// 0 unpaid, 1 paid, 2 refunded, 3 frozen, 4 pre-authorised; default 0.
    #[serde(default)]
    pub status: u8,
    /// Default `alipay`.
    #[serde(rename = "type")]
    pub pay_type: Option<String>,
    /// Default `product`.
    pub name: Option<String>,
    pub param: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub api_trade_no: Option<String>,
    pub buyer: Option<String>,
    /// Yuan already refunded, default none.
    pub refundmoney: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLegacyApp {
    pub mch_no: String,
    pub app_id: String,
    pub secret: RawSecret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLegacyOrder {
    pub pay_order_id: String,
    pub mch_order_no: String,
    pub mch_no: String,
    pub state: u8,
    #[serde(default)]
    pub empty_body: bool,
    /// Fen; default 1.
    #[serde(default = "one_fen")]
    pub amount: u64,
}

fn one_fen() -> u64 {
    1
}
