//! Configuration: read once (figment: TOML file + `PAYBRIDGE_` environment), validated in full into
//! typed structs, then shared read-only. Every error names the offending key.

mod raw;
mod routing;

pub use routing::{Action, DaxTarget, Rollout, Routing, Rule};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use http::Uri;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::UtcOffset;

use crate::dialect::daxpay::{Scheme, SignType, Version};
use crate::sandbox::OrderStatus;
use crate::secret::Secret;
use raw::{RawConfig, RawSecret};

/// The configuration file used when `--config` is omitted.
pub const DEFAULT_PATH: &str = "config/paybridge.toml";

/// Top-level sections that `PAYBRIDGE_<SECTION>__<KEY>` variables may override.
const ENV_SECTIONS: [&str; 7] = [
    "server",
    "log",
    "upstreams",
    "sandbox",
    "legacy_sandbox",
    "admin",
    "replay",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(Box<figment::Error>),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

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
    pub replay: ReplayConfig,
    /// How many secrets are written inline (warned about when the file is readable by others).
    pub inline_secrets: usize,
    pub sandbox: Option<SandboxConfig>,
    pub legacy_sandbox: Option<LegacySandboxConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub success: SuccessReply,
    /// How far a translated request's `reqTime` may be from now; `None`: not checked.
    pub req_time_window: Option<Duration>,
    /// Open connections at most; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Requests being handled at most; further ones are answered "busy" at once.
    pub max_in_flight: usize,
    /// How long a client may take to send its request head (slow-loris protection).
    pub header_read_timeout: Duration,
    /// How long a client may take to send its request body.
    pub body_read_timeout: Duration,
}

/// Idempotent replay of signed requests.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub store: ReplayStoreKind,
    pub ttl: Duration,
    /// Carry on without replay protection while the store cannot be reached.
    pub fail_open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStoreKind {
    Off,
    Memory { max_entries: usize },
    Redis { url: String },
}

/// Retries and circuit breaking for one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resilience {
    /// Retries when nothing reached the upstream (connection refused and the like).
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Consecutive failures that open the circuit; 0: no breaker.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// Connections open to the upstream at most; further calls wait for one, nothing sent.
    pub max_connections: usize,
}

/// What a successful answer says: Jeepay's `0`/`SUCCESS`, or epay123's `200`/`成功`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessReply {
    pub code: i64,
    /// Shared with every answer that says it.
    pub msg: Arc<str>,
}

/// A DaxPay gateway that requests are translated to.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// `scheme://authority[/prefix]`, without a trailing slash.
    pub base_url: String,
    pub scheme: Scheme,
    pub secret: Option<Secret>,
    pub utc_offset: UtcOffset,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub forward_client_ip: bool,
    /// Extra trust roots for HTTPS (`ca_file`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub resilience: Resilience,
}

impl Upstream {
    pub fn version(&self) -> Version {
        self.scheme.version
    }
}

/// A legacy Jeepay gateway: requests reach it unchanged.
#[derive(Debug)]
pub struct LegacyUpstream {
    pub name: String,
    /// `scheme://authority[/prefix]`, without a trailing slash.
    pub base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra trust roots for HTTPS (`ca_file`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub resilience: Resilience,
}

/// One Jeepay merchant app and the DaxPay identity it is translated to.
#[derive(Debug)]
pub struct Merchant {
    pub mch_no: String,
    pub app_id: String,
    pub secret: Secret,
    pub close_uses_cancel: bool,
    pub success: SuccessReply,
    /// The `reqTime` window for this app (its own, or the server's).
    pub req_time_window: Option<Duration>,
    pub daxpay: DaxIdentity,
}

#[derive(Debug)]
pub struct DaxIdentity {
    pub upstream: Arc<Upstream>,
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub secret: Secret,
}

/// Merchant apps by `appId` (unique, as in Jeepay), plus the set of known `mchNo`s.
#[derive(Debug, Default)]
pub struct Merchants {
    by_app_id: HashMap<String, Arc<Merchant>>,
    mch_nos: HashMap<String, usize>,
}

/// Why a (`mchNo`, `appId`) pair does not name a configured app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// Unknown `mchNo` or unknown `appId` (Jeepay: `商户或商户应用不存在`).
    Unknown,
    /// The app exists but belongs to another merchant (`参数appId与商户号不匹配`).
    AppOfAnotherMerchant,
}

