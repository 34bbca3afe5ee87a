//! `[epay]` and the epay half of `[[merchants]]`: the platform key that signs V2 answers and
//! notifications, and each epay merchant's `pid`, public key and pay-type table. Keys are read
//! once, at start (a key that cannot be read is refused with the reason), and never printed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::ConfigError;
use super::parse::{invalid, resolve_secret};
use super::raw::{RawEpay, RawSecret};
use crate::dialect::epay::sign::{RsaSigner, RsaVerifier};

/// `[epay]`.
#[derive(Debug, Default)]
pub struct EpayConfig {
    /// Signs every V2 answer and V2-order notification (`None`: V2 requests are refused, as
    /// nothing could sign their answers).
    pub platform_key: Option<Arc<RsaSigner>>,
}

/// What an epay merchant has beyond what every merchant has.
#[derive(Debug)]
pub struct EpayMerchant {
    /// The merchant id, as configured (digits).
    pub pid: String,
    /// V2: the merchant's RSA public key (`None`: RSA-signed requests are refused; MD5 ones
    /// with a `timestamp` are accepted, as a gateway's `keytype = 0` merchant).
    pub public_key: Option<Arc<RsaVerifier>>,
    /// `type` or `type/device` → Jeepay way code, the merchant's own entries; the dialect's
    /// default table (epay.md §16) applies to what is not here.
    pub way_codes: BTreeMap<String, String>,
}

/// The `mchNo` (and `appId`) an epay merchant has in the order store, the outbox and the logs:
/// its `pid` in a namespace no Jeepay merchant number shares.
pub fn epay_mch_no(pid: &str) -> String {
    format!("epay:{pid}")
}

pub(super) fn validate(raw: RawEpay) -> Result<EpayConfig, ConfigError> {
    let platform_key = match raw.platform_private_key {
        None => None,
        Some(secret) => {
            let key = "epay.platform_private_key";
            let text = resolve_secret(key, secret)?;
            let signer =
                RsaSigner::from_text(text.expose()).map_err(|e| invalid(key, e.to_string()))?;
            Some(Arc::new(signer))
        }
    };
    Ok(EpayConfig { platform_key })
}

/// An epay merchant's own fields, checked.
pub(super) fn merchant(
    key: &dyn Fn(&str) -> String,
    pid: Option<String>,
    public_key: Option<RawSecret>,
    way_codes: BTreeMap<String, String>,
) -> Result<EpayMerchant, ConfigError> {
    let pid = pid.ok_or_else(|| invalid(key("pid"), "required for an epay merchant"))?;
    // epay's `pid` is the merchant's integer id (`pre_user.uid`).
    if pid.is_empty() || pid.len() > 18 || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            key("pid"),
            "must be the merchant's id: digits only",
        ));
    }
    let public_key = match public_key {
        None => None,
        Some(raw) => {
            let k = key("epay_public_key");
            let text = resolve_secret(&k, raw)?;
            Some(Arc::new(
                RsaVerifier::from_text(text.expose()).map_err(|e| invalid(k, e.to_string()))?,
            ))
        }
    };
    for (pay_type, way_code) in &way_codes {
        let well_formed = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
        };
        if !well_formed(pay_type) || pay_type.matches('/').count() > 1 {
            return Err(invalid(
                key(&format!("epay_way_codes.{pay_type}")),
                "the key is an epay `type` or `type/device` (e.g. \"alipay\", \"wxpay/mobile\")",
            ));
        }
        if !crate::domain::way_code::JEEPAY_WAY_CODES.contains(&way_code.as_str()) {
            return Err(invalid(
                key(&format!("epay_way_codes.{pay_type}")),
                format!("`{way_code}` is not a Jeepay way code (e.g. ALI_QR, WX_NATIVE)"),
            ));
        }
    }
    Ok(EpayMerchant {
        pid,
        public_key,
        way_codes,
    })
}
