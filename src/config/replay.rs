//! `[replay]`: where answers to signed requests are kept for idempotent replay: the order store
//! by default (`orders`), Redis, memory (forgets on restart), or off.

use std::time::Duration;

use super::error::ConfigError;
use super::merchants::Merchants;
use super::parse::{invalid, positive};
use super::raw::RawReplay;

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
    /// How long an in-flight claim holds in a shared store (the order store, Redis) without
    /// being renewed: the claim of an instance that died is taken over after at most this.
    pub claim_lease: Duration,
}

/// The claim lease unless configured: short enough that a dead instance's claim is taken over
/// within seconds, long enough for three renewals to fail first.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(8);

#[derive(Clone, PartialEq, Eq)]
pub enum ReplayStoreKind {
    Off,
    /// The order store (`[store]`): survives restarts; shared on PostgreSQL. The default.
    Orders,
    Memory {
        max_entries: usize,
    },
    /// The URL may carry a password: `Debug` shows it as `***`.
    Redis {
        url: String,
    },
}

impl std::fmt::Debug for ReplayStoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayStoreKind::Off => f.write_str("Off"),
            ReplayStoreKind::Orders => f.write_str("Orders"),
            ReplayStoreKind::Memory { max_entries } => f
                .debug_struct("Memory")
                .field("max_entries", max_entries)
                .finish(),
            ReplayStoreKind::Redis { url } => f
                .debug_struct("Redis")
                .field("url", &crate::secret::redact_userinfo(url))
                .finish(),
        }
    }
}

pub(super) fn validate(
    raw: RawReplay,
    window: Option<Duration>,
    merchants: &Merchants,
) -> Result<ReplayConfig, ConfigError> {
    let store = match raw.store.as_deref().unwrap_or("orders") {
        "off" => ReplayStoreKind::Off,
        "orders" => ReplayStoreKind::Orders,
        "memory" => ReplayStoreKind::Memory {
            max_entries: positive("replay.max_entries", raw.max_entries, 100_000)?,
        },
        // The redis client is built without TLS: say so, rather than promise it and fail later.
        url if url.starts_with("rediss://") => {
            return Err(invalid(
                "replay.store",
                format!(
                    "`{}` asks for TLS, which paybridge does not speak to Redis: use a redis:// \
                     URL on a private network (or the order store, the default)",
                    shown(url)
                ),
            ))
        }
        url if url.starts_with("redis://") => {
            redis::Client::open(url).map_err(|e| {
                // Neither the URL nor redis's words about it are repeated: either may hold the
                // password.
                let words = crate::secret::redact_userinfo(&e.to_string());
                invalid(
                    "replay.store",
                    format!("bad Redis URL ({}): {words}", shown(url)),
                )
            })?;
            ReplayStoreKind::Redis {
                url: url.to_owned(),
            }
        }
        other => {
            return Err(invalid(
                "replay.store",
                format!(
                    "`{}` is not orders, memory, off or a redis:// URL",
                    shown(other)
                ),
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
    let claim_lease = match raw.claim_lease_ms {
        None => DEFAULT_CLAIM_LEASE,
        Some(ms) if ms < 300 => {
            return Err(invalid(
                "replay.claim_lease_ms",
                "must be at least 300 (it is renewed every third of it)",
            ))
        }
        Some(ms) => Duration::from_millis(ms),
    };
    Ok(ReplayConfig {
        store,
        ttl,
        fail_open,
        claim_lease,
    })
}

/// A store setting as it may be quoted in an error: any userinfo masked, and a value with an `@`
/// but no scheme (a mistyped URL) not quoted at all.
fn shown(value: &str) -> String {
    if value.contains('@') && !value.contains("://") {
        "(value not shown: it may hold a password)".to_owned()
    } else {
        crate::secret::redact_userinfo(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_never_repeat_a_password() {
        for store in [
            "redis//:hunter2@r:6379",
            "redis://:hunter2@r:notaport",
            "redis://u:hunter2@[::1",
            "memcached://u:hunter2@m",
        ] {
            let raw = RawReplay {
                store: Some(store.to_owned()),
                ..RawReplay::default()
            };
            if let Err(e) = validate(raw, None, &Default::default()) {
                assert!(!e.to_string().contains("hunter2"), "{store}: {e}");
            }
        }
        let kind = ReplayStoreKind::Redis {
            url: "redis://:hunter2@r:6379".to_owned(),
        };
        assert!(!format!("{kind:?}").contains("hunter2"));
    }

    #[test]
    fn tls_to_redis_is_refused_plainly() {
        let raw = RawReplay {
            store: Some("rediss://:hunter2@r:6379".to_owned()),
            ..RawReplay::default()
        };
        let err = validate(raw, None, &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("replay.store") && err.contains("TLS"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_order_store_is_the_default_and_a_lease_is_long_enough_to_renew() {
        let window = Some(Duration::from_secs(300));
        let config = validate(RawReplay::default(), window, &Default::default()).unwrap();
        assert_eq!(config.store, ReplayStoreKind::Orders);
        assert_eq!(config.claim_lease, DEFAULT_CLAIM_LEASE);
        let memory = RawReplay {
            store: Some("memory".to_owned()),
            claim_lease_ms: Some(300),
            ..RawReplay::default()
        };
        let config = validate(memory, window, &Default::default()).unwrap();
        assert!(matches!(config.store, ReplayStoreKind::Memory { .. }));
        assert_eq!(config.claim_lease, Duration::from_millis(300));
        let short = RawReplay {
            claim_lease_ms: Some(299),
            ..RawReplay::default()
        };
        assert!(validate(short, window, &Default::default()).is_err());
    }
}
