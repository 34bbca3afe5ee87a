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

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::dispatch::Dialect;

    /// epay.md appendix A: the SDK2 sample key pair (public sample data).
    const PRIVATE: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCBIB1e5lAYtFyXq5I8UIQ6KidYZcWkn0SwVS8Rk0SNZVrvL/UJk6Q1zkJs4pUCykTBS/tTrP2rNPOsK1VO/AQHIzhvAujsv7UK2LptcsuNRPCF5GYxndQnOawAGKNQKsMuNcDzyuyTMbZIBEYSRWIoU3dMz4wWEFso/VdVS4uKTZWZnBOeCDdzDAJ7TwbmaOkT919DfZbXAoMH9n3sG4BMpqQExTDoFY6dq6EPXCWVZgoUfecAgNKSfX5TagSUaAxq4eF5vsUfvj+LFpYIrIssmSVErtZuRXLHWVSEbsNxdDPNuS3BtxWEY7GRPF9RJevtoC5L5LN7Gn+RYCqZNZv7AgMBAAECggEAEA6ZTb11hQzwsrUAM1s5MNkgbsABIDk6BnTMAfMpRC1awyxYhqoDHTnFTYWuTVwvyUW/PtGKnelbdTPSS5x6jRSr0N+GGDgNYF2Wbpkm3Ni6Jubsb7ZrtRED5Y3Vc9j4JTKZXaJaDEJ9+LNSBLWiFi0C7zH5U/O8ElB8CrxL4ZUaZv0JgV9NcDpS5jAtpPSyBLrdhbEheertJiHQU0V+FaaXq8taNcYIA/Xim6+vqcFFtUA3PBBTXHn/NE5uasXi+N+De4IT+dBmirzVSZjviDPr9RSBUi6KPUSXx6eDa26SKeEqJZvBtlASDM+ZC0yhDz0eyV49tMjk7eF5fnCIwQKBgQC2nEiR2t5Q02tHaKesZMRGOwxEyMFQj6viDW+Yffg59Tu6QYuqdR558/zmzWcJFMH3DVQzTXpzPNU9TA3/yT/Q42iKBP70K8O9tJO+gd/jLHLqgw90Wyh2b4FJXXQqVQMkxGBQKRfNi6krWigJNBs8Z8IhczorQHYNbBIUI05poQKBgQC1BRI8zKf+85GuJXTxJ93RXbkOQMUIhT/6eyFTZvCLC9Qqba1/1ouNbtmxNsFFIC+n+rHRN9btKt90m9YFvXD90m3y34M88QjvaQcA1Kng9Q6Xia8DizpVIYGAR/Pfn36BZQeHHVz9te6QJ9hVOgZO3GG62Echd9M/rwOzuU14GwKBgFGtS2Q5khByz9wLuluIYqXLCWzGoninGkksm0qIpXs+7e0cHh0q72u6rtaI7toH983Jn2ym7esXPYWCPAy5dhq3bG23WFXcMVvrpd2i94IDwo6T+lif4VRAAYLQEwJQLezHDREtoCDmo87pL1kWfkwhWJpfkJgB6AuO1/M763mhAoGBAIPEGj9plcwOzndeSp6UL3IMb/1BBmuqWyTgZiTIpMYCKUFtLsMEj/a2vv2xZsQDpsz2vmMV63weHiRKn2L0QABzIZeOPYCpz6A96lwfcT0QBLwn+95vhVmclyCiv5GDDtnviag/poYD3ZDPgDihkR/sabNRZY2mJH6RzfcQJqULAoGALkSkqr0bplhfyAA6bO42l64th4YUqwouTEgp7rE36wQ28THj0a88HLU4CeiCR6LQAEGpKk04Vst97C1Q5ZeD5rc4xKINl8K5HUH8SsdMDq3r22xur2qr4kanW4hf2P/ehOeEKGuhSL+ZWeApvt1c0rqH4MQT1/7qR/dO2MikkMg=";

    fn toml(merchant: &str, epay: &str) -> String {
        format!(
            r#"
[upstreams.daxpay]
base_url = "http://127.0.0.1:9"
secret = "dax"
[[merchants]]
{merchant}
[merchants.daxpay]
upstream = "daxpay"
mch_no = "DM"
app_id = "DA"
{epay}
"#
        )
    }

    fn refused(merchant: &str, epay: &str) -> String {
        Config::from_toml(&toml(merchant, epay))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn an_epay_merchant_is_named_by_its_pid() {
        let c = Config::from_toml(&toml(
            "dialect = \"epay\"\npid = \"1001\"\nsecret = \"k\"\nepay_way_codes = { alipay = \"ALI_QR\", \"wxpay/mobile\" = \"WX_H5\" }",
            &format!("[epay]\nplatform_private_key = \"{}\"", PRIVATE.trim()),
        ))
        .unwrap();
        let m = c.merchants.by_pid("1001").expect("by pid");
        assert_eq!(m.dialect, Dialect::Epay);
        assert_eq!(
            (m.mch_no.as_str(), m.app_id.as_str()),
            ("epay:1001", "epay:1001")
        );
        assert!(c.merchants.lookup("epay:1001", "epay:1001").is_ok());
        let epay = m.epay.as_ref().unwrap();
        assert_eq!(epay.way_codes["wxpay/mobile"], "WX_H5");
        assert!(epay.public_key.is_none());
        assert!(c.epay.platform_key.is_some());
        assert!(c.merchants.by_pid("1002").is_none());
    }

    #[test]
    fn bad_keys_and_mixed_identities_are_refused_with_the_key_named() {
        let epay = "dialect = \"epay\"\npid = \"1001\"\nsecret = \"k\"";
        let e = refused(epay, "[epay]\nplatform_private_key = \"bm90IGEga2V5\"");
        assert!(
            e.contains("epay.platform_private_key") && e.contains("PKCS#8"),
            "{e}"
        );
        let e = refused(&format!("{epay}\nepay_public_key = \"@@@\""), "");
        assert!(
            e.contains("merchants[0].epay_public_key") && e.contains("base64"),
            "{e}"
        );
        let e = refused(
            "mch_no = \"M1\"\napp_id = \"A1\"\nsecret = \"s\"\npid = \"1001\"",
            "",
        );
        assert!(e.contains("merchants[0].pid"), "{e}");
        let e = refused(
            "dialect = \"epay\"\nmch_no = \"M1\"\npid = \"1001\"\nsecret = \"s\"",
            "",
        );
        assert!(e.contains("merchants[0].mch_no"), "{e}");
        let e = refused("dialect = \"epay\"\nsecret = \"s\"", "");
        assert!(e.contains("merchants[0].pid"), "{e}");
        let e = refused("dialect = \"epay\"\npid = \"10a1\"\nsecret = \"s\"", "");
        assert!(e.contains("digits"), "{e}");
        let e = refused("dialect = \"alipay\"\npid = \"1\"\nsecret = \"s\"", "");
        assert!(e.contains("merchants[0].dialect"), "{e}");
        let e = refused(
            &format!("{epay}\nepay_way_codes = {{ alipay = \"ALIPAY\" }}"),
            "",
        );
        assert!(e.contains("epay_way_codes.alipay"), "{e}");
    }

    #[test]
    fn a_pid_is_one_merchant() {
        let one = "dialect = \"epay\"\npid = \"1001\"\nsecret = \"k\"\n[merchants.daxpay]\nupstream = \"daxpay\"\nmch_no = \"DM\"\napp_id = \"DA\"\n[[merchants]]\ndialect = \"epay\"\npid = \"1001\"\nsecret = \"k2\"";
        let e = refused(one, "");
        assert!(e.contains("duplicate epay merchant `1001`"), "{e}");
    }

    #[test]
    fn no_key_reaches_debug_output() {
        let c = Config::from_toml(&toml(
            "dialect = \"epay\"\npid = \"1001\"\nsecret = \"md5-key-0123456789\"",
            &format!("[epay]\nplatform_private_key = \"{}\"", PRIVATE.trim()),
        ))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("md5-key-0123456789"));
        // No 16-character run of the key's base64 appears anywhere.
        let key = PRIVATE.trim();
        for start in (0..key.len() - 16).step_by(16) {
            assert!(!shown.contains(&key[start..start + 16]), "{start}");
        }
        assert!(shown.contains("redacted"), "the key is said to be there");
    }
}
