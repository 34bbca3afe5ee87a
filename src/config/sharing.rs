//! One DaxPay identity, several Jeepay merchants: refused unless the configuration says so.
//!
//! DaxPay scopes orders by its own identity (3.x: upstream + mchNo + appId; 2.0 has one platform
//! secret, so the upstream alone). Two Jeepay merchants (two `mchNo`) translated to one identity
//! could each close or query the other's orders with their own valid signatures. Such sharing
//! needs `daxpay.shared = true` on every merchant of the identity, each with its own
//! `daxpay.order_prefix` (lifecycle.md §2.7): paybridge prefixes the merchant's order numbers
//! with it and acts only on orders that carry it. The apps of one `mchNo` are one merchant (Jeepay
//! scopes orders by `mchNo`) and need no opt-in, but share one prefix when they opt in.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::ConfigError;
use super::merchants::Merchant;
use super::parse::invalid;

/// Where a merchant's orders live on DaxPay.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdentityKey<'a> {
    /// The upstream's base URL, lower-cased: two upstream names for one server are one server.
    base_url: String,
    mch_no: Option<&'a str>,
    app_id: Option<&'a str>,
}

/// Refuses merchants sharing a DaxPay identity without the opt-in, and prefixes that could
/// name one another's orders. `merchants` in configuration order (their index names the key).
pub(super) fn check(merchants: &[Arc<Merchant>]) -> Result<(), ConfigError> {
    let mut identities: BTreeMap<IdentityKey<'_>, Vec<usize>> = BTreeMap::new();
    for (i, m) in merchants.iter().enumerate() {
        let identity = &m.daxpay;
        identities
            .entry(IdentityKey {
                base_url: identity.upstream.base_url.to_ascii_lowercase(),
                mch_no: identity.mch_no.as_deref(),
                app_id: identity.app_id.as_deref(),
            })
            .or_default()
            .push(i);
    }
    for members in identities.values() {
        let first = &merchants[members[0]];
        let several = members.iter().any(|&i| merchants[i].mch_no != first.mch_no);
        for (n, &i) in members.iter().enumerate() {
            let m = &merchants[i];
            if several && m.daxpay.order_prefix.is_none() {
                let other = members
                    .iter()
                    .copied()
                    .find(|&j| merchants[j].mch_no != m.mch_no)
                    .unwrap_or(i);
                return Err(invalid(
                    format!("merchants[{i}].daxpay.shared"),
                    format!(
                        "merchant {} shares its DaxPay identity (upstream `{}`{}) with merchant {} \
                         (merchants[{other}]), which could then act on its orders: give each \
                         merchant its own DaxPay identity, or set daxpay.shared = true and a \
                         distinct daxpay.order_prefix on every merchant of it",
                        m.mch_no,
                        m.daxpay.upstream.name,
                        describe(m),
                        merchants[other].mch_no,
                    ),
                ));
            }
            for &j in &members[..n] {
                clash(merchants, j, i)?;
            }
        }
    }
    Ok(())
}

/// Two merchants of one identity: one merchant's apps share a prefix; different merchants'
/// prefixes are distinct and neither starts the other (else `A` + `B1` = `AB` + `1`).
fn clash(merchants: &[Arc<Merchant>], earlier: usize, later: usize) -> Result<(), ConfigError> {
    let (a, b) = (&merchants[earlier], &merchants[later]);
    let (Some(pa), Some(pb)) = (&a.daxpay.order_prefix, &b.daxpay.order_prefix) else {
        return Ok(());
    };
    let key = format!("merchants[{later}].daxpay.order_prefix");
    if a.mch_no == b.mch_no {
        if pa != pb {
            return Err(invalid(
                key,
                format!(
                    "`{pb}` differs from `{pa}` of merchants[{earlier}], another app of merchant {} \
                     on the same DaxPay identity: one merchant's apps share one prefix",
                    a.mch_no
                ),
            ));
        }
    } else if pa.starts_with(pb.as_str()) || pb.starts_with(pa.as_str()) {
        return Err(invalid(
            key,
            format!(
                "`{pb}` and `{pa}` of merchants[{earlier}] (merchant {}) share the DaxPay \
                 identity: prefixes must be distinct and none may begin another",
                a.mch_no
            ),
        ));
    }
    Ok(())
}

fn describe(m: &Merchant) -> String {
    let mut s = String::new();
    if let Some(mch) = &m.daxpay.mch_no {
        s.push_str(&format!(", mchNo {mch}"));
    }
    if let Some(app) = &m.daxpay.app_id {
        s.push_str(&format!(", appId {app}"));
    }
    s
}
