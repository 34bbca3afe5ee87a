//! Route decisions: which rule a request matches, and what it does with it.
//!
//! Pure and allocation-free on the request path (reasons are collected only when explaining,
//! for `paybridge route`).

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{Action, DaxTarget, LegacyUpstream, Routing, Upstream};

/// The header a trusted caller may use to force an action.
pub const OVERRIDE_HEADER: &str = "x-paybridge-route";

/// What to do with one request.
#[derive(Debug, Clone, Copy)]
pub enum Route<'r> {
    Translate {
        /// The rule's DaxPay upstream; `None`: the merchant identity's own.
        upstream: Option<&'r std::sync::Arc<Upstream>>,
        fallback: Option<&'r std::sync::Arc<LegacyUpstream>>,
    },
    Passthrough {
        upstream: &'r std::sync::Arc<LegacyUpstream>,
        fallback: Option<&'r DaxTarget>,
        shadow: Option<&'r DaxTarget>,
    },
}

#[derive(Debug)]
pub struct Decision<'r> {
    /// The index of the matching rule; `None`: the default rule.
    pub rule: Option<usize>,
    pub rule_name: &'r str,
    pub route: Route<'r>,
    /// Why, in words (only when asked to explain).
    pub reasons: Vec<String>,
}

/// What the router knows of a request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub path: &'a str,
    pub mch_no: Option<&'a str>,
    pub app_id: Option<&'a str>,
    /// epay's merchant id.
    pub pid: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// The sticky rollout bucket of a merchant, 0..10000: a stable hash of `mchNo`, so a merchant
/// never flips between restarts, reloads or instances.
pub fn rollout_bucket(mch_no: &str) -> u32 {
    let digest = Sha256::digest(mch_no.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 10_000) as u32
}

pub fn decide<'r>(routing: &'r Routing, facts: &Facts<'_>, explain: bool) -> Decision<'r> {
    let mut reasons = Vec::new();
    let translatable = crate::dispatch::translated(facts.path);
    let mut found = None;
    for (i, rule) in routing.rules.iter().enumerate() {
        let path_ok = match &rule.paths {
            Some(paths) => paths.iter().any(|p| p == facts.path),
            None => translatable || matches!(rule.action, Action::Passthrough { .. }),
        };
        let in_set =
            |set: &Option<std::collections::HashSet<String>>, value: Option<&str>| match set {
                None => true,
                Some(set) => value.is_some_and(|v| set.contains(v)),
            };
        let mch_ok = in_set(&rule.mch_no, facts.mch_no);
        let app_ok = in_set(&rule.app_id, facts.app_id);
        let header_ok = rule.header.as_ref().is_none_or(|(name, value)| {
            facts.headers.get(name).and_then(|v| v.to_str().ok()) == Some(value.as_str())
        });
        if explain {
            reasons.push(format!(
                "rule {i} `{}`: path {}, mchNo {}, appId {}, header {}",
                rule.name,
                yes_no(path_ok),
                yes_no(mch_ok),
                yes_no(app_ok),
                yes_no(header_ok)
            ));
        }
        if path_ok && mch_ok && app_ok && header_ok {
            found = Some(i);
            break;
        }
    }
    let (action, rule_name) = match found {
        Some(i) => (&routing.rules[i].action, routing.rules[i].name.as_str()),
        None => {
            if explain {
                reasons.push("no rule matched: the default rule applies".to_owned());
            }
            (&routing.default, "default")
        }
    };
    let mut route = resolve(action, facts, explain.then_some(&mut reasons));
    if routing.override_header {
        route = apply_override(
            route,
            action,
            routing,
            facts,
            translatable,
            explain.then_some(&mut reasons),
        );
    }
    // A translation is possible only for the paths paybridge translates.
    if let (Route::Translate { .. }, false) = (&route, translatable) {
        if explain {
            reasons.push(format!("{} is not translated by paybridge", facts.path));
        }
    }
    Decision {
        rule: found,
        rule_name,
        route,
        reasons,
    }
}