impl Merchants {
    /// Jeepay's `queryMchInfoAndAppInfo` followed by its ownership check.
    pub fn lookup(&self, mch_no: &str, app_id: &str) -> Result<&Arc<Merchant>, LookupError> {
        let app = self.by_app_id.get(app_id).ok_or(LookupError::Unknown)?;
        if !self.mch_nos.contains_key(mch_no) {
            return Err(LookupError::Unknown);
        }
        if app.mch_no != mch_no {
            return Err(LookupError::AppOfAnotherMerchant);
        }
        Ok(app)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Merchant>> {
        self.by_app_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_app_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_app_id.is_empty()
    }
}

/// The built-in DaxPay sandbox.
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
    pub apps: Vec<SandboxApp>,
    pub orders: Vec<SandboxOrder>,
}

#[derive(Debug, Clone)]
pub struct SandboxApp {
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub sign_type: SignType,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct SandboxOrder {
    pub order_no: String,
    pub biz_order_no: String,
    pub status: OrderStatus,
    pub app_id: Option<String>,
    pub channel: String,
    pub method: String,
    pub close_delay: Duration,
    pub channel_fails: bool,
}

/// The built-in stand-in for a legacy Jeepay gateway (the passthrough target).
#[derive(Debug, Clone)]
pub struct LegacySandboxConfig {
    /// Run inside `paybridge serve`, beside the proxy.
    pub embedded: bool,
    pub listen: SocketAddr,
    pub apps: Vec<LegacyApp>,
    pub orders: Vec<LegacyOrder>,
}

#[derive(Debug, Clone)]
pub struct LegacyApp {
    pub mch_no: String,
    pub app_id: String,
    pub secret: Secret,
}

/// A Jeepay pay order. `state`: 0 created, 1 paying, 2 success, 3 failed, 4 cancelled,
/// 5 refunded, 6 closed.
#[derive(Debug, Clone)]
pub struct LegacyOrder {
    pub pay_order_id: String,
    pub mch_order_no: String,
    pub mch_no: String,
    pub state: u8,
    /// Jeepay's quirk on demand: closing this order answers HTTP 200 with an empty body.
    pub empty_body: bool,
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

