//! `[replay]`: where answers to signed requests are kept for idempotent replay.

use std::time::Duration;

use super::parse::{invalid, positive};
use super::raw::RawReplay;
use super::ConfigError;

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

pub(super) fn validate(
    raw: RawReplay,
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
