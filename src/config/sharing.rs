//! One DaxPay identity, several Jeepay merchants: refused unless the configuration says so.
//!
//! DaxPay scopes orders by its own identity (3.x: upstream + mchNo + appId; 2.0 has one platform
//! secret, so the upstream alone). Two Jeepay merchants (two `mchNo`) translated to one identity
//! could each close or query the other's orders with their own valid signatures. Such sharing
//! needs `daxpay.shared = true` on every merchant of the identity, each with its own
//! `daxpay.order_prefix` (lifecycle.md §2.7): paybridge prefixes the merchant's order numbers
//! with it and acts only on orders that carry it. The apps of one `mchNo` are one merchant (Jeepay
//! scopes orders by `mchNo`) and need no opt-in, but share one prefix when they opt in.
//!
//! DaxPay's MySQL tables compare text case-insensitively by default (`utf8mb4_general_ci`):
//! `SHOP1` finds the order `shop1`, and app `DA1` is app `da1`. So identities are told apart,
//! and prefixes kept distinct, ignoring ASCII case (prefixes are ASCII: `parse::order_prefix`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::ConfigError;
use super::merchants::Merchant;
use super::parse::invalid;

/// Where a merchant's orders live on DaxPay, lower-cased (see the module's doc).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IdentityKey {
    /// The upstream's base URL: two upstream names for one server are one server.
    base_url: String,
    mch_no: Option<String>,
    app_id: Option<String>,
}

/// Refuses merchants sharing a DaxPay identity without the opt-in, and prefixes that could
/// name one another's orders. `merchants` in configuration order (their index names the key).
pub(super) fn check(merchants: &[Arc<Merchant>]) -> Result<(), ConfigError> {
    let mut identities: BTreeMap<IdentityKey, Vec<usize>> = BTreeMap::new();
    let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
    for (i, m) in merchants.iter().enumerate() {
        let identity = &m.daxpay;
        identities
            .entry(IdentityKey {
                base_url: identity.upstream.base_url.to_ascii_lowercase(),
                mch_no: lower(&identity.mch_no),
                app_id: lower(&identity.app_id),
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
/// prefixes are distinct and neither starts the other (else `A` + `B1` = `AB` + `1`), ignoring
/// case (else `shop` + `1` finds `SHOP` + `1` on DaxPay).
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
    } else {
        let (la, lb) = (pa.to_ascii_lowercase(), pb.to_ascii_lowercase());
        if la.starts_with(lb.as_str()) || lb.starts_with(la.as_str()) {
            return Err(invalid(
                key,
                format!(
                    "`{pb}` and `{pa}` of merchants[{earlier}] (merchant {}) share the DaxPay \
                     identity: prefixes must be distinct and none may begin another, ignoring \
                     case (DaxPay's database compares order numbers case-insensitively)",
                    a.mch_no
                ),
            ));
        }
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

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// Two merchants on one DaxPay app, each with `prefixes`' prefix; `apps` their DaxPay app ids.
    fn two(prefixes: [&str; 2], apps: [&str; 2]) -> Result<Config, String> {
        let merchant = |i: usize| {
            format!(
                "[[merchants]]\nmch_no = \"M{i}\"\napp_id = \"A{i}\"\nsecret = \"s\"\n\
                 daxpay = {{ upstream = \"dax\", mch_no = \"DM\", app_id = \"{}\", shared = true, \
                 order_prefix = \"{}\" }}\n",
                apps[i], prefixes[i]
            )
        };
        let toml = format!(
            "[upstreams.dax]\nbase_url = \"http://127.0.0.1:9\"\nversion = \"3.0\"\n\
             secret = \"dax\"\n{}{}",
            merchant(0),
            merchant(1)
        );
        Config::from_toml(&toml).map_err(|e| e.to_string())
    }

    #[test]
    fn prefixes_differing_only_by_case_are_one_prefix() {
        for pair in [
            ["shop", "SHOP"],
            ["Shop-", "sHOP-"],
            ["ab", "A"],
            ["A", "aB"],
        ] {
            let err = two(pair, ["DA", "DA"]).unwrap_err();
            assert!(
                err.starts_with("merchants[1].daxpay.order_prefix: ")
                    && err.contains("ignoring case"),
                "{pair:?}: {err}"
            );
        }
        assert!(two(["shop-", "shoq-"], ["DA", "DA"]).is_ok());
    }

    #[test]
    fn app_ids_differing_only_by_case_are_one_identity() {
        let toml = |apps: [&str; 2]| {
            format!(
                "[upstreams.dax]\nbase_url = \"http://127.0.0.1:9\"\nversion = \"3.0\"\n\
                 secret = \"dax\"\n\
                 [[merchants]]\nmch_no = \"M0\"\napp_id = \"A0\"\nsecret = \"s\"\n\
                 daxpay = {{ upstream = \"dax\", mch_no = \"DM\", app_id = \"{}\" }}\n\
                 [[merchants]]\nmch_no = \"M1\"\napp_id = \"A1\"\nsecret = \"s\"\n\
                 daxpay = {{ upstream = \"dax\", mch_no = \"dm\", app_id = \"{}\" }}\n",
                apps[0], apps[1]
            )
        };
        let err = Config::from_toml(&toml(["DA1", "da1"]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("merchants[0].daxpay.shared: "), "{err}");
        assert!(Config::from_toml(&toml(["DA1", "DA2"])).is_ok());
    }
}