    /// A human summary with every secret masked, for `paybridge check`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let s = &self.server;
        let _ = writeln!(
            out,
            "server: listen {} · max body {} bytes · success {} {:?}",
            s.listen, s.max_body_bytes, s.success.code, s.success.msg
        );
        for u in self.upstreams.values() {
            let _ = writeln!(
                out,
                "upstream {}: {} · DaxPay {} · {} · secret {} · reqTime UTC{} · timeout {} ms (connect {} ms){}{}",
                u.name,
                u.base_url,
                u.scheme.version,
                u.scheme.sign_type,
                mask(u.secret.as_ref()),
                offset_text(u.utc_offset),
                u.timeout.as_millis(),
                u.connect_timeout.as_millis(),
                if u.forward_client_ip { " · forwards clientIp" } else { "" },
                if u.scheme.sm3_is_md5 { " · sm3 digested as md5" } else { "" },
            );
        }
        for u in self.legacy.values() {
            let _ = writeln!(
                out,
                "legacy upstream {}: {} · passthrough · timeout {} ms (connect {} ms)",
                u.name,
                u.base_url,
                u.timeout.as_millis(),
                u.connect_timeout.as_millis()
            );
        }
        for (i, rule) in self.routing.rules.iter().enumerate() {
            let _ = writeln!(out, "route {i} `{}`: {}", rule.name, rule.describe());
        }
        let _ = writeln!(out, "route default: {}", self.routing.default.describe());
        if self.routing.override_header {
            let _ = writeln!(
                out,
                "routing: X-Paybridge-Route honoured (trusted callers only)"
            );
        }
        if let Some(admin) = self.admin_listen {
            let _ = writeln!(out, "admin: {admin}");
        }
        let mut merchants: Vec<_> = self.merchants.iter().collect();
        merchants.sort_by(|a, b| (&a.mch_no, &a.app_id).cmp(&(&b.mch_no, &b.app_id)));
        for m in merchants {
            let d = &m.daxpay;
            let _ = writeln!(
                out,
                "merchant {}/{}: secret {} → upstream {} as mchNo={} appId={} secret {}{}",
                m.mch_no,
                m.app_id,
                mask(Some(&m.secret)),
                d.upstream.name,
                d.mch_no.as_deref().unwrap_or("-"),
                d.app_id.as_deref().unwrap_or("-"),
                mask(Some(&d.secret)),
                if m.close_uses_cancel {
                    " · close uses cancel"
                } else {
                    ""
                },
            );
            if m.success != self.server.success {
                let _ = writeln!(
                    out,
                    "  success answer: {} {:?}",
                    m.success.code, m.success.msg
                );
            }
        }
        let replay = match &self.replay.store {
            ReplayStoreKind::Off => "off".to_owned(),
            ReplayStoreKind::Memory { max_entries } => {
                format!("memory, at most {max_entries} entries")
            }
            ReplayStoreKind::Redis { url } => format!("redis {}", mask_url(url)),
        };
        let _ = writeln!(
            out,
            "replay: {replay} · kept {} s · {} while the store is unreachable",
            self.replay.ttl.as_secs(),
            if self.replay.fail_open {
                "allow"
            } else {
                "reject"
            }
        );
        if let Some(lg) = &self.legacy_sandbox {
            let _ = writeln!(
                out,
                "legacy sandbox: {} · {} app(s) · {} order(s){}",
                lg.listen,
                lg.apps.len(),
                lg.orders.len(),
                if lg.embedded {
                    " · embedded in serve"
                } else {
                    ""
                },
            );
        }
        if let Some(sb) = &self.sandbox {
            let _ = writeln!(
                out,
                "sandbox: {} · DaxPay {} · {} app(s) · {} order(s){}",
                sb.listen,
                sb.version,
                sb.apps.len(),
                sb.orders.len(),
                if sb.embedded {
                    " · embedded in serve"
                } else {
                    ""
                },
            );
        }
        out
    }
}

