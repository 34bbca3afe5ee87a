//! The route table: ordered rules deciding, per request, whether it is translated to DaxPay or
//! passed through untouched to a legacy Jeepay gateway.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use http::HeaderName;

use super::error::ConfigError;
use super::parse::invalid;
use super::raw::{RawRoute, RawRouting};
use super::upstreams::{LegacyUpstream, Upstream};

#[derive(Debug)]
pub struct Routing {
    pub rules: Vec<Rule>,
    /// What requests no rule matches get.
    pub default: Action,
    /// Honour `X-Paybridge-Route: translate|passthrough` (trusted callers only).
    pub override_header: bool,
}

/// A rule matches when every condition it states holds.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// Request paths; `None`: every path the action can serve.
    pub paths: Option<Vec<String>>,
    pub mch_no: Option<HashSet<String>>,
    pub app_id: Option<HashSet<String>>,
    pub header: Option<(HeaderName, String)>,
    pub action: Action,
}

#[derive(Debug)]
pub enum Action {
    /// Translate to DaxPay: the merchant's DaxPay identity, on `upstream` when the rule names one
    /// (else the identity's own upstream).
    Translate {
        upstream: Option<Arc<Upstream>>,
        /// On a verified "order does not exist", forward the original request here once.
        fallback: Option<Arc<LegacyUpstream>>,
        rollout: Option<Rollout>,
    },
    /// Forward byte for byte to a legacy gateway.
    Passthrough {
        upstream: Arc<LegacyUpstream>,
        /// On the legacy gateway's `订单不存在`, translate and try DaxPay once (this upstream,
        /// or the merchant identity's own when `fallback_to_identity`).
        fallback: Option<DaxTarget>,
        /// Build and sign the DaxPay request that would be sent, log it, send nothing.
        shadow: Option<DaxTarget>,
    },
}

/// A DaxPay upstream named by a rule, or "the merchant identity's own".
#[derive(Debug, Clone)]
pub enum DaxTarget {
    Named(Arc<Upstream>),
    MerchantIdentity,
}

/// A sticky share of merchants translated; the others pass through to `otherwise`.
#[derive(Debug)]
pub struct Rollout {
    /// 0 to 100, in hundredths.
    pub basis_points: u32,
    pub allow: HashSet<String>,
    pub deny: HashSet<String>,
    pub otherwise: Arc<LegacyUpstream>,
}

pub(super) fn validate(
    routing: RawRouting,
    routes: Vec<RawRoute>,
    dax: &BTreeMap<String, Arc<Upstream>>,
    legacy: &BTreeMap<String, Arc<LegacyUpstream>>,
) -> Result<Routing, ConfigError> {
    let mut rules = Vec::with_capacity(routes.len());
    for (i, raw) in routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let name = raw.name.clone().unwrap_or_else(|| format!("routes[{i}]"));
        let paths = match raw.paths.clone() {
            Some(p) if p.is_empty() => {
                return Err(invalid(format!("{key}.paths"), "must not be empty"))
            }
            Some(p) => {
                for path in &p {
                    if !path.starts_with('/') {
                        return Err(invalid(
                            format!("{key}.paths"),
                            format!("`{path}` must start with /"),
                        ));
                    }
                }
                Some(p)
            }
            None => None,
        };
        let set =
            |field: &str, v: Option<Vec<String>>| -> Result<Option<HashSet<String>>, ConfigError> {
                match v {
                    Some(list) if list.is_empty() => {
                        Err(invalid(format!("{key}.{field}"), "must not be empty"))
                    }
                    Some(list) => Ok(Some(list.into_iter().collect())),
                    None => Ok(None),
                }
            };
        let mch_no = set("mch_no", raw.mch_no.clone())?;
        let app_id = set("app_id", raw.app_id.clone())?;
        let header = match &raw.header {
            Some(h) => Some((
                HeaderName::try_from(h.name.as_str()).map_err(|_| {
                    invalid(
                        format!("{key}.header.name"),
                        format!("`{}` is not a header name", h.name),
                    )
                })?,
                h.value.clone(),
            )),
            None => None,
        };
        let action = action(&key, raw, dax, legacy)?;
        if let (Action::Translate { .. }, Some(paths)) = (&action, &paths) {
            if let Some(p) = paths.iter().find(|p| !crate::dispatch::translated(p)) {
                return Err(invalid(
                    format!("{key}.paths"),
                    format!("`{p}` cannot be translated (only /api/pay/close and /api/pay/cancel)"),
                ));
            }
        }
        rules.push(Rule {
            name,
            paths,
            mch_no,
            app_id,
            header,
            action,
        });
    }

    let default = match routing.default {
        Some(raw) => {
            if raw.paths.is_some()
                || raw.mch_no.is_some()
                || raw.app_id.is_some()
                || raw.header.is_some()
            {
                return Err(invalid(
                    "routing.default",
                    "the default rule matches everything: no conditions",
                ));
            }
            action("routing.default", raw, dax, legacy)?
        }
        // In front of one legacy gateway nothing changes until a rule says so: everything passes
        // through. With no legacy gateway at all, everything is translated.
        None => match legacy.len() {
            1 => Action::Passthrough {
                upstream: legacy
                    .values()
                    .next()
                    .cloned()
                    .ok_or_else(|| invalid("routing.default", "no legacy upstream"))?,
                fallback: None,
                shadow: None,
            },
            0 => Action::Translate {
                upstream: None,
                fallback: None,
                rollout: None,
            },
            _ => {
                return Err(invalid(
                    "routing.default",
                    "required with several legacy upstreams: say where unmatched requests go",
                ))
            }
        },
    };
    Ok(Routing {
        rules,
        default,
        override_header: routing.override_header,
    })
}

