//! `[[merchants]]`: the merchant apps (Jeepay's, and epay's by `pid`) and the DaxPay identity
//! each is translated to.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::epay::{epay_mch_no, EpayMerchant};
use super::error::ConfigError;
use super::parse::{identity_field, invalid, order_prefix, require_text, resolve_secret, window};
use super::raw::RawMerchant;
use super::server::{ServerConfig, SuccessReply};
use super::upstreams::Upstream;
use crate::dialect::daxpay::Version;
use crate::dispatch::Dialect;
use crate::domain::way_code::{WayCodes, JEEPAY_WAY_CODES};
use crate::secret::Secret;

/// One merchant app and the DaxPay identity it is translated to.
///
/// An epay merchant is one too: its `mch_no` and `app_id` are `epay:<pid>` (a namespace no Jeepay
/// number shares), so that order rows, outbox jobs, replay keys and logs need no other key.
#[derive(Debug)]
pub struct Merchant {
    /// The dialect its requests are in.
    pub dialect: Dialect,
    /// epay merchants: the `pid`, the V2 public key, the pay-type table.
    pub epay: Option<EpayMerchant>,
    pub mch_no: String,
    pub app_id: String,
    pub secret: Secret,
    pub close_uses_cancel: bool,
    /// `/api/pay/cancel` is accepted from this app (a close's signature would otherwise also
    /// sign a cancel: the path is not signed).
    pub allow_cancel: bool,
    pub success: SuccessReply,
    /// The `reqTime` window for this app (its own, or the server's).
    pub req_time_window: Option<Duration>,
    pub daxpay: DaxIdentity,
    /// Which DaxPay channel and method each Jeepay way code is paid with.
    pub way_codes: WayCodes,
    /// The hosts this merchant's notify URLs may name, lower case (`None`: any). The guard
    /// against paybridge being made to post to internal addresses.
    pub notify_hosts: Option<Vec<String>>,
    /// Closed, cancelled and failed payments are notified too (as states 6, 4, 3).
    pub forward_failed_payments: bool,
    /// `[notify] allow_private_targets`: notify URLs may name internal addresses.
    pub notify_private_targets: bool,
}

impl DaxIdentity {
    /// A merchant number (`mchOrderNo`, `mchRefundNo`) in DaxPay's terms: a shared identity's
    /// prefix put before it.
    pub fn number(&self, own: &str) -> String {
        format!("{}{own}", self.order_prefix.as_deref().unwrap_or_default())
    }
}

impl Merchant {
    /// Whether a notify URL's host is one this merchant may be notified at.
    pub fn may_notify(&self, url: &str) -> bool {
        let Some(hosts) = &self.notify_hosts else {
            return true;
        };
        let host = url.parse::<http::Uri>().ok().and_then(|u| {
            u.host()
                .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        });
        host.is_some_and(|h| hosts.contains(&h))
    }

    /// Whether a notify URL names an internal address literally (loopback, private, NAT64 of
    /// one, …: `crate::address`), refused when the order is taken unless
    /// `[notify] allow_private_targets`. A host name is judged where it is resolved, at each
    /// delivery (`notify::guard`).
    pub fn notify_url_internal(&self, url: &str) -> bool {
        !self.notify_private_targets && crate::address::literal_internal(url)
    }
}

#[derive(Debug)]
pub struct DaxIdentity {
    pub upstream: Arc<Upstream>,
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub secret: Secret,
    /// Set when the identity is shared with other merchants (`daxpay.shared = true`): prepended
    /// to the merchant's order numbers, and required on every order paybridge acts on for it.
    pub order_prefix: Option<String>,
}

/// Merchant apps by `appId` (unique, as in Jeepay), plus the set of known `mchNo`s.
#[derive(Debug, Default)]
pub struct Merchants {
    by_app_id: HashMap<String, Arc<Merchant>>,
    /// epay merchants by `pid`.
    by_pid: HashMap<String, Arc<Merchant>>,
    mch_nos: HashMap<String, usize>,
    /// In configuration order (errors about them name `merchants[i]`).
    in_order: Vec<Arc<Merchant>>,
}