/// `+08:00`, as written in the configuration.
pub fn offset_text(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// A URL with any password replaced by `***` (a Redis URL may carry one).
fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn mask(secret: Option<&Secret>) -> &'static str {
    match secret {
        Some(s) if !s.is_empty() => "***",
        _ => "(none)",
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
    let server = ServerConfig {
        listen: parse_addr(
            "server.listen",
            raw.server.listen.as_deref(),
            "127.0.0.1:8080",
        )?,
        max_body_bytes: match raw.server.max_body_bytes {
            None => 64 * 1024,
            Some(0) => return Err(invalid("server.max_body_bytes", "must be at least 1")),
            Some(n) => {
                usize::try_from(n).map_err(|_| invalid("server.max_body_bytes", "too large"))?
            }
        },
        success: SuccessReply {
            code: raw.server.success_code.unwrap_or(0),
            msg: raw
                .server
                .success_msg
                .as_deref()
                .unwrap_or("SUCCESS")
                .into(),
        },
        req_time_window: window(raw.server.req_time_window_secs.unwrap_or(300)),
        max_connections: positive("server.max_connections", raw.server.max_connections, 10_000)?,
        max_in_flight: positive("server.max_in_flight", raw.server.max_in_flight, 1_024)?,
        header_read_timeout: millis(
            "server.header_read_timeout_ms",
            raw.server.header_read_timeout_ms,
            10_000,
        )?,
        body_read_timeout: millis(
            "server.body_read_timeout_ms",
            raw.server.body_read_timeout_ms,
            10_000,
        )?,
    };

    let mut upstreams = BTreeMap::new();
    let mut legacy = BTreeMap::new();
    for (name, u) in raw.upstreams {
        let key = |field: &str| format!("upstreams.{name}.{field}");
        let base_url = parse_base_url(&key("base_url"), &u.base_url)?;
        let timeout = millis(&key("timeout_ms"), u.timeout_ms, 10_000)?;
        let connect_timeout = millis(&key("connect_timeout_ms"), u.connect_timeout_ms, 2_000)?;
        let extra_roots = match &u.ca_file {
            Some(path) => read_roots(&key("ca_file"), path)?,
            None => Vec::new(),
        };
        let resilience = Resilience {
            retries: u.retries.unwrap_or(2).min(10),
            retry_backoff: Duration::from_millis(u.retry_backoff_ms.unwrap_or(50)),
            breaker_failures: u.breaker_failures.unwrap_or(5),
            breaker_cooldown: millis(&key("breaker_cooldown_ms"), u.breaker_cooldown_ms, 10_000)?,
            max_connections: match u.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS) {
                0 => return Err(invalid(key("max_connections"), "must be at least 1")),
                n => n,
            },
        };
        match u.kind.as_deref().unwrap_or("daxpay") {
            "daxpay" => {}
            "legacy" => {
                let dax_only = [
                    ("version", u.version.is_some()),
                    ("sign_type", u.sign_type.is_some()),
                    ("secret", u.secret.is_some()),
                    ("utc_offset", u.utc_offset.is_some()),
                    ("forward_client_ip", u.forward_client_ip),
                    ("sm3_is_md5", u.sm3_is_md5),
                ];
                if let Some((field, _)) = dax_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        key(field),
                        "a legacy upstream is passed through: it has no DaxPay settings",
                    ));
                }
                let upstream = LegacyUpstream {
                    name: name.clone(),
                    base_url,
                    timeout,
                    connect_timeout,
                    extra_roots,
                    resilience,
                };
                legacy.insert(name, Arc::new(upstream));
                continue;
            }
            other => {
                return Err(invalid(
                    key("kind"),
                    format!("unknown kind `{other}` (expected daxpay or legacy)"),
                ))
            }
        }
        let version: Version = parse_enum(&key("version"), u.version.as_deref(), Version::V3_0)?;
        let sign_type: SignType = parse_enum(
            &key("sign_type"),
            u.sign_type.as_deref(),
            SignType::HmacSha256,
        )?;
        if version == Version::V2_0 && sign_type == SignType::Sm3 {
            return Err(invalid(
                key("sign_type"),
                "DaxPay 2.0 signs with md5 or hmac_sha256 only",
            ));
        }
        let upstream = Upstream {
            base_url,
            scheme: Scheme {
                version,
                sign_type,
                sm3_is_md5: u.sm3_is_md5,
            },
            secret: u
                .secret
                .map(|s| resolve_secret(&key("secret"), s))
                .transpose()?,
            utc_offset: parse_offset(&key("utc_offset"), u.utc_offset.as_deref())?,
            timeout,
            connect_timeout,
            forward_client_ip: u.forward_client_ip,
            extra_roots,
            resilience,
            name: name.clone(),
        };
        upstreams.insert(name, Arc::new(upstream));
    }

    let mut merchants = Merchants::default();
    for (i, m) in raw.merchants.into_iter().enumerate() {
        let key = |field: &str| format!("merchants[{i}].{field}");
        require_text(&key("mch_no"), &m.mch_no)?;
        require_text(&key("app_id"), &m.app_id)?;
        let secret = resolve_secret(&key("secret"), m.secret)?;
        if secret.is_empty() {
            return Err(invalid(key("secret"), "must not be empty"));
        }
        let upstream = upstreams.get(&m.daxpay.upstream).cloned().ok_or_else(|| {
            invalid(
                key("daxpay.upstream"),
                format!("unknown upstream `{}`", m.daxpay.upstream),
            )
        })?;
        let dax_secret = match m.daxpay.secret {
            Some(s) => resolve_secret(&key("daxpay.secret"), s)?,
            None => upstream.secret.clone().ok_or_else(|| {
                invalid(
                    key("daxpay.secret"),
                    format!("missing, and upstream `{}` has no secret", upstream.name),
                )
            })?,
        };
        if dax_secret.is_empty() {
            return Err(invalid(key("daxpay.secret"), "must not be empty"));
        }
        let version = upstream.version();
        let dax_mch_no = identity_field(
            &key("daxpay.mch_no"),
            m.daxpay.mch_no,
            version == Version::V3_0,
            version,
        )?;
        let dax_app_id = identity_field(
            &key("daxpay.app_id"),
            m.daxpay.app_id,
            version != Version::V2_0,
            version,
        )?;
        let merchant = Merchant {
            success: SuccessReply {
                code: m.success_code.unwrap_or(server.success.code),
                msg: m
                    .success_msg
                    .map_or_else(|| server.success.msg.clone(), Arc::from),
            },
            close_uses_cancel: m.close_uses_cancel,
            req_time_window: match m.req_time_window_secs {
                Some(secs) => window(secs),
                None => server.req_time_window,
            },
            secret,
            daxpay: DaxIdentity {
                upstream,
                mch_no: dax_mch_no,
                app_id: dax_app_id,
                secret: dax_secret,
            },
            mch_no: m.mch_no,
            app_id: m.app_id,
        };
        if merchants.by_app_id.contains_key(&merchant.app_id) {
            return Err(invalid(
                key("app_id"),
                format!("duplicate merchant app `{}`", merchant.app_id),
            ));
        }
        *merchants
            .mch_nos
            .entry(merchant.mch_no.clone())
            .or_default() += 1;
        merchants
            .by_app_id
            .insert(merchant.app_id.clone(), Arc::new(merchant));
    }

    let routing = routing::validate(raw.routing, raw.routes, &upstreams, &legacy)?;
    let admin_listen = raw
        .admin
        .listen
        .as_deref()
        .map(|a| parse_addr("admin.listen", Some(a), ""))
        .transpose()?;
    let replay = validate_replay(raw.replay, server.req_time_window)?;
    let sandbox = raw.sandbox.map(validate_sandbox).transpose()?;
    let legacy_sandbox = raw
        .legacy_sandbox
        .map(validate_legacy_sandbox)
        .transpose()?;

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
        replay,
        inline_secrets,
        sandbox,
        legacy_sandbox,
    })
}

