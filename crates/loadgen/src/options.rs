//! The command line (no parser crate: a handful of options).

use std::net::SocketAddr;
use std::time::Duration;

use crate::jeepay::Merchant;

pub const USAGE: &str = "usage: paybridge-loadgen pay|refund --target ADDR[,ADDR…] \
[--connections N] [--duration S] [--warmup S] [--mch-no M] [--app-id A] [--secret S] \
[--sandbox ADDR] [--orders-per-connection N]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pay,
    Refund,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub targets: Vec<SocketAddr>,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub merchant: Merchant,
    /// The DaxPay sandbox whose payer endpoint pays the refund mode's orders.
    pub sandbox: Option<SocketAddr>,
    pub orders_per_connection: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    #[error("the first argument is the mode: pay or refund")]
    Mode,
    #[error("{0} needs a value")]
    Missing(String),
    #[error("bad value for {0}: {1}")]
    Bad(&'static str, String),
    #[error("unknown option {0}")]
    Unknown(String),
    #[error("refund needs --sandbox (the DaxPay sandbox that pays its orders)")]
    NoSandbox,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, OptionError> {
    let mut args = args.into_iter();
    let mode = match args.next().as_deref() {
        Some("pay") => Mode::Pay,
        Some("refund") => Mode::Refund,
        _ => return Err(OptionError::Mode),
    };
    // The defaults: scripts/bench-nginx's migrated merchant (config/paybridge.toml's demo one).
    let mut o = Options {
        mode,
        targets: Vec::new(),
        connections: 16,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(2),
        merchant: Merchant {
            mch_no: "M1623984572".into(),
            app_id: "60cc09bce4b0f1c0b83761c9".into(),
            secret: "EWEFD123RGSRETYDFNGFGFGSHDFGH".into(),
        },
        sandbox: None,
        orders_per_connection: 4,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| OptionError::Missing(flag.clone()))?;
        match flag.as_str() {
            "--target" => {
                o.targets = value
                    .split(',')
                    .map(|a| {
                        a.parse()
                            .map_err(|_| OptionError::Bad("--target", a.into()))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--connections" => o.connections = number("--connections", &value)?,
            "--duration" => o.duration = Duration::from_secs(number("--duration", &value)? as u64),
            "--warmup" => o.warmup = Duration::from_secs(number("--warmup", &value)? as u64),
            "--mch-no" => o.merchant.mch_no = value,
            "--app-id" => o.merchant.app_id = value,
            "--secret" => o.merchant.secret = value,
            "--sandbox" => {
                o.sandbox = Some(
                    value
                        .parse()
                        .map_err(|_| OptionError::Bad("--sandbox", value))?,
                )
            }
            "--orders-per-connection" => {
                o.orders_per_connection = number("--orders-per-connection", &value)?
            }
            _ => return Err(OptionError::Unknown(flag)),
        }
    }
    if o.targets.is_empty() {
        return Err(OptionError::Missing("--target".into()));
    }
    if o.connections == 0 || o.duration.is_zero() || o.orders_per_connection == 0 {
        return Err(OptionError::Bad(
            "--connections/--duration/--orders-per-connection",
            "0".into(),
        ));
    }
    if mode == Mode::Refund && o.sandbox.is_none() {
        return Err(OptionError::NoSandbox);
    }
    Ok(o)
}

fn number(flag: &'static str, value: &str) -> Result<usize, OptionError> {
    value
        .parse()
        .map_err(|_| OptionError::Bad(flag, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn two_targets_and_the_defaults() {
        let o = parse(args("pay --target 127.0.0.1:1,127.0.0.1:2 --connections 8")).unwrap();
        assert_eq!(o.targets.len(), 2);
        assert_eq!(o.connections, 8);
        assert_eq!(o.mode, Mode::Pay);
        assert_eq!(o.merchant.mch_no, "M1623984572");
    }

    #[test]
    fn refund_needs_the_sandbox_and_bad_values_are_refused() {
        assert!(matches!(
            parse(args("refund --target 127.0.0.1:1")),
            Err(OptionError::NoSandbox)
        ));
        assert!(matches!(
            parse(args("pay --target nowhere")),
            Err(OptionError::Bad(..))
        ));
        assert!(matches!(
            parse(args("close --target 127.0.0.1:1")),
            Err(OptionError::Mode)
        ));
        assert!(matches!(
            parse(args("pay --target")),
            Err(OptionError::Missing(_))
        ));
        assert!(matches!(
            parse(args("pay --target 127.0.0.1:1 --connections 0")),
            Err(OptionError::Bad(..))
        ));
    }
}
