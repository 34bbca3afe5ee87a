//! Which DaxPay the lifecycle soak runs against, and everything the driver does differently for
//! it: DaxPay **3.0** (the default, CI's run) or **2.0** (2.0.8, lifecycle-2.0.md).
//!
//! On 2.0 (issue 21's money state under faults):
//! - the in-process sandbox is a 2.0.8 (`version = "2.0"`) with its seed's defaults where they
//!   make settlement do the work: **one callback attempt** (its retry job ships stopped, §7.4),
//!   a 10 s request-age limit (§2.3), the 19911-fen pay limit (§2.10); and notices sent up to
//!   [`CALLBACK_BEFORE_COMMIT`] before the change they report is visible to the queries (§7.1);
//! - one platform identity serves both merchants, so each is `shared = true` with its own
//!   `order_prefix` (docs/configuration.md): DaxPay's `bizOrderNo` / `bizRefundNo` are the prefix
//!   and the merchant's number ([`Dax::prefix`]);
//! - the sign type (md5 or hmac_sha256, both 2.0.8's) is chosen by the seed, or `--sign`;
//! - the payer never fails an order (no 2.0.8 path sets `fail`, §7.1), a few pays ask for more
//!   than the limit (refused, `支付金额超过限额`), Union Pay's QR code is among the ways, and the
//!   channel settles WeChat and Union refunds later (2.0.8's are asynchronous, §5.2): most
//!   succeed (two success notices, §7.1), a few are closed.

use std::fmt::Write as _;
use std::time::Duration;

use super::cast::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V3_0,
    V2_0,
}

/// The DaxPay under the soak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dax {
    pub(crate) version: Version,
    /// `md5` or `hmac_sha256` (3.0: always `hmac_sha256`).
    pub(crate) sign_type: &'static str,
}

/// 2.0: how long a notice may precede the change becoming visible to the queries.
pub(crate) const CALLBACK_BEFORE_COMMIT: Duration = Duration::from_millis(800);

/// 2.0.8's seed platform `limit_amount`, fen (the sandbox's default `pay_limit_fen`).
pub(crate) const PAY_LIMIT_FEN: u64 = paybridge_sandbox::DEFAULT_PAY_LIMIT_FEN;

const WAYS_3_0: [&str; 5] = ["WX_NATIVE", "ALI_QR", "ALI_BAR", "WX_BAR", "ALI_WAP"];
const WAYS_2_0: [&str; 6] = [
    "WX_NATIVE",
    "ALI_QR",
    "ALI_BAR",
    "WX_BAR",
    "ALI_WAP",
    "UP_QR",
];

impl Dax {
    pub(crate) const V3_0: Dax = Dax {
        version: Version::V3_0,
        sign_type: "hmac_sha256",
    };

    /// 2.0 with the sign type given, else by the seed (even md5, odd hmac_sha256).
    pub(crate) fn v2_0(sign: Option<&'static str>, seed: u64) -> Dax {
        Dax {
            version: Version::V2_0,
            sign_type: sign.unwrap_or(if seed.is_multiple_of(2) {
                "md5"
            } else {
                "hmac_sha256"
            }),
        }
    }

    pub(crate) fn is_2_0(self) -> bool {
        self.version == Version::V2_0
    }

    /// For the report.
    pub(crate) fn describe(self) -> String {
        match self.version {
            Version::V3_0 => "DaxPay 3.0".to_owned(),
            Version::V2_0 => format!(
                "DaxPay 2.0 (2.0.8), sign {}, one identity shared (order prefixes {}), one callback attempt, notices up to {} ms before the commit, pay limit {} fen",
                self.sign_type,
                MERCHANTS
                    .iter()
                    .map(|m| m.prefix_2_0)
                    .collect::<Vec<_>>()
                    .join(" "),
                CALLBACK_BEFORE_COMMIT.as_millis(),
                PAY_LIMIT_FEN
            ),
        }
    }