fn validate_legacy_sandbox(raw: raw::RawLegacySandbox) -> Result<LegacySandboxConfig, ConfigError> {
    let mut apps: Vec<LegacyApp> = Vec::new();
    for (i, a) in raw.apps.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.apps[{i}].{field}");
        require_text(&key("mch_no"), &a.mch_no)?;
        require_text(&key("app_id"), &a.app_id)?;
        if apps.iter().any(|o| o.app_id == a.app_id) {
            return Err(invalid(
                key("app_id"),
                format!("duplicate app `{}`", a.app_id),
            ));
        }
        let secret = resolve_secret(&key("secret"), a.secret)?;
        if secret.is_empty() {
            return Err(invalid(key("secret"), "must not be empty"));
        }
        apps.push(LegacyApp {
            mch_no: a.mch_no,
            app_id: a.app_id,
            secret,
        });
    }
    if apps.is_empty() {
        return Err(invalid("legacy_sandbox.apps", "at least one app is needed"));
    }
    let mut orders: Vec<LegacyOrder> = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    let mut seen_refs = std::collections::HashSet::new();
    for (i, o) in raw.orders.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.orders[{i}].{field}");
        require_text(&key("pay_order_id"), &o.pay_order_id)?;
        require_text(&key("mch_order_no"), &o.mch_order_no)?;
        if o.state > 6 {
            return Err(invalid(key("state"), "a Jeepay order state is 0 to 6"));
        }
        // Sets, not scans: a sandbox may hold hundreds of thousands of orders.
        if !seen_ids.insert(o.pay_order_id.clone())
            || !seen_refs.insert((o.mch_no.clone(), o.mch_order_no.clone()))
        {
            return Err(invalid(key("pay_order_id"), "duplicate legacy order"));
        }
        orders.push(LegacyOrder {
            pay_order_id: o.pay_order_id,
            mch_order_no: o.mch_order_no,
            mch_no: o.mch_no,
            state: o.state,
            empty_body: o.empty_body,
        });
    }
    Ok(LegacySandboxConfig {
        embedded: raw.embedded,
        listen: parse_addr(
            "legacy_sandbox.listen",
            raw.listen.as_deref(),
            "127.0.0.1:9191",
        )?,
        apps,
        orders,
    })
}

