//! Small parsers shared by the sections; each error names the key.

use std::net::SocketAddr;
use std::time::Duration;

use time::UtcOffset;

use super::raw::RawSecret;
use super::ConfigError;
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
