//! `[replay]`: where answers to signed requests are kept for idempotent replay.

use std::time::Duration;

use super::merchants::Merchants;
use super::parse::{invalid, positive};
use super::raw::RawReplay;
use super::ConfigError;

/// How long an entry outlives the moment its request stops being fresh (`reqTime` + the
/// merchant's window): clock steps, and the time between the freshness check and the claim.
pub const REPLAY_MARGIN: Duration = Duration::from_secs(5);

/// Idempotent replay of signed requests.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub store: ReplayStoreKind,
    /// How long an answer is kept at least, from its completion. A request with a `reqTime`
    /// window is kept longer when it would still be fresh then: until `reqTime` + its
    /// merchant's window + [`REPLAY_MARGIN`].
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
    merchants: &Merchants,
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
    let ttl = match raw.ttl_secs {
        Some(0) => return Err(invalid("replay.ttl_secs", "must be at least 1")),
        Some(secs) => Duration::from_secs(secs),
        None => window.unwrap_or(Duration::from_secs(300)),
    };
    // Without a reqTime window a signed request stays fresh for ever: how long it is
    // remembered (and so how long a replay of it is refused) is the operator's choice to write.
    if store != ReplayStoreKind::Off && raw.ttl_secs.is_none() {
        if let Some(m) = merchants.iter().find(|m| m.req_time_window.is_none()) {
            return Err(invalid(
                "replay.ttl_secs",
                format!(
                    "must be set: merchant app `{}` has no reqTime window (req_time_window_secs = 0), \
                     so its signed requests never stop being fresh and a replay could come at any time; \
                     set how long requests are remembered, or turn replay off (store = \"off\")",
                    m.app_id
                ),
            ));
        }
    }
    Ok(ReplayConfig {
        store,
        ttl,
        fail_open,
    })
}
