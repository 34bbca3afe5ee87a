//! Hot reload: on SIGHUP, on a change of the configuration file, or on `POST /admin/reload`.
//!
//! The new configuration is parsed and validated in full; only a valid one replaces the old,
//! atomically (requests in flight finish on the configuration they started with). An invalid
//! one is logged and the old one keeps serving. Listener addresses and the side services (the
//! binary's embedded sandboxes, asked through [`Sides::restart_only`]) are bound at start-up: a
//! change to them is reported as needing a restart.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::proxy::Gateway;
use crate::side::{NoSides, Sides};

pub struct Reloader {
    path: PathBuf,
    gateway: Gateway,
    /// The file's bytes at the last load, to notice changes by polling.
    seen: Mutex<Option<Vec<u8>>>,
    sides: &'static dyn Sides,
    /// The side services' start-up settings as last loaded.
    side_settings: Mutex<Vec<(&'static str, String)>>,
}

impl Reloader {
    pub fn new(path: PathBuf, gateway: Gateway) -> Arc<Self> {
        Self::with_sides(path, gateway, &NoSides)
    }

    /// A reloader that also reports changes to the side services' start-up settings.
    pub fn with_sides(path: PathBuf, gateway: Gateway, sides: &'static dyn Sides) -> Arc<Self> {
        let seen = std::fs::read(&path).ok();
        let side_settings = sides.restart_only(&path);
        Arc::new(Reloader {
            path,
            gateway,
            seen: Mutex::new(seen),
            sides,
            side_settings: Mutex::new(side_settings),
        })
    }

    /// Loads, validates and (when valid) activates the configuration file.
    pub fn reload(&self, trigger: &'static str) -> Result<(), ConfigError> {
        let bytes = std::fs::read(&self.path).ok();
        match Config::load(&self.path) {
            Ok(new) => {
                let old = self.gateway.config();
                let mut changed = restart_needed(&old, &new);
                changed.extend(self.side_changes());
                if !changed.is_empty() {
                    tracing::warn!(keys = ?changed, "these settings take effect only after a restart");
                }
                self.gateway.reload(Arc::new(new));
                if let Ok(mut seen) = self.seen.lock() {
                    *seen = bytes;
                }
                tracing::info!(
                    trigger,
                    path = crate::telemetry::text(&self.path.display()).as_str(),
                    "configuration reloaded"
                );
                metrics::counter!("paybridge_reloads_total", "outcome" => "applied").increment(1);
                Ok(())
            }
            Err(error) => {
                if let Ok(mut seen) = self.seen.lock() {
                    // Do not retry the same broken file every poll; a new edit is noticed.
                    *seen = bytes;
                }
                tracing::error!(
                    trigger,
                    path = crate::telemetry::text(&self.path.display()).as_str(),
                    error = crate::telemetry::text(&error).as_str(),
                    "configuration rejected; still serving the previous one"
                );
                metrics::counter!("paybridge_reloads_total", "outcome" => "rejected").increment(1);
                Err(error)
            }
        }
    }

    /// Reloads on every SIGHUP, until the process ends.
    pub async fn on_sighup(self: Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload by file change or admin endpoint");
                return;
            };
            while hangups.recv().await.is_some() {
                let _ = self.reload("sighup");
            }
        }
    }

    /// Polls the file every `interval` and reloads when its bytes change.
    pub async fn on_file_change(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = std::fs::read(&self.path).ok();
            let changed = self.seen.lock().map(|seen| *seen != now).unwrap_or(false);
            if changed && now.is_some() {
                let _ = self.reload("file_change");
            }
        }
    }
}

impl Reloader {
    /// The side services' start-up settings that differ from the last load.
    fn side_changes(&self) -> Vec<&'static str> {
        let now = self.sides.restart_only(&self.path);
        let Ok(mut last) = self.side_settings.lock() else {
            return Vec::new();
        };
        let changed = now
            .iter()
            .filter(|setting| !last.contains(setting))
            .chain(last.iter().filter(|setting| !now.contains(setting)))
            .map(|(name, _)| *name)
            .fold(Vec::new(), |mut names, name| {
                if !names.contains(&name) {
                    names.push(name);
                }
                names
            });
        *last = now;
        changed
    }
}

fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.server.listen != new.server.listen {
        changed.push("server.listen");
    }
    if old.admin_listen != new.admin_listen {
        changed.push("admin.listen");
    }
    let limits = |c: &Config| {
        (
            c.server.max_connections,
            c.server.max_in_flight,
            c.server.header_read_timeout,
        )
    };
    if limits(old) != limits(new) {
        changed.push("server.max_connections / max_in_flight / header_read_timeout_ms");
    }
    if old.replay.store != new.replay.store {
        changed.push("replay.store");
    }
    if old.store.url != new.store.url {
        changed.push("store.url");
    }
    if (&old.log_level, old.log_json) != (&new.log_level, new.log_json) {
        changed.push("log");
    }
    changed
}