fn validate_sandbox(raw: raw::RawSandbox) -> Result<SandboxConfig, ConfigError> {
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
    let mut seen_ids = std::collections::HashSet::new();
    let mut seen_refs = std::collections::HashSet::new();
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
        orders.push(SandboxOrder {
            status: o
                .status
                .parse()
                .map_err(|e: String| invalid(key("status"), e))?,
            order_no: o.order_no,
            biz_order_no: o.biz_order_no,
            app_id: o.app_id,
            channel: o.channel.unwrap_or_else(|| "ali_pay".to_owned()),
            method: o.method.unwrap_or_else(|| "barcode".to_owned()),
            close_delay: Duration::from_millis(o.close_delay_ms),
            channel_fails: o.channel_fails,
        });
    }
    Ok(SandboxConfig {
        embedded: raw.embedded,
        listen: parse_addr("sandbox.listen", raw.listen.as_deref(), "127.0.0.1:9090")?,
        version,
        utc_offset: parse_offset("sandbox.utc_offset", raw.utc_offset.as_deref())?,
        req_time_window: match raw.req_time_window_secs {
            Some(0) => None,
            other => Some(Duration::from_secs(other.unwrap_or(300))),
        },
        sm3_is_md5: raw.sm3_is_md5,
        apps,
        orders,
    })
}

fn validate_replay(
    raw: raw::RawReplay,
    window: Option<Duration>,
) -> Result<ReplayConfig, ConfigError> {
    let store = match raw.store.as_deref().unwrap_or("memory") {
        "off" => ReplayStoreKind::Off,
        "memory" => ReplayStoreKind::Memory {
            max_entries: positive("replay.max_entries", raw.max_entries, 100_000)?,
        },
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            redis::Client::open(url)
                .map_err(|e| invalid("replay.store", format!("bad Redis URL: {e}")))?;
            ReplayStoreKind::Redis {
                url: url.to_owned(),
            }
        }
        other => {
            return Err(invalid(
                "replay.store",
                format!("`{other}` is not memory, off or a redis:// URL"),
            ))
        }
    };
    let fail_open = match raw.on_store_error.as_deref().unwrap_or("allow") {
        "allow" => true,
        "reject" => false,
        other => {
            return Err(invalid(
                "replay.on_store_error",
                format!("`{other}` is not allow or reject"),
            ))
        }
    };
    // Without a reqTime window a replay could come at any time: keep answers for 5 minutes.
    let ttl = match raw.ttl_secs {
        Some(0) => return Err(invalid("replay.ttl_secs", "must be at least 1")),
        Some(secs) => Duration::from_secs(secs),
        None => window.unwrap_or(Duration::from_secs(300)),
    };
    Ok(ReplayConfig {
        store,
        ttl,
        fail_open,
    })
}

