//! The `[legacy_sandbox]` section: the legacy Jeepay gateway, its apps and its orders (the epay
//! gateway's merchants and orders in [`super::legacy_epay`]).

use std::collections::HashSet;
use std::net::SocketAddr;

use super::legacy_epay::{self, EpayMerchant, EpayOrder};
use super::parse::{invalid, parse_addr, require_text, resolve_secret};
use super::raw::RawLegacySandbox;
use super::ConfigError;
use crate::secret::Secret;

/// The stand-in for a legacy Jeepay gateway (the passthrough target).
#[derive(Debug, Clone)]
pub struct LegacySandboxConfig {
    /// Run inside `paybridge serve`, beside the proxy.
    pub embedded: bool,
    pub listen: SocketAddr,
    pub apps: Vec<LegacyApp>,
    pub orders: Vec<LegacyOrder>,
    /// The legacy epay gateway's merchants (served at `mapi.php`, `submit.php`, `api.php`).
    pub epay_merchants: Vec<EpayMerchant>,
    pub epay_orders: Vec<EpayOrder>,
}

#[derive(Debug, Clone)]
pub struct LegacyApp {
    pub mch_no: String,
    pub app_id: String,
    pub secret: Secret,
}

/// A Jeepay pay order. `state`: 0 created, 1 paying, 2 success, 3 failed, 4 cancelled,
/// 5 refunded, 6 closed.
#[derive(Debug, Clone)]
pub struct LegacyOrder {
    pub pay_order_id: String,
    pub mch_order_no: String,
    pub mch_no: String,
    pub state: u8,
    /// Jeepay's quirk on demand: closing this order answers HTTP 200 with an empty body.
    pub empty_body: bool,
    /// The order's amount in fen (what a refund may take back).
    pub amount: u64,
    /// How much has been refunded, in fen (successful refunds only).
    pub refunded: u64,
    /// `wayCode` (reported by nothing yet; kept for unified orders).
    pub way_code: Option<String>,
}

pub(super) fn validate(raw: RawLegacySandbox) -> Result<LegacySandboxConfig, ConfigError> {
    let mut apps: Vec<LegacyApp> = Vec::new();
    for (i, a) in raw.apps.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.apps[{i}].{field}");
        require_text(&key("mch_no"), &a.mch_no)?;
        require_text(&key("app_id"), &a.app_id)?;
        if apps.iter().any(|o| o.app_id == a.app_id) {
            return Err(invalid(
                key("app_id"),
                format!("duplicate app `{}`", a.app_id),
            ));
        }
        let secret = resolve_secret(&key("secret"), a.secret)?;
        if secret.is_empty() {
            return Err(invalid(key("secret"), "must not be empty"));
        }
        apps.push(LegacyApp {
            mch_no: a.mch_no,
            app_id: a.app_id,
            secret,
        });
    }
    let epay_merchants = legacy_epay::merchants(raw.epay_merchants)?;
    if apps.is_empty() && epay_merchants.is_empty() {
        return Err(invalid("legacy_sandbox.apps", "at least one app is needed"));
    }
    let now = crate::legacy::epay_now();
    let epay_orders = legacy_epay::orders(raw.epay_orders, &epay_merchants, &now)?;
    let mut orders: Vec<LegacyOrder> = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut seen_refs = HashSet::new();
    for (i, o) in raw.orders.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.orders[{i}].{field}");
        require_text(&key("pay_order_id"), &o.pay_order_id)?;
        require_text(&key("mch_order_no"), &o.mch_order_no)?;
        if o.state > 6 {
            return Err(invalid(key("state"), "a Jeepay order state is 0 to 6"));
        }
        // Sets, not scans: a sandbox may hold hundreds of thousands of orders.
        if !seen_ids.insert(o.pay_order_id.clone())
            || !seen_refs.insert((o.mch_no.clone(), o.mch_order_no.clone()))
        {
            return Err(invalid(key("pay_order_id"), "duplicate legacy order"));
        }
        orders.push(LegacyOrder {
            pay_order_id: o.pay_order_id,
            mch_order_no: o.mch_order_no,
            mch_no: o.mch_no,
            state: o.state,
            empty_body: o.empty_body,
            amount: o.amount,
            refunded: 0,
            way_code: None,
        });
    }
    Ok(LegacySandboxConfig {
        embedded: raw.embedded,
        listen: parse_addr(
            "legacy_sandbox.listen",
            raw.listen.as_deref(),
            "127.0.0.1:9191",
        )?,
        apps,
        orders,
        epay_merchants,
        epay_orders,
    })
}
