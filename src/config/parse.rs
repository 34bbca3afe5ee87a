//! Small parsers shared by the sections; each error names the key.

use std::net::SocketAddr;
use std::time::Duration;

use time::UtcOffset;

use super::error::ConfigError;
use super::raw::RawSecret;
use crate::dialect::daxpay::Version;
use crate::secret::Secret;

pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// 0 turns a window off.
pub(super) fn window(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

pub(super) fn positive(
    key: &str,
    value: Option<usize>,
    default: usize,
) -> Result<usize, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1")),
        n => Ok(n),
    }
}

/// A DaxPay identity field: required where the version sends it, refused where it does not.
pub(super) fn identity_field(
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

pub(super) fn require_text(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

pub(super) fn parse_enum<T: std::str::FromStr<Err = String>>(
    key: &str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    value.map_or(Ok(default), |v| v.parse().map_err(|e| invalid(key, e)))
}

pub(super) fn parse_addr(
    key: &str,
    value: Option<&str>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or(default);
    text.parse().map_err(|_| {
        invalid(
            key,
            format!("`{text}` is not an address like 127.0.0.1:8080"),
        )
    })
}

pub(super) fn parse_offset(key: &str, value: Option<&str>) -> Result<UtcOffset, ConfigError> {
    let text = value.unwrap_or("+08:00");
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(text, &format)
        .map_err(|_| invalid(key, format!("`{text}` is not an offset like +08:00")))
}

pub(super) fn millis(key: &str, value: Option<u64>, default: u64) -> Result<Duration, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(invalid(key, "must be at least 1 ms")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

pub(super) fn resolve_secret(key: &str, raw: RawSecret) -> Result<Secret, ConfigError> {
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

/// `+08:00`, as written in the configuration.
pub fn offset_text(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// The longest prefix: Jeepay's `mchOrderNo` (≤ 64) plus it stays within DaxPay's `bizOrderNo`
/// (≤ 100).
const MAX_PREFIX: usize = 32;

/// A merchant's validated `order_prefix`: set exactly when `shared` is.
pub(super) fn order_prefix(
    key: &str,
    shared: bool,
    prefix: Option<String>,
) -> Result<Option<String>, ConfigError> {
    let key = format!("{key}.order_prefix");
    match (shared, prefix) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(invalid(
            key,
            "only used on a shared DaxPay identity: set daxpay.shared = true too",
        )),
        (true, None) => Err(invalid(
            key,
            "required with daxpay.shared = true (each merchant on the identity has its own)",
        )),
        (true, Some(p)) => {
            if p.is_empty()
                || p.len() > MAX_PREFIX
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(invalid(
                    key,
                    format!("1 to {MAX_PREFIX} characters of A-Z, a-z, 0-9, _ and -"),
                ));
            }
            Ok(Some(p))
        }
    }
}
