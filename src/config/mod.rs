//! Configuration: read once (figment: TOML file + `PAYBRIDGE_` environment), validated in full into
//! typed structs, then shared read-only. Every error names the offending key.
//!
//! One file per section: [`server`](ServerConfig), upstreams ([`Upstream`], [`LegacyUpstream`]),
//! merchants ([`Merchants`]), routing ([`Routing`]), replay ([`ReplayConfig`]), store ([`StoreConfig`]); `raw` holds the
//! sections as written, `parse` the small shared parsers, `summary` what `paybridge check`
//! prints. The `[sandbox]` and `[legacy_sandbox]` sections of the same file belong to the
//! `paybridge-sandbox` crate, which reads them itself: here they are accepted and ignored.

mod admin;
pub mod epay;
mod error;
pub mod exposure;
mod merchants;
mod notify;
mod parse;
mod raw;
mod replay;
mod retention;
mod routing;
mod server;
mod settlement;
mod sharing;
mod store;
mod summary;
mod upstreams;

pub use epay::{epay_mch_no, EpayConfig, EpayMerchant};
pub use error::ConfigError;
pub use merchants::{DaxIdentity, LookupError, Merchant, Merchants};
pub use notify::NotifyConfig;
pub(crate) use parse::invalid;
pub use parse::offset_text;
pub use replay::{ReplayConfig, ReplayStoreKind, REPLAY_MARGIN};
pub use retention::RetentionConfig;
pub use routing::{Action, DaxTarget, Rollout, Routing, Rule};
pub use server::{ServerConfig, SuccessReply, MAX_PUBLIC_URL_CHARS};
pub use settlement::SettlementConfig;
pub use store::{StoreConfig, StoreTarget, StoreUrl, DEFAULT_STORE_URL};
pub use upstreams::{LegacyUpstream, Resilience, Upstream, DEFAULT_MAX_CONNECTIONS};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use figment::providers::{Env, Format, Toml};
use figment::Figment;

use raw::{RawConfig, RawSecret};

/// The configuration file used when `--config` is omitted.
pub const DEFAULT_PATH: &str = "config/paybridge.toml";

/// Top-level sections that `PAYBRIDGE_<SECTION>__<KEY>` variables may override (the sandbox
/// sections' overrides are read by the sandbox crate).
const ENV_SECTIONS: [&str; 9] = [
    "server",
    "log",
    "upstreams",
    "admin",
    "replay",
    "store",
    "notify",
    "settlement",
    "retention",
];

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub log_level: String,
    /// One JSON object per log line instead of text.
    pub log_json: bool,
    /// DaxPay upstreams (translated to), by name.
    pub upstreams: BTreeMap<String, Arc<Upstream>>,
    /// Legacy Jeepay gateways (passed through to), by name.
    pub legacy: BTreeMap<String, Arc<LegacyUpstream>>,
    pub merchants: Merchants,
    pub routing: Routing,
    /// The admin listener (reload, configuration, metrics, health); off when `None`.
    pub admin_listen: Option<SocketAddr>,
    /// Required as `Authorization: Bearer …` on the admin routes but `/healthz` and `/readyz`;
    /// `None` (loopback listeners only): no authentication.
    pub admin_token: Option<crate::secret::Secret>,
    pub replay: ReplayConfig,
    /// The durable order store.
    pub store: StoreConfig,
    /// Delivery of notifications to merchants.
    pub notify: NotifyConfig,
    /// Following every order and refund up until it is final.
    pub settlement: SettlementConfig,
    /// Pruning what is final and delivered.
    pub retention: RetentionConfig,
    /// `[epay]`: the platform key of the epay dialect.
    pub epay: EpayConfig,
    /// How many secrets are written inline (warned about when the file is readable by others).
    pub inline_secrets: usize,
}

impl Config {
    /// Reads `path` and the environment, then validates everything.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::from_figment(Figment::from(Toml::string(&text)).merge(env_overrides()))
    }

    /// Parses a TOML document (no environment), for tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError::Syntax(Box::new(e)))?;
        validate(raw)
    }
}

fn env_overrides() -> Env {
    // The filter may see the key before or after `__` becomes `.`: accept both spellings.
    Env::prefixed("PAYBRIDGE_")
        .filter(|key| {
            let first = key.as_str().split("__").next().unwrap_or_default();
            ENV_SECTIONS.iter().any(|s| first.eq_ignore_ascii_case(s))
        })
        .split("__")
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let inline_secrets = count_inline(&raw);
    let server = server::validate(raw.server)?;
    let (upstreams, legacy) = upstreams::validate(raw.upstreams, server.req_time_window)?;
    let notify = notify::validate(raw.notify)?;
    let merchants = merchants::validate(
        raw.merchants,
        &upstreams,
        &server,
        notify.allow_private_targets,
    )?;
    sharing::check(merchants.in_order())?;
    let routing = routing::validate(raw.routing, raw.routes, &upstreams, &legacy)?;
    let (admin_listen, admin_token) = admin::validate(raw.admin)?;
    let replay = replay::validate(raw.replay, server.req_time_window, &merchants)?;
    let store = store::validate(raw.store)?;
    let settlement = settlement::validate(raw.settlement)?;
    let retention = retention::validate(raw.retention)?;
    let epay = epay::validate(raw.epay)?;

    Ok(Config {
        server,
        log_json: match raw.log.format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("`{other}` is not text or json"),
                ))
            }
        },
        log_level: raw.log.level.unwrap_or_else(|| "info".to_owned()),
        upstreams,
        legacy,
        merchants,
        routing,
        admin_listen,
        admin_token,
        replay,
        store,
        notify,
        settlement,
        retention,
        epay,
        inline_secrets,
    })
}

fn count_inline(raw: &RawConfig) -> usize {
    let inline = |s: &Option<RawSecret>| matches!(s, Some(RawSecret::Inline(_))) as usize;
    raw.upstreams
        .values()
        .map(|u| inline(&u.secret))
        .sum::<usize>()
        + raw
            .merchants
            .iter()
            .map(|m| inline(&Some(m.secret.clone())) + inline(&m.daxpay.secret))
            .sum::<usize>()
        + inline(&raw.admin.token)
}

/// A merchant for unit tests: `M1`/`A1`, secret `s`, on a DaxPay 3.0 upstream.
#[cfg(test)]
pub fn test_merchant() -> Arc<Merchant> {
    let toml = r#"
[upstreams.daxpay]
base_url = "http://127.0.0.1:9"
version = "3.0"
secret = "dax"
[[merchants]]
mch_no = "M1"
app_id = "A1"
secret = "s"
daxpay = { upstream = "daxpay", mch_no = "DM", app_id = "DA" }
"#;
    let config = Config::from_toml(toml).expect("the test merchant's configuration");
    config.merchants.in_order()[0].clone()
}