    /// What paybridge puts before merchant `m`'s numbers on DaxPay (2.0: its `order_prefix`).
    pub(crate) fn prefix(self, m: usize) -> &'static str {
        match self.version {
            Version::V3_0 => "",
            Version::V2_0 => MERCHANTS[m].prefix_2_0,
        }
    }

    /// How long after the driver changed something at DaxPay the queries may still answer the
    /// state before it.
    pub(crate) fn commit_lag(self) -> Duration {
        match self.version {
            Version::V3_0 => Duration::ZERO,
            Version::V2_0 => CALLBACK_BEFORE_COMMIT,
        }
    }

    pub(crate) fn ways(self) -> &'static [&'static str] {
        match self.version {
            Version::V3_0 => &WAYS_3_0,
            Version::V2_0 => &WAYS_2_0,
        }
    }

    /// The pay limit, fen (3.0: none the soak reaches).
    pub(crate) fn pay_limit(self) -> Option<u64> {
        self.is_2_0().then_some(PAY_LIMIT_FEN)
    }

    /// paybridge's `[upstreams.dax]` keys that name the DaxPay.
    pub(crate) fn upstream_toml(self) -> String {
        let version = match self.version {
            Version::V3_0 => "3.0",
            Version::V2_0 => "2.0",
        };
        format!(
            "version = \"{version}\"\nsign_type = \"{}\"\n",
            self.sign_type
        )
    }

    /// A merchant's `[merchants.daxpay]` section.
    pub(crate) fn merchant_toml(self, m: &Merchant) -> String {
        match self.version {
            Version::V3_0 => format!(
                "[merchants.daxpay]\nupstream = \"dax\"\nmch_no = \"{DAX_MCH}\"\napp_id = \"{}\"\n",
                m.dax_app
            ),
            // 2.0 has one platform identity and no apps: both merchants share it.
            Version::V2_0 => format!(
                "[merchants.daxpay]\nupstream = \"dax\"\nshared = true\norder_prefix = \"{}\"\n",
                m.prefix_2_0
            ),
        }
    }

    /// The epay merchant's entry (`dialect = "epay"`, docs/configuration.md): its own DaxPay app
    /// on 3.0; on 2.0 the shared identity with its own `order_prefix`.
    pub(crate) fn epay_merchant_toml(self) -> String {
        let daxpay = match self.version {
            Version::V3_0 => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{}\"\n", EPAY.dax_app),
            Version::V2_0 => format!("shared = true\norder_prefix = \"{}\"\n", EPAY.prefix_2_0),
        };
        format!(
            "[[merchants]]\ndialect = \"epay\"\npid = \"{}\"\nsecret = \"{}\"\n[merchants.daxpay]\nupstream = \"dax\"\n{daxpay}\n",
            EPAY.pid, EPAY.key
        )
    }

    /// The sandbox's app for the epay merchant (3.0; 2.0 has one identity for all).
    pub(crate) fn epay_sandbox_toml(self) -> String {
        match self.version {
            Version::V3_0 => format!(
                "[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{}\"\nsign_type = \"hmac_sha256\"\nsecret = \"{DAX_SECRET}\"\n",
                EPAY.dax_app
            ),
            Version::V2_0 => String::new(),
        }
    }

    /// The sandbox's own configuration. 3.0: one app per merchant, callbacks retried quickly
    /// (DaxPay's schedule compressed from a day into about a minute and a half). 2.0: the one
    /// platform secret, one callback attempt (2.0.8's default), notices before the commit.
    pub(crate) fn sandbox_toml(self) -> String {
        match self.version {
            Version::V3_0 => {
                let mut s = String::from(
                    "[sandbox]\nlisten = \"127.0.0.1:0\"\nversion = \"3.0\"\n\
                     callback_retry_ms = [300, 600, 1000, 2000, 3000, 5000, 5000, 8000, 8000, 10000, 10000, 10000, 15000, 15000]\n",
                );
                for m in MERCHANTS {
                    let _ = write!(
                        s,
                        "[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{}\"\nsign_type = \"hmac_sha256\"\nsecret = \"{DAX_SECRET}\"\n",
                        m.dax_app
                    );
                }
                s
            }
            Version::V2_0 => format!(
                "[sandbox]\nlisten = \"127.0.0.1:0\"\nversion = \"2.0\"\n\
                 callback_before_commit_ms = {}\n\
                 [[sandbox.apps]]\nsign_type = \"{}\"\nsecret = \"{DAX_SECRET}\"\n",
                CALLBACK_BEFORE_COMMIT.as_millis(),
                self.sign_type
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paybridge_sandbox::Sandboxes;

    #[test]
    fn both_sandbox_configurations_are_accepted() {
        for dax in [Dax::V3_0, Dax::v2_0(Some("md5"), 0), Dax::v2_0(None, 1)] {
            let config = Sandboxes::from_toml(&dax.sandbox_toml()).expect("valid");
            let sandbox = config.sandbox.expect("a [sandbox]");
            assert_eq!(
                sandbox.version == paybridge_sandbox::Version::V2_0,
                dax.is_2_0()
            );
            if dax.is_2_0() {
                assert!(
                    sandbox.callback_retry.is_empty(),
                    "one attempt, as 2.0.8 ships"
                );
                assert_eq!(sandbox.pay_limit_fen, PAY_LIMIT_FEN);
            }
        }
        assert_eq!(Dax::v2_0(None, 4).sign_type, "md5");
        assert_eq!(Dax::v2_0(None, 7).sign_type, "hmac_sha256");
    }

    #[test]
    fn prefixes_are_distinct_and_none_begins_another() {
        let dax = Dax::v2_0(None, 0);
        let (a, b) = (dax.prefix(0).to_lowercase(), dax.prefix(1).to_lowercase());
        assert!(!a.is_empty() && !a.starts_with(&b) && !b.starts_with(&a));
        assert_eq!(Dax::V3_0.prefix(0), "");
    }
}
