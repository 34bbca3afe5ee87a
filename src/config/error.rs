//! How a configuration can be wrong: every error names the offending key, and none repeats a
//! URL's user or password.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    // Never repeats a URL's user or password (figment and the parsers may quote a value).
    #[error("{}", crate::secret::redact_userinfo(&.0.to_string()))]
    Syntax(Box<figment::Error>),
    #[error("{key}: {}", crate::secret::redact_userinfo(reason))]
    Invalid { key: String, reason: String },
}
