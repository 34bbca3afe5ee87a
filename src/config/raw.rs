//! The configuration as written: TOML plus `PAYBRIDGE_` environment overrides, before validation.
//! Unknown keys are rejected so that a typo never silently falls back to a default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default)]
    pub merchants: Vec<RawMerchant>,
    #[serde(default)]
    pub routing: RawRouting,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub replay: RawReplay,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub settlement: RawSettlement,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub epay: RawEpay,
    /// `[sandbox]`: accepted here, read and validated by the `paybridge-sandbox` crate.
    #[allow(dead_code)]
    pub sandbox: Option<IgnoredAny>,
    /// `[legacy_sandbox]`: likewise.
    #[allow(dead_code)]
    pub legacy_sandbox: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub success_code: Option<i64>,
    pub success_msg: Option<String>,
    pub req_time_window_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    /// "orders" (default: the order store), "memory", "off", or a `redis://` URL.
    pub store: Option<String>,
    pub max_entries: Option<usize>,
    pub ttl_secs: Option<u64>,
    /// How long an in-flight claim holds in a shared store unless renewed.
    pub claim_lease_ms: Option<u64>,
    /// "allow" (default) or "reject" requests while the store cannot be reached.
    pub on_store_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub keep_days: Option<u64>,
    pub keep_paid_days: Option<u64>,
    pub batch: Option<usize>,
    pub every_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettlement {
    pub enabled: Option<bool>,
    pub first_check_after_ms: Option<u64>,
    pub max_interval_ms: Option<u64>,
    pub give_up_after_secs: Option<usize>,
    pub poll_ms: Option<u64>,
    pub concurrency: Option<usize>,
    pub refund_sync_after_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub max_attempts: Option<usize>,
    pub retry_step_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub poll_ms: Option<u64>,
    pub allow_private_targets: Option<bool>,
    pub concurrency: Option<usize>,
    pub per_host_concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `sqlite://PATH` (default `sqlite://data/paybridge.sqlite`), or a `postgres://` URL.
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    /// "text" (default) or "json".
    pub format: Option<String>,
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
pub struct RawUpstream {
    /// "daxpay" (translated to; the default) or "legacy" (a Jeepay gateway, passed through to).
    pub kind: Option<String>,
    pub base_url: String,
    pub version: Option<String>,
    pub sign_type: Option<String>,
    pub secret: Option<RawSecret>,
    pub utc_offset: Option<String>,
    /// How far a signed success's `resTime` may be from paybridge's clock; 0: not checked.
    pub res_time_window_secs: Option<u64>,
    /// DaxPay's age limit on requests (`reqTime`); 0: DaxPay does not check.
    pub request_expiry_secs: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    /// PEM certificates trusted for this upstream's HTTPS, beside the system's roots.
    pub ca_file: Option<PathBuf>,
    pub retries: Option<u32>,
    pub retry_backoff_ms: Option<u64>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooldown_ms: Option<u64>,
    pub max_connections: Option<usize>,
    #[serde(default)]
    pub forward_client_ip: bool,
    #[serde(default)]
    pub sm3_is_md5: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMerchant {
    /// `"jeepay"` (the default) or `"epay"`.
    pub dialect: Option<String>,
    /// Jeepay merchants: the merchant number and app.
    #[serde(default)]
    pub mch_no: String,
    #[serde(default)]
    pub app_id: String,
    /// epay merchants: the merchant id.
    pub pid: Option<String>,
    /// epay V2: the merchant's RSA public key (base64 DER, as epay stores it, or PEM).
    pub epay_public_key: Option<RawSecret>,
    /// epay `type` or `type/device` → Jeepay way code, over the dialect's default table.
    #[serde(default)]
    pub epay_way_codes: std::collections::BTreeMap<String, String>,
    pub secret: RawSecret,
    #[serde(default)]
    pub close_uses_cancel: bool,
    /// Accept `/api/pay/cancel` from this app (default false: a close signature is not a cancel).
    #[serde(default)]
    pub allow_cancel: bool,
    pub success_code: Option<i64>,
    pub success_msg: Option<String>,
    pub req_time_window_secs: Option<u64>,
    /// Hosts this merchant's notify URLs may name (none: any).
    pub notify_hosts: Option<Vec<String>>,
    /// Forward closed, cancelled and failed payments too (Jeepay forwards successes only).
    #[serde(default)]
    pub forward_failed_payments: bool,
    /// Way code → `"channel/method"` on DaxPay, over the default table.
    #[serde(default)]
    pub way_codes: std::collections::BTreeMap<String, String>,
    pub daxpay: RawDaxIdentity,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaxIdentity {
    pub upstream: String,
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub secret: Option<RawSecret>,
    /// This DaxPay identity is knowingly shared with other merchants (requires `order_prefix`).
    #[serde(default)]
    pub shared: bool,
    /// On a shared identity: prepended to this merchant's `mchOrderNo` to make DaxPay's
    /// `bizOrderNo`, and required on every order it acts on.
    pub order_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<String>,
    /// Required as `Authorization: Bearer <token>` on every admin route but the health checks.
    pub token: Option<RawSecret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    /// Honour `X-Paybridge-Route` from callers.
    #[serde(default)]
    pub override_header: bool,
    pub default: Option<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Option<String>,
    pub paths: Option<Vec<String>>,
    pub mch_no: Option<Vec<String>>,
    pub app_id: Option<Vec<String>>,
    /// epay merchant ids.
    pub pid: Option<Vec<String>>,
    pub header: Option<RawHeaderMatch>,
    pub action: String,
    pub upstream: Option<String>,
    pub fallback: Option<String>,
    pub shadow: Option<String>,
    pub rollout_percent: Option<f64>,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    pub otherwise: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    pub name: String,
    pub value: String,
}

/// `[epay]`: what the epay dialect shares across merchants.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEpay {
    /// The platform's RSA private key (base64 PKCS#8 DER, or PEM): signs V2 answers and
    /// notifications.
    pub platform_private_key: Option<RawSecret>,
}