/// Whether some request on `path` may be translated (or sent to DaxPay as a fallback) by this
/// routing, whatever its mchNo, appId, headers or rollout bucket: a path paybridge translates,
/// and a rule (or the default) covering it that translates, or passes through with a fallback
/// to DaxPay; with the override header honoured, every path paybridge translates.
///
/// Deliberately blind to the request: a request whose parameters cannot be read has no mchNo or
/// appId to match, so on such a path it is answered by paybridge and never routed by default.
pub fn may_translate(routing: &Routing, path: &str) -> bool {
    if !crate::dispatch::translated(path) {
        return false;
    }
    let reaches_daxpay = |action: &Action| match action {
        Action::Translate { .. } => true,
        Action::Passthrough { fallback, .. } => fallback.is_some(),
    };
    routing.override_header
        || reaches_daxpay(&routing.default)
        || routing.rules.iter().any(|rule| {
            reaches_daxpay(&rule.action)
                && rule
                    .paths
                    .as_ref()
                    .is_none_or(|paths| paths.iter().any(|p| p == path))
        })
}

fn resolve<'r>(
    action: &'r Action,
    facts: &Facts<'_>,
    reasons: Option<&mut Vec<String>>,
) -> Route<'r> {
    match action {
        Action::Passthrough {
            upstream,
            fallback,
            shadow,
        } => Route::Passthrough {
            upstream,
            fallback: fallback.as_ref(),
            shadow: shadow.as_ref(),
        },
        Action::Translate {
            upstream,
            fallback,
            rollout,
        } => {
            let translate = Route::Translate {
                upstream: upstream.as_ref(),
                fallback: fallback.as_ref(),
            };
            let Some(rollout) = rollout else {
                return translate;
            };
            let others = Route::Passthrough {
                upstream: &rollout.otherwise,
                fallback: None,
                shadow: None,
            };
            let Some(mch_no) = facts.mch_no else {
                note(
                    reasons,
                    "rollout: no mchNo in the request, so it passes through".to_owned(),
                );
                return others;
            };
            if rollout.deny.contains(mch_no) {
                note(reasons, format!("rollout: {mch_no} is denied"));
                return others;
            }
            if rollout.allow.contains(mch_no) {
                note(reasons, format!("rollout: {mch_no} is allowed"));
                return translate;
            }
            let bucket = rollout_bucket(mch_no);
            let chosen = bucket < rollout.basis_points;
            note(
                reasons,
                format!(
                    "rollout: {mch_no} is in bucket {:.2}%, {} the first {:.2}%",
                    f64::from(bucket) / 100.0,
                    if chosen { "inside" } else { "outside" },
                    f64::from(rollout.basis_points) / 100.0
                ),
            );
            if chosen {
                translate
            } else {
                others
            }
        }
    }
}

fn apply_override<'r>(
    route: Route<'r>,
    action: &'r Action,
    routing: &'r Routing,
    facts: &Facts<'_>,
    translatable: bool,
    reasons: Option<&mut Vec<String>>,
) -> Route<'r> {
    let wanted = facts
        .headers
        .get(OVERRIDE_HEADER)
        .and_then(|v| v.to_str().ok());
    match (wanted, route) {
        (
            Some("translate"),
            Route::Passthrough {
                fallback, shadow, ..
            },
        ) if translatable => {
            note(reasons, "X-Paybridge-Route: translate".to_owned());
            let upstream = match fallback.or(shadow) {
                Some(DaxTarget::Named(u)) => Some(u),
                _ => None,
            };
            Route::Translate {
                upstream,
                fallback: None,
            }
        }
        (Some("passthrough"), Route::Translate { fallback, .. }) => {
            let legacy = fallback.or(match action {
                Action::Translate {
                    rollout: Some(r), ..
                } => Some(&r.otherwise),
                _ => None,
            });
            let legacy = legacy.or(match &routing.default {
                Action::Passthrough { upstream, .. } => Some(upstream),
                Action::Translate { .. } => None,
            });
            match legacy {
                Some(upstream) => {
                    note(reasons, "X-Paybridge-Route: passthrough".to_owned());
                    Route::Passthrough {
                        upstream,
                        fallback: None,
                        shadow: None,
                    }
                }
                None => {
                    note(
                        reasons,
                        "X-Paybridge-Route: passthrough ignored: no legacy upstream for this rule"
                            .to_owned(),
                    );
                    route
                }
            }
        }
        _ => route,
    }
}

fn note(reasons: Option<&mut Vec<String>>, reason: String) {
    if let Some(r) = reasons {
        r.push(reason);
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "matches"
    } else {
        "does not match"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(rollout_bucket("M1623984572"), rollout_bucket("M1623984572"));
        let below_half = (0..1000)
            .filter(|i| rollout_bucket(&format!("M{i}")) < 5000)
            .count();
        assert!((400..600).contains(&below_half), "{below_half}");
    }
}
