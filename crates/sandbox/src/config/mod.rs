//! The sandboxes' configuration: the `[sandbox]` and `[legacy_sandbox]` sections of the same
//! TOML file the proxy reads (figment: the file, then `PAYBRIDGE_SANDBOX__*` and
//! `PAYBRIDGE_LEGACY_SANDBOX__*` environment overrides), validated in full. Every error names
//! the offending key. The proxy's own sections are not read here.

mod daxpay;
mod legacy;
mod legacy_epay;
mod parse;
mod raw;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

pub use daxpay::{
    CallbackSignOrder, SandboxApp, SandboxConfig, SandboxOrder, DEFAULT_CALLBACK_RETRY_MS,
    DEFAULT_PAY_LIMIT_FEN,
};
pub use legacy::{LegacyApp, LegacyOrder, LegacySandboxConfig};
pub use legacy_epay::{EpayMerchant, EpayOrder};

/// The sections whose keys `PAYBRIDGE_<SECTION>__<KEY>` variables may override.
const ENV_SECTIONS: [&str; 2] = ["sandbox", "legacy_sandbox"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(Box<figment::Error>),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// Both sandboxes as a configuration file describes them; either may be absent.
#[derive(Debug, Clone, Default)]
pub struct Sandboxes {
    pub sandbox: Option<SandboxConfig>,
    pub legacy_sandbox: Option<LegacySandboxConfig>,
}

impl Sandboxes {
    /// Reads `path` and the environment, then validates both sections.
    pub fn load(path: &Path) -> Result<Sandboxes, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::from_figment(Figment::from(Toml::string(&text)).merge(env_overrides()))
    }

    /// Parses a TOML document (no environment), for tests and tools.
    pub fn from_toml(text: &str) -> Result<Sandboxes, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Sandboxes, ConfigError> {
        let raw: raw::RawSandboxes = figment
            .extract()
            .map_err(|e| ConfigError::Syntax(Box::new(e)))?;
        Ok(Sandboxes {
            sandbox: raw.sandbox.map(daxpay::validate).transpose()?,
            legacy_sandbox: raw.legacy_sandbox.map(legacy::validate).transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.sandbox.is_none() && self.legacy_sandbox.is_none()
    }

    /// One line per sandbox, secrets left out, for `paybridge check`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let embedded = |on: bool| if on { " · embedded in serve" } else { "" };
        if let Some(lg) = &self.legacy_sandbox {
            let _ = writeln!(
                out,
                "legacy sandbox: {} · {} app(s) · {} order(s) · {} epay merchant(s) · {} epay order(s){}",
                lg.listen,
                lg.apps.len(),
                lg.orders.len(),
                lg.epay_merchants.len(),
                lg.epay_orders.len(),
                embedded(lg.embedded),
            );
        }
        if let Some(sb) = &self.sandbox {
            let _ = writeln!(
                out,
                "sandbox: {} · DaxPay {} · {} app(s) · {} order(s){}",
                sb.listen,
                sb.version,
                sb.apps.len(),
                sb.orders.len(),
                embedded(sb.embedded),
            );
        }
        out
    }
}

fn env_overrides() -> Env {
    // The filter may see the key before or after `__` becomes `.`: accept both spellings.
    Env::prefixed("PAYBRIDGE_")
        .filter(|key| {
            let first = key.as_str().split("__").next().unwrap_or_default();
            let first = first.split('.').next().unwrap_or_default();
            ENV_SECTIONS.iter().any(|s| first.eq_ignore_ascii_case(s))
        })
        .split("__")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderStatus, RefundStatus};

    const APP: &str =
        "[sandbox]\n[[sandbox.apps]]\nmch_no = \"M1\"\napp_id = \"A1\"\nsecret = \"s\"\n";

    #[test]
    fn other_sections_are_left_to_the_proxy() {
        let s = Sandboxes::from_toml("[server]\nlisten = \"x\"\n[[merchants]]\nwhatever = 1\n")
            .expect("ignored");
        assert!(s.is_empty());
    }

    #[test]
    fn keys_are_named_in_errors() {
        for (extra, key) in [
            ("[[sandbox.orders]]\norder_no = \"O\"\nbiz_order_no = \"B\"\nstatus = \"paid\"\n", "sandbox.orders[0].status"),
            ("[[sandbox.orders]]\norder_no = \"O\"\nbiz_order_no = \"B\"\nstatus = \"wait\"\namount = \"1.234\"\n", "sandbox.orders[0].amount"),
            ("[[sandbox.orders]]\norder_no = \"O\"\nbiz_order_no = \"B\"\nstatus = \"wait\"\nrefund_status = \"all\"\n", "sandbox.orders[0].refund_status"),
            ("[[sandbox.orders]]\norder_no = \"O\"\nbiz_order_no = \"B\"\nstatus = \"wait\"\npay_time = \"today\"\n", "sandbox.orders[0].pay_time"),
        ] {
            let err = Sandboxes::from_toml(&format!("{APP}{extra}")).unwrap_err();
            assert!(err.to_string().starts_with(&format!("{key}: ")), "{err}");
        }
        let err = Sandboxes::from_toml("[sandbox]\nversion = \"3.0\"\n").unwrap_err();
        assert_eq!(err.to_string(), "sandbox.apps: at least one app is needed");
        let err = Sandboxes::from_toml("[legacy_sandbox]\nlisten = \"x\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "legacy_sandbox.apps: at least one app is needed"
        );
    }

    #[test]
    fn callback_keys() {
        let sb = Sandboxes::from_toml(APP)
            .expect("valid")
            .sandbox
            .expect("sandbox");
        assert_eq!(sb.callback_retry.len(), DEFAULT_CALLBACK_RETRY_MS.len());
        assert_eq!(sb.callback_retry[0], std::time::Duration::from_secs(15));
        assert_eq!(sb.apps[0].callback_sign_order, CallbackSignOrder::Sorted);
        let toml = "[sandbox]\ncallback_retry_ms = [50, 100]\n[[sandbox.apps]]\nmch_no = \"M1\"\n\
                    app_id = \"A1\"\nsecret = \"s\"\ncallback_sign_order = \"declared\"\n\
                    [[sandbox.orders]]\norder_no = \"O\"\nbiz_order_no = \"B\"\nstatus = \"wait\"\n\
                    notify_url = \"http://127.0.0.1:1/n\"\n";
        let sb = Sandboxes::from_toml(toml)
            .expect("valid")
            .sandbox
            .expect("sandbox");
        assert_eq!(
            sb.callback_retry,
            [50, 100].map(std::time::Duration::from_millis)
        );
        assert_eq!(sb.apps[0].callback_sign_order, CallbackSignOrder::Declared);
        assert_eq!(
            sb.orders[0].notify_url.as_deref(),
            Some("http://127.0.0.1:1/n")
        );
        let err =
            Sandboxes::from_toml(&format!("{APP}callback_sign_order = \"wire\"\n")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("sandbox.apps[0].callback_sign_order: "),
            "{err}"
        );
    }

    #[test]
    fn order_fields_have_defaults_and_can_be_set() {
        let toml = format!(
            "{APP}[[sandbox.orders]]\norder_no = \"O1\"\nbiz_order_no = \"B1\"\nstatus = \"wait\"\n\
             [[sandbox.orders]]\norder_no = \"O2\"\nbiz_order_no = \"B2\"\nstatus = \"success\"\n\
             amount = \"12.30\"\ntitle = \"T\"\ndescription = \"D\"\nout_order_no = \"X\"\n\
             attach = \"a=1\"\nrefund_status = \"refunded\"\npay_time = \"2025-09-01 12:00:05\"\n\
             error_msg = \"E\"\n"
        );
        let s = Sandboxes::from_toml(&toml).expect("valid");
        let sb = s.sandbox.expect("sandbox");
        let (o1, o2) = (&sb.orders[0], &sb.orders[1]);
        assert_eq!(*o1, SandboxOrder::new("O1", "B1", OrderStatus::Wait));
        assert_eq!(o2.amount.fen(), 1230);
        assert_eq!(o2.refund_status, RefundStatus::Refunded);
        assert_eq!(o2.real_amount().map(|a| a.fen()), Some(1230));
        assert_eq!(o2.refundable_balance().fen(), 0);
        assert_eq!(o1.real_amount(), None);
        assert_eq!(o1.refundable_balance().fen(), 1);
        assert!(o2.pay_time.is_some());
    }

    #[test]
    fn daxpay_2_0_keys_and_defaults() {
        let base =
            "[sandbox]\nversion = \"2.0\"\n[[sandbox.apps]]\nsign_type = \"md5\"\nsecret = \"s\"\n";
        let sb = Sandboxes::from_toml(base)
            .expect("valid")
            .sandbox
            .expect("sandbox");
        // 2.0.8's seed: a 10 s request age, one callback attempt, a 199.11 yuan limit.
        assert_eq!(sb.req_time_window, Some(std::time::Duration::from_secs(10)));
        assert!(sb.callback_retry.is_empty());
        assert_eq!(sb.pay_limit_fen, DEFAULT_PAY_LIMIT_FEN);
        assert!(sb.pay_ways.is_empty() && sb.callback_before_commit.is_zero());
        let toml = base.replace(
            "[[sandbox.apps]]",
            "pay_limit_fen = 500000\ncallback_before_commit_ms = 1500\ncallback_retry_ms = [15000]\n\
             [sandbox.pay_ways]\nali_pay = [\"jsapi\", \"qrcode\"]\n[[sandbox.apps]]",
        );
        let sb = Sandboxes::from_toml(&toml)
            .expect("valid")
            .sandbox
            .expect("sandbox");
        assert_eq!(sb.pay_limit_fen, 500_000);
        assert_eq!(sb.callback_before_commit.as_millis(), 1500);
        assert_eq!(sb.callback_retry.len(), 1);
        assert_eq!(sb.pay_ways["ali_pay"], ["jsapi", "qrcode"]);
        for (bad, key) in [
            (
                "[sandbox.pay_ways]\npaypal = [\"qrcode\"]\n",
                "sandbox.pay_ways.paypal",
            ),
            (
                "[sandbox.pay_ways]\nali_pay = [\"face\"]\n",
                "sandbox.pay_ways.ali_pay",
            ),
        ] {
            let err = Sandboxes::from_toml(
                &base.replace("[[sandbox.apps]]", &format!("{bad}[[sandbox.apps]]")),
            )
            .unwrap_err();
            assert!(err.to_string().starts_with(&format!("{key}: ")), "{err}");
        }
    }
}
