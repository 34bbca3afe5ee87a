//! `[upstreams.NAME]`: the DaxPay gateways requests are translated to, and the legacy Jeepay
//! gateways requests are passed through to.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use time::UtcOffset;

use super::error::ConfigError;
use super::parse::{invalid, millis, parse_enum, parse_offset, resolve_secret, window};
use super::raw::RawUpstream;
use crate::dialect::daxpay::{Scheme, SignType, Version};
use crate::secret::Secret;

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

/// A DaxPay gateway that requests are translated to.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// `scheme://authority[/prefix]`, without a trailing slash.
    pub base_url: String,
    pub scheme: Scheme,
    pub secret: Option<Secret>,
    pub utc_offset: UtcOffset,
    /// How far a signed success's `resTime` may be from paybridge's clock (`None`: not checked).
    pub res_time_window: Option<Duration>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub forward_client_ip: bool,
    /// Extra trust roots for HTTPS (`ca_file`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub resilience: Resilience,
    /// DaxPay's age limit on requests: one older is rejected before anything is done, so a
    /// request whose outcome is unknown may be re-sent once it is this old (plus a margin,
    /// `replay::landing`). `None`: no limit is known; such a request is never re-sent.
    pub request_expiry: Option<Duration>,
}

/// DaxPay 2.0's `req_timeout` in its seed configuration (lifecycle-2.0.md §2.10).
pub const DAXPAY_2_0_REQ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Connections to one upstream at most, unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;

/// DaxPay upstreams and legacy gateways, each by name.
pub(super) type ByKind = (
    BTreeMap<String, Arc<Upstream>>,
    BTreeMap<String, Arc<LegacyUpstream>>,
);

/// `req_time_window`: the server's `reqTime` window, the default `resTime` window of DaxPay
/// answers (300 s when it is off: merchants' clocks say nothing of DaxPay's).
pub(super) fn validate(
    raw: BTreeMap<String, RawUpstream>,
    req_time_window: Option<Duration>,
) -> Result<ByKind, ConfigError> {
    let mut upstreams = BTreeMap::new();
    let mut legacy = BTreeMap::new();
    for (name, u) in raw {
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
                    ("res_time_window_secs", u.res_time_window_secs.is_some()),
                    ("request_expiry_secs", u.request_expiry_secs.is_some()),
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
            res_time_window: match u.res_time_window_secs {
                Some(secs) => window(secs),
                None => Some(req_time_window.unwrap_or(Duration::from_secs(300))),
            },
            timeout,
            connect_timeout,
            forward_client_ip: u.forward_client_ip,
            extra_roots,
            resilience,
            // 3.x checks a request's age only when the app enables it: only the operator knows.
            request_expiry: match (u.request_expiry_secs, version) {
                (Some(0), _) => None,
                (Some(secs), _) => Some(Duration::from_secs(secs)),
                (None, Version::V2_0) => Some(DAXPAY_2_0_REQ_TIMEOUT),
                (None, _) => None,
            },
            name: name.clone(),
        };
        upstreams.insert(name, Arc::new(upstream));
    }
    Ok((upstreams, legacy))
}

pub(super) fn parse_base_url(key: &str, text: &str) -> Result<String, ConfigError> {
    // The URL is quoted without any `user:password@`.
    let shown = crate::secret::redact_userinfo(text);
    let bad = |why: &str| invalid(key, format!("`{shown}` is not a usable base URL: {why}"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert_eq!(
            parse_base_url("k", "https://gw.example:8443/daxpay/").unwrap(),
            "https://gw.example:8443/daxpay"
        );
    }

    #[test]
    fn a_request_expiry_is_known_for_2_0_and_declared_for_3_x() {
        let expiry = |version: &str, secs: Option<u64>| {
            let mut raw: RawUpstream = serde_json::from_value(serde_json::json!({
                "base_url": "http://127.0.0.1:1",
                "version": version,
                "sign_type": "md5",
            }))
            .unwrap();
            raw.request_expiry_secs = secs;
            let (upstreams, _) = validate([("dax".to_owned(), raw)].into(), None).unwrap();
            upstreams["dax"].request_expiry
        };
        assert_eq!(expiry("2.0", None), Some(DAXPAY_2_0_REQ_TIMEOUT));
        assert_eq!(expiry("2.0", Some(0)), None);
        assert_eq!(expiry("3.0", None), None);
        assert_eq!(expiry("3.0", Some(60)), Some(Duration::from_secs(60)));
    }
}