/// Why a (`mchNo`, `appId`) pair does not name a configured app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// Unknown `mchNo` or unknown `appId` (Jeepay: `商户或商户应用不存在`).
    Unknown,
    /// The app exists but belongs to another merchant (`参数appId与商户号不匹配`).
    AppOfAnotherMerchant,
}

impl Merchants {
    /// Jeepay's `queryMchInfoAndAppInfo` followed by its ownership check.
    pub fn lookup(&self, mch_no: &str, app_id: &str) -> Result<&Arc<Merchant>, LookupError> {
        let app = self.by_app_id.get(app_id).ok_or(LookupError::Unknown)?;
        if !self.mch_nos.contains_key(mch_no) {
            return Err(LookupError::Unknown);
        }
        if app.mch_no != mch_no {
            return Err(LookupError::AppOfAnotherMerchant);
        }
        Ok(app)
    }

    /// The epay merchant with this `pid`, as configured (epay reads `pid` with PHP's
    /// `intval`: the dialect normalises it before asking).
    pub fn by_pid(&self, pid: &str) -> Option<&Arc<Merchant>> {
        self.by_pid.get(pid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Merchant>> {
        self.by_app_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_app_id.len()
    }

    /// In configuration order.
    pub fn in_order(&self) -> &[Arc<Merchant>] {
        &self.in_order
    }

    pub fn is_empty(&self) -> bool {
        self.by_app_id.is_empty()
    }
}

pub(super) fn validate(
    raw: Vec<RawMerchant>,
    upstreams: &BTreeMap<String, Arc<Upstream>>,
    server: &ServerConfig,
    notify_private_targets: bool,
) -> Result<Merchants, ConfigError> {
    let mut merchants = Merchants::default();
    for (i, m) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("merchants[{i}].{field}");
        let dialect = match m.dialect.as_deref().unwrap_or("jeepay") {
            "jeepay" => Dialect::Jeepay,
            "epay" => Dialect::Epay,
            other => {
                return Err(invalid(
                    key("dialect"),
                    format!("`{other}` is not jeepay or epay"),
                ))
            }
        };
        let (mch_no, app_id, epay) = match dialect {
            Dialect::Jeepay => {
                require_text(&key("mch_no"), &m.mch_no)?;
                require_text(&key("app_id"), &m.app_id)?;
                for (field, given) in [
                    ("pid", m.pid.is_some()),
                    ("epay_public_key", m.epay_public_key.is_some()),
                    ("epay_way_codes", !m.epay_way_codes.is_empty()),
                ] {
                    if given {
                        return Err(invalid(key(field), "only for dialect = \"epay\""));
                    }
                }
                (m.mch_no, m.app_id, None)
            }
            Dialect::Epay => {
                for (field, given) in [("mch_no", &m.mch_no), ("app_id", &m.app_id)] {
                    if !given.is_empty() {
                        return Err(invalid(
                            key(field),
                            "an epay merchant is named by `pid` alone",
                        ));
                    }
                }
                let epay = super::epay::merchant(&key, m.pid, m.epay_public_key, m.epay_way_codes)?;
                let id = epay_mch_no(&epay.pid);
                (id.clone(), id, Some(epay))
            }
        };
        let secret = resolve_secret(&key("secret"), m.secret)?;
        if secret.is_empty() {
            return Err(invalid(key("secret"), "must not be empty"));
        }
        let upstream = upstreams.get(&m.daxpay.upstream).cloned().ok_or_else(|| {
            invalid(
                key("daxpay.upstream"),
                format!("unknown upstream `{}`", m.daxpay.upstream),
            )
        })?;
        let dax_secret = match m.daxpay.secret {
            Some(s) => resolve_secret(&key("daxpay.secret"), s)?,
            None => upstream.secret.clone().ok_or_else(|| {
                invalid(
                    key("daxpay.secret"),
                    format!("missing, and upstream `{}` has no secret", upstream.name),
                )
            })?,
        };
        if dax_secret.is_empty() {
            return Err(invalid(key("daxpay.secret"), "must not be empty"));
        }
        let version = upstream.version();
        let dax_mch_no = identity_field(
            &key("daxpay.mch_no"),
            m.daxpay.mch_no,
            version == Version::V3_0,
            version,
        )?;
        let dax_app_id = identity_field(
            &key("daxpay.app_id"),
            m.daxpay.app_id,
            version != Version::V2_0,
            version,
        )?;
        let order_prefix = order_prefix(&key("daxpay"), m.daxpay.shared, m.daxpay.order_prefix)?;
        let way_codes = way_codes(&key("way_codes"), m.way_codes, version)?;
        let notify_hosts = match m.notify_hosts {
            None => None,
            Some(hosts) => {
                if hosts
                    .iter()
                    .any(|h| h.trim().is_empty() || h.contains(['/', ':', '@']))
                {
                    return Err(invalid(
                        key("notify_hosts"),
                        "host names only (no scheme, port, path or user)",
                    ));
                }
                Some(
                    hosts
                        .iter()
                        .map(|h| h.trim().to_ascii_lowercase())
                        .collect(),
                )
            }
        };
        let merchant = Merchant {
            success: SuccessReply {
                code: m.success_code.unwrap_or(server.success.code),
                msg: m
                    .success_msg
                    .map_or_else(|| server.success.msg.clone(), Arc::from),
            },
            close_uses_cancel: m.close_uses_cancel,
            allow_cancel: m.allow_cancel,
            req_time_window: match m.req_time_window_secs {
                Some(secs) => window(secs),
                None => server.req_time_window,
            },
            secret,
            daxpay: DaxIdentity {
                upstream,
                mch_no: dax_mch_no,
                app_id: dax_app_id,
                secret: dax_secret,
                order_prefix,
            },
            way_codes,
            notify_hosts,
            forward_failed_payments: m.forward_failed_payments,
            notify_private_targets,
            dialect,
            epay,
            mch_no,
            app_id,
        };
        if merchants.by_app_id.contains_key(&merchant.app_id) {
            return Err(invalid(
                key("app_id"),
                format!("duplicate merchant app `{}`", merchant.app_id),
            ));
        }
        *merchants
            .mch_nos
            .entry(merchant.mch_no.clone())
            .or_default() += 1;
        let merchant = Arc::new(merchant);
        if let Some(epay) = &merchant.epay {
            if merchants
                .by_pid
                .insert(epay.pid.clone(), merchant.clone())
                .is_some()
            {
                return Err(invalid(
                    key("pid"),
                    format!("duplicate epay merchant `{}`", epay.pid),
                ));
            }
        }
        merchants.in_order.push(merchant.clone());
        merchants
            .by_app_id
            .insert(merchant.app_id.clone(), merchant);
    }
    Ok(merchants)
}

/// `way_codes`: Jeepay way codes routed to `"channel/method"` (DaxPay codes: lower case, digits
/// and `_`, at most what the upstream's `PayParam` takes: 32 characters in 3.0, 20 before).
fn way_codes(
    key: &str,
    raw: BTreeMap<String, String>,
    version: Version,
) -> Result<WayCodes, ConfigError> {
    let max = match version {
        Version::V3_0 => 32,
        Version::V3_0Beta | Version::V2_0 => 20,
    };
    let code = |s: &str| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let mut routes = BTreeMap::new();
    for (way_code, target) in raw {
        if !JEEPAY_WAY_CODES.contains(&way_code.as_str()) || way_code == "AUTO_BAR" {
            return Err(invalid(
                format!("{key}.{way_code}"),
                "not a Jeepay way code (AUTO_BAR follows the bar code's own)",
            ));
        }
        match target.split_once('/') {
            Some((channel, method)) if code(channel) && code(method) => {
                routes.insert(way_code, (channel.to_owned(), method.to_owned()));
            }
            _ => {
                return Err(invalid(
                    format!("{key}.{way_code}"),
                    format!(
                        "`{target}` is not \"channel/method\" (e.g. \"alipay_isv/jsapi\"; \
                         lower case, digits and _, at most {max} characters each)"
                    ),
                ))
            }
        }
    }
    Ok(WayCodes::new(routes))
}