fn action(
    key: &str,
    raw: RawRoute,
    dax: &BTreeMap<String, Arc<Upstream>>,
    legacy: &BTreeMap<String, Arc<LegacyUpstream>>,
) -> Result<Action, ConfigError> {
    let find_dax = |field: &str, name: &str| {
        dax.get(name).cloned().ok_or_else(|| {
            invalid(
                format!("{key}.{field}"),
                format!("no DaxPay upstream `{name}`"),
            )
        })
    };
    let find_legacy = |field: &str, name: &str| {
        legacy.get(name).cloned().ok_or_else(|| {
            invalid(
                format!("{key}.{field}"),
                format!("no legacy upstream `{name}`"),
            )
        })
    };
    let dax_target =
        |field: &str, name: &Option<String>| -> Result<Option<DaxTarget>, ConfigError> {
            match name.as_deref() {
                None => Ok(None),
                Some("merchant") => Ok(Some(DaxTarget::MerchantIdentity)),
                Some(n) => find_dax(field, n).map(|u| Some(DaxTarget::Named(u))),
            }
        };
    match raw.action.as_str() {
        "translate" => {
            if raw.shadow.is_some() {
                return Err(invalid(
                    format!("{key}.shadow"),
                    "only a passthrough rule can shadow",
                ));
            }
            let upstream = raw
                .upstream
                .as_deref()
                .map(|n| find_dax("upstream", n))
                .transpose()?;
            let fallback = raw
                .fallback
                .as_deref()
                .map(|n| find_legacy("fallback", n))
                .transpose()?;
            let rollout = match (
                raw.rollout_percent,
                raw.deny.is_empty(),
                raw.allow.is_empty(),
            ) {
                (None, true, true) => {
                    if raw.otherwise.is_some() {
                        return Err(invalid(
                            format!("{key}.otherwise"),
                            "only used with rollout_percent, allow or deny",
                        ));
                    }
                    None
                }
                (percent, _, _) => {
                    let percent = percent.unwrap_or(100.0);
                    if !(0.0..=100.0).contains(&percent) || percent.is_nan() {
                        return Err(invalid(
                            format!("{key}.rollout_percent"),
                            "must be between 0 and 100",
                        ));
                    }
                    let otherwise = match (raw.otherwise.as_deref(), &fallback) {
                        (Some(n), _) => find_legacy("otherwise", n)?,
                        (None, Some(f)) => f.clone(),
                        (None, None) => {
                            return Err(invalid(
                                format!("{key}.otherwise"),
                                "a rollout needs the legacy upstream the other merchants pass through to",
                            ))
                        }
                    };
                    Some(Rollout {
                        basis_points: (percent * 100.0).round() as u32,
                        allow: raw.allow.into_iter().collect(),
                        deny: raw.deny.into_iter().collect(),
                        otherwise,
                    })
                }
            };
            Ok(Action::Translate {
                upstream,
                fallback,
                rollout,
            })
        }
        "passthrough" => {
            if raw.rollout_percent.is_some()
                || !raw.allow.is_empty()
                || !raw.deny.is_empty()
                || raw.otherwise.is_some()
            {
                return Err(invalid(
                    key,
                    "rollout_percent, allow, deny and otherwise belong to translate rules",
                ));
            }
            let name = raw.upstream.as_deref().ok_or_else(|| {
                invalid(
                    format!("{key}.upstream"),
                    "a passthrough rule names its legacy upstream",
                )
            })?;
            Ok(Action::Passthrough {
                upstream: find_legacy("upstream", name)?,
                fallback: dax_target("fallback", &raw.fallback)?,
                shadow: dax_target("shadow", &raw.shadow)?,
            })
        }
        other => Err(invalid(
            format!("{key}.action"),
            format!("unknown action `{other}` (expected translate or passthrough)"),
        )),
    }
}