/// 0 turns a window off.
fn window(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn positive(key: &str, value: Option<usize>, default: usize) -> Result<usize, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1")),
        n => Ok(n),
    }
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
}

/// A DaxPay identity field: required where the version sends it, refused where it does not.
fn identity_field(
    key: &str,
    value: Option<String>,
    used: bool,
    version: Version,
) -> Result<Option<String>, ConfigError> {
    match (value, used) {
        (Some(v), true) => {
            require_text(key, &v)?;
            if v.chars().count() > 32 {
                return Err(invalid(key, "at most 32 characters"));
            }
            Ok(Some(v))
        }
        (None, true) => Err(invalid(key, format!("required for DaxPay {version}"))),
        (Some(_), false) => Err(invalid(key, format!("DaxPay {version} has no such field"))),
        (None, false) => Ok(None),
    }
}

fn require_text(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn parse_enum<T: std::str::FromStr<Err = String>>(
    key: &str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    value.map_or(Ok(default), |v| v.parse().map_err(|e| invalid(key, e)))
}

fn parse_addr(key: &str, value: Option<&str>, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or(default);
    text.parse().map_err(|_| {
        invalid(
            key,
            format!("`{text}` is not an address like 127.0.0.1:8080"),
        )
    })
}

fn parse_offset(key: &str, value: Option<&str>) -> Result<UtcOffset, ConfigError> {
    let text = value.unwrap_or("+08:00");
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(text, &format)
        .map_err(|_| invalid(key, format!("`{text}` is not an offset like +08:00")))
}

fn millis(key: &str, value: Option<u64>, default: u64) -> Result<Duration, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1 ms")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

/// Connections to one upstream at most, unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;

fn parse_base_url(key: &str, text: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| invalid(key, format!("`{text}` is not a usable base URL: {why}"));
    let uri: Uri = text.parse().map_err(|_| bad("does not parse"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("it must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if uri.query().is_some() {
        return Err(bad("no query string allowed"));
    }
    // `user:password@` would be sent to the gateway in every `Host` header; secrets belong in
    // `secret` / the environment.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("no user or password allowed"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn read_roots(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| {
            invalid(
                key,
                format!("cannot read certificates from {}: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

fn resolve_secret(key: &str, raw: RawSecret) -> Result<Secret, ConfigError> {
    match raw {
        RawSecret::Inline(s) => Ok(Secret::new(s)),
        RawSecret::Env { env } => std::env::var(&env)
            .map(Secret::new)
            .map_err(|_| invalid(key, format!("environment variable `{env}` is not set"))),
        RawSecret::File { file } => std::fs::read_to_string(&file)
            .map(|s| Secret::new(s.trim_end_matches(['\r', '\n'])))
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", file.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_passwords_are_masked() {
        assert_eq!(
            mask_url("redis://:pw@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            mask_url("redis://user:pw@host/0"),
            "redis://user:***@host/0"
        );
        assert_eq!(mask_url("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn the_summary_masks_a_redis_password() {
        let config =
            Config::from_toml("[replay]\nstore = \"redis://:hunter2@127.0.0.1:6379/0\"\n").unwrap();
        let summary = config.summary();
        assert!(
            summary.contains("redis://:***@127.0.0.1:6379/0"),
            "{summary}"
        );
        assert!(!summary.contains("hunter2"));
    }

    #[test]
    fn base_urls_are_checked() {
        for (base_url, why) in [
            ("ftp://gw.example", "must start with http"),
            ("http://gw.example/x?y=1", "no query string"),
            ("http://user:hunter2@gw.example", "no user or password"),
            ("http://:hunter2@gw.example:8080", "no user or password"),
        ] {
            let err = parse_base_url("upstreams.dax.base_url", base_url).unwrap_err();
            assert!(err.to_string().contains(why), "{base_url}: {err}");
        }
        assert_eq!(
            parse_base_url("k", "https://gw.example:8443/daxpay/").unwrap(),
            "https://gw.example:8443/daxpay"
        );
    }
}
