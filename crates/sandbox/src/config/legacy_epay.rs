//! The epay part of `[legacy_sandbox]`: `[[legacy_sandbox.epay_merchants]]` (`pid`, `key`) and
//! `[[legacy_sandbox.epay_orders]]`, the legacy 彩虹易支付 gateway's merchants and orders.

use std::collections::HashSet;

use super::parse::{invalid, require_text, resolve_secret};
use super::raw::{RawEpayMerchant, RawEpayOrder, RawPid};
use super::ConfigError;
use crate::secret::Secret;
use crate::sign::epay::{RsaSigner, RsaVerifier};

/// An epay merchant: its integer `pid` and its one MD5 key (`pre_user.key`).
#[derive(Debug, Clone)]
pub struct EpayMerchant {
    pub pid: u64,
    pub key: Secret,
    /// V2: the merchant's public key (requests signed RSA verify with it).
    pub public_key: Option<RsaVerifier>,
}

/// An epay order as the gateway stores it (`pre_order`). Text fields hold the stored forms
/// (epay.md §9: escaped as the gateway escapes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpayOrder {
    /// 19 digits, `YmdHis` + 5.
    pub trade_no: String,
    pub out_trade_no: String,
    pub pid: u64,
    /// The pay type name (`alipay`); empty while the buyer has not chosen on the cashier.
    pub pay_type: String,
    pub name: String,
    /// The money in fen (`decimal(10,2)`).
    pub money_fen: u64,
    /// 0 unpaid, 1 paid, 2 refunded, 3 frozen, 4 pre-authorised (§10).
    pub status: u8,
    /// Refunded so far, in fen (build 3094's cumulative refunds).
    pub refund_fen: u64,
    pub param: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub api_trade_no: Option<String>,
    pub buyer: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8.
    pub addtime: String,
    /// When paid, same format.
    pub endtime: Option<String>,
    /// The buyer's IP as the create call gave it.
    pub clientip: Option<String>,
}

/// `1001` or `"1001"`, a positive integer.
pub(crate) fn pid(key: &str, raw: RawPid) -> Result<u64, ConfigError> {
    let value = match raw {
        RawPid::Number(n) => n,
        RawPid::Text(t) => t
            .parse()
            .map_err(|_| invalid(key, format!("`{t}` is not an integer pid")))?,
    };
    if value == 0 {
        return Err(invalid(key, "a pid is a positive integer"));
    }
    Ok(value)
}

/// Yuan text with at most two decimals (`"1"`, `"1.5"`, `"1.00"`) as fen.
pub(crate) fn yuan_to_fen(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac.parse::<u64>().ok()?)
}

pub(super) fn merchants(raw: Vec<RawEpayMerchant>) -> Result<Vec<EpayMerchant>, ConfigError> {
    let mut out: Vec<EpayMerchant> = Vec::new();
    for (i, m) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.epay_merchants[{i}].{field}");
        let pid = pid(&key("pid"), m.pid)?;
        if out.iter().any(|o| o.pid == pid) {
            return Err(invalid(key("pid"), format!("duplicate pid {pid}")));
        }
        let secret = resolve_secret(&key("key"), m.key)?;
        if secret.is_empty() {
            return Err(invalid(key("key"), "must not be empty"));
        }
        let public_key = m
            .public_key
            .map(|text| RsaVerifier::from_base64(&text))
            .transpose()
            .map_err(|e| invalid(key("public_key"), e.to_string()))?;
        out.push(EpayMerchant {
            pid,
            key: secret,
            public_key,
        });
    }
    Ok(out)
}

/// `[legacy_sandbox] epay_platform_private_key`: the V2 platform key, if given.
pub(super) fn platform_key(
    raw: Option<super::raw::RawSecret>,
) -> Result<Option<std::sync::Arc<RsaSigner>>, ConfigError> {
    const KEY: &str = "legacy_sandbox.epay_platform_private_key";
    raw.map(|raw| {
        let secret = resolve_secret(KEY, raw)?;
        RsaSigner::from_base64(secret.expose())
            .map(std::sync::Arc::new)
            .map_err(|e| invalid(KEY, e.to_string()))
    })
    .transpose()
}

pub(super) fn orders(
    raw: Vec<RawEpayOrder>,
    merchants: &[EpayMerchant],
    now: &str,
) -> Result<Vec<EpayOrder>, ConfigError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, o) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("legacy_sandbox.epay_orders[{i}].{field}");
        require_text(&key("trade_no"), &o.trade_no)?;
        require_text(&key("out_trade_no"), &o.out_trade_no)?;
        let pid = pid(&key("pid"), o.pid)?;
        if !merchants.iter().any(|m| m.pid == pid) {
            return Err(invalid(key("pid"), format!("no epay merchant {pid}")));
        }
        if o.status > 4 {
            return Err(invalid(key("status"), "an epay order status is 0 to 4"));
        }
        let money_fen = yuan_to_fen(&o.money)
            .filter(|f| *f > 0)
            .ok_or_else(|| invalid(key("money"), "yuan with at most two decimals, above 0"))?;
        let refund_fen = match o.refundmoney.as_deref() {
            None => 0,
            Some(text) => yuan_to_fen(text)
                .filter(|f| *f <= money_fen)
                .ok_or_else(|| invalid(key("refundmoney"), "yuan, at most the money"))?,
        };
        if !seen.insert(o.trade_no.clone()) {
            return Err(invalid(key("trade_no"), "duplicate epay order"));
        }
        let paid = o.status != 0 && o.status != 4;
        out.push(EpayOrder {
            trade_no: o.trade_no,
            out_trade_no: o.out_trade_no,
            pid,
            pay_type: o.pay_type.unwrap_or_else(|| "alipay".to_owned()),
            name: o.name.unwrap_or_else(|| "product".to_owned()),
            money_fen,
            status: o.status,
            refund_fen,
            param: o.param.filter(|p| !p.is_empty()),
            notify_url: o.notify_url,
            return_url: o.return_url,
            api_trade_no: o.api_trade_no,
            buyer: o.buyer,
            addtime: now.to_owned(),
            endtime: paid.then(|| now.to_owned()),
            clientip: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_text_to_fen() {
        assert_eq!(yuan_to_fen("1"), Some(100));
        assert_eq!(yuan_to_fen("1.5"), Some(150));
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("1.234"), None);
        assert_eq!(yuan_to_fen(".5"), None);
        assert_eq!(yuan_to_fen("-1"), None);
    }

    #[test]
    fn keys_never_in_debug_output() {
        let private = crate::sign::epay::SDK2_PRIVATE;
        let toml = format!(
            "[legacy_sandbox]\nepay_platform_private_key = \"{private}\"\n\
             [[legacy_sandbox.epay_merchants]]\npid = 1001\nkey = \"md5-key-of-1001\"\n"
        );
        let config = crate::config::Sandboxes::from_toml(&toml).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("md5-key-of-1001"), "{shown}");
        assert!(!shown.contains(&private[40..80]), "{shown}");
        let bad = toml.replace(&private[..20], "!!!!");
        let err = crate::config::Sandboxes::from_toml(&bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "legacy_sandbox.epay_platform_private_key: not a base64 PKCS#8 RSA key"
        );
    }
}
