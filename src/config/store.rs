//! `[store]`: where the durable order store ([`crate::store::OrderStore`]) keeps the orders and
//! refunds paybridge created on DaxPay for its merchants.
//!
//! The URL is checked here once; a PostgreSQL URL may carry a password, so [`StoreUrl`]'s `Debug`
//! and `Display` show it as `***` and no error repeats it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::ConfigError;
use super::parse::invalid;
use super::raw::RawStore;

/// Used when `[store] url` is not written: a file beside the working directory.
pub const DEFAULT_STORE_URL: &str = "sqlite://data/paybridge.sqlite";

const KEY: &str = "store.url";

/// The durable order store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub url: StoreUrl,
}

/// A validated store URL: `sqlite://PATH`, `sqlite::memory:`, or `postgres://…`
/// (`postgresql://` too).
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl {
    target: StoreTarget,
    /// As written; may hold a password (only [`StoreUrl::expose`] returns it).
    text: String,
}

/// What a [`StoreUrl`] points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// A file, created on first use (relative paths from the working directory).
    SqliteFile(PathBuf),
    /// A private in-memory database (tests): gone with its store.
    SqliteMemory,
    /// A PostgreSQL server; the URL is [`StoreUrl::expose`].
    Postgres,
}

impl StoreUrl {
    /// Checks `text`; errors name `store.url` and never repeat a password.
    pub fn parse(text: &str) -> Result<StoreUrl, ConfigError> {
        let target = if text == "sqlite::memory:" {
            StoreTarget::SqliteMemory
        } else if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" {
                return Err(invalid(
                    KEY,
                    "a sqlite:// URL needs a file path (sqlite://data/paybridge.sqlite), \
                     or write sqlite::memory: for a throw-away store",
                ));
            }
            StoreTarget::SqliteFile(PathBuf::from(path))
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let config = tokio_postgres::Config::from_str(text).map_err(|e| {
                // tokio-postgres may quote the value: neither it nor the URL is repeated raw.
                invalid(
                    KEY,
                    format!(
                        "bad PostgreSQL URL ({}): {}",
                        redact(text),
                        crate::secret::redact_userinfo(&e.to_string())
                    ),
                )
            })?;
            if config.get_hosts().is_empty() {
                return Err(invalid(KEY, format!("`{}` names no host", redact(text))));
            }
            // Asked for, TLS would fail at every connect (paybridge has no TLS for PostgreSQL):
            // refused here, plainly, instead of an instance that starts and refuses every pay.
            if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
                return Err(invalid(
                    KEY,
                    format!(
                        "`{}` asks for TLS (sslmode=require), which paybridge does not speak to \
                         PostgreSQL: remove sslmode (or write sslmode=disable) and keep the server \
                         on localhost or a private network, or reach it through a TLS tunnel",
                        redact(text)
                    ),
                ));
            }
            StoreTarget::Postgres
        } else {
            let shown = if text.contains('@') {
                "(value not shown: it may hold a password)".to_owned()
            } else {
                format!("`{text}`")
            };
            return Err(invalid(
                KEY,
                format!("{shown} is not a sqlite://PATH, sqlite::memory: or postgres:// URL"),
            ));
        };
        Ok(StoreUrl {
            target,
            text: text.to_owned(),
        })
    }

    pub fn target(&self) -> &StoreTarget {
        &self.target
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match self.target {
            StoreTarget::SqliteFile(_) | StoreTarget::SqliteMemory => "sqlite",
            StoreTarget::Postgres => "postgres",
        }
    }

    /// The file of a `sqlite://` store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.target {
            StoreTarget::SqliteFile(path) => Some(path),
            _ => None,
        }
    }

    /// The URL as written, password included: for the connection only, never for a log.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.text))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", redact(&self.text))
    }
}

/// `text` with the password of its userinfo and any `password=` parameter replaced by `***`;
/// the user stays (it helps the operator and is not a secret).
fn redact(text: &str) -> String {
    let mut out = match (text.find("://"), text.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &text[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &text[..scheme_end + 3], &text[at..]),
                None => text.to_owned(),
            }
        }
        _ => text.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let query: Vec<String> = out[q + 1..]
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{}?{}", &out[..q], query.join("&"));
    }
    out
}

pub(super) fn validate(raw: RawStore) -> Result<StoreConfig, ConfigError> {
    let url = StoreUrl::parse(raw.url.as_deref().unwrap_or(DEFAULT_STORE_URL))?;
    Ok(StoreConfig { url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_by_scheme() {
        let url = StoreUrl::parse(DEFAULT_STORE_URL).unwrap();
        assert_eq!(url.kind(), "sqlite");
        assert_eq!(url.sqlite_path(), Some(Path::new("data/paybridge.sqlite")));
        assert_eq!(
            StoreUrl::parse("sqlite:///var/lib/pb.sqlite")
                .unwrap()
                .sqlite_path(),
            Some(Path::new("/var/lib/pb.sqlite"))
        );
        assert_eq!(
            StoreUrl::parse("sqlite::memory:").unwrap().target(),
            &StoreTarget::SqliteMemory
        );
        let pg = StoreUrl::parse("postgres://pb@127.0.0.1:5432/paybridge").unwrap();
        assert_eq!(pg.kind(), "postgres");
        assert_eq!(pg.to_string(), "postgres://pb@127.0.0.1:5432/paybridge");
    }

    #[test]
    fn bad_urls_name_the_key() {
        for text in ["mysql://h/db", "sqlite://", "", "data/paybridge.sqlite"] {
            let e = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(e.starts_with("store.url: "), "{text}: {e}");
        }
    }

    #[test]
    fn tls_asked_for_is_refused_plainly() {
        for text in [
            "postgres://pb:hunter2@db:5432/x?sslmode=require",
            "postgresql://pb@db/x?application_name=a&sslmode=require",
        ] {
            let e = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(e.starts_with("store.url: "), "{e}");
            assert!(e.contains("sslmode=require") && e.contains("TLS"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        for text in [
            "postgres://pb@db/x?sslmode=disable",
            "postgres://pb@db/x?sslmode=prefer",
        ] {
            assert!(StoreUrl::parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        let url = StoreUrl::parse("postgres://pb:hunter2@db:5432/x?password=hunter2").unwrap();
        for shown in [format!("{url}"), format!("{url:?}"), format!("{url:#?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("pb:***@db:5432/x"), "{shown}");
        }
        for text in [
            "postgres://pb:hunter2@db:notaport/x",
            "mysql://pb:hunter2@db/x",
            "pg//pb:hunter2@db/x",
        ] {
            let e = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{text}: {e}");
        }
    }
}
