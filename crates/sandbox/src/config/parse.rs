//! Small parsers shared by both sections; each error names the key.

use std::net::SocketAddr;

use time::format_description::BorrowedFormatItem;
use time::{PrimitiveDateTime, UtcOffset};

use super::raw::RawSecret;
use super::ConfigError;
use crate::secret::Secret;
use crate::sign::daxpay::Version;

/// `yyyy-MM-dd HH:mm:ss`, DaxPay's wall-clock format.
pub(crate) const WALL_CLOCK: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

pub(crate) fn require_text(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

pub(crate) fn parse_enum<T: std::str::FromStr<Err = String>>(
    key: &str,
    value: Option<&str>,
    default: T,
) -> Result<T, ConfigError> {
    value.map_or(Ok(default), |v| v.parse().map_err(|e| invalid(key, e)))
}

pub(crate) fn parse_addr(
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

pub(crate) fn parse_offset(key: &str, value: Option<&str>) -> Result<UtcOffset, ConfigError> {
    let text = value.unwrap_or("+08:00");
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(text, &format)
        .map_err(|_| invalid(key, format!("`{text}` is not an offset like +08:00")))
}

pub(crate) fn parse_wall_clock(key: &str, text: &str) -> Result<PrimitiveDateTime, ConfigError> {
    PrimitiveDateTime::parse(text, WALL_CLOCK).map_err(|_| {
        invalid(
            key,
            format!("`{text}` is not a time like 2025-09-01 12:00:05"),
        )
    })
}

/// A DaxPay identity field: required where the version sends it, refused where it does not.
pub(crate) fn identity_field(
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

pub(crate) fn resolve_secret(key: &str, raw: RawSecret) -> Result<Secret, ConfigError> {
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