impl Rule {
    /// One line for humans: conditions, then the action.
    pub fn describe(&self) -> String {
        let mut conditions = Vec::new();
        if let Some(p) = &self.paths {
            conditions.push(format!("path in {p:?}"));
        }
        if let Some(m) = &self.mch_no {
            conditions.push(format!("mchNo in {:?}", sorted(m)));
        }
        if let Some(a) = &self.app_id {
            conditions.push(format!("appId in {:?}", sorted(a)));
        }
        if let Some((name, value)) = &self.header {
            conditions.push(format!("header {name}: {value}"));
        }
        let when = if conditions.is_empty() {
            "always".to_owned()
        } else {
            conditions.join(" and ")
        };
        format!("when {when} → {}", self.action.describe())
    }
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Translate {
                upstream,
                fallback,
                rollout,
            } => {
                let mut s = format!(
                    "translate to {}",
                    upstream
                        .as_ref()
                        .map_or("the merchant's DaxPay upstream", |u| u.name.as_str())
                );
                if let Some(r) = rollout {
                    s.push_str(&format!(
                        " for {}% of merchants (allow {:?}, deny {:?}; others pass through to {})",
                        f64::from(r.basis_points) / 100.0,
                        sorted(&r.allow),
                        sorted(&r.deny),
                        r.otherwise.name
                    ));
                }
                if let Some(f) = fallback {
                    s.push_str(&format!(
                        ", falling back to {} when DaxPay has no such order",
                        f.name
                    ));
                }
                s
            }
            Action::Passthrough {
                upstream,
                fallback,
                shadow,
            } => {
                let mut s = format!("pass through to {}", upstream.name);
                if let Some(f) = fallback {
                    s.push_str(&format!(
                        ", falling back to DaxPay ({}) on 订单不存在",
                        f.describe()
                    ));
                }
                if let Some(t) = shadow {
                    s.push_str(&format!(
                        ", shadowing DaxPay ({}) without sending",
                        t.describe()
                    ));
                }
                s
            }
        }
    }
}

impl DaxTarget {
    /// The named upstream; `None`: the merchant identity's own.
    pub fn upstream(&self) -> Option<&Arc<Upstream>> {
        match self {
            DaxTarget::Named(u) => Some(u),
            DaxTarget::MerchantIdentity => None,
        }
    }

    pub fn describe(&self) -> &str {
        match self {
            DaxTarget::Named(u) => &u.name,
            DaxTarget::MerchantIdentity => "the merchant's own",
        }
    }
}

fn sorted(set: &HashSet<String>) -> Vec<&String> {
    let mut v: Vec<&String> = set.iter().collect();
    v.sort();
    v
}
