//! `paybridge check`'s second half: the stores a valid configuration names, connected to and
//! tried as `serve` will use them: the order store (`store::probe::diagnose`: reachable,
//! authenticated, database there, migrations can run, the role's rights) and a Redis replay
//! store (`replay::probe`). Each problem is one line, in the server's own words.

use super::output::emit;
use crate::config::{Config, ReplayStoreKind};

/// Prints what was verified; answers the problems, each prefixed with its store.
pub(super) async fn stores(config: &Config) -> Vec<String> {
    let url = &config.store.url;
    let (orders, replay) = tokio::join!(crate::store::probe::diagnose(url), replay_store(config));
    let mut problems = Vec::new();
    let name = format!("order store {url}");
    for line in &orders.verified {
        emit(&format!("{name}: {line}\n"));
    }
    problems.extend(orders.problems.iter().map(|p| format!("{name}: {p}")));
    match replay {
        Some((name, Ok(line))) => emit(&format!("{name}: {line}\n")),
        Some((name, Err(problem))) => problems.push(format!("{name}: {problem}")),
        None => {}
    }
    problems
}

/// The Redis replay store's check, when one is configured.
async fn replay_store(config: &Config) -> Option<(String, Result<String, String>)> {
    match &config.replay.store {
        ReplayStoreKind::Redis { url } => Some((
            format!("replay store {}", crate::secret::redact_userinfo(url)),
            crate::replay::probe::diagnose(url).await,
        )),
        // In the order store: checked with it (its migrations and rights).
        ReplayStoreKind::Orders | ReplayStoreKind::Memory { .. } | ReplayStoreKind::Off => None,
    }
}
