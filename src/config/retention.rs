//! `[retention]`: how long the order store keeps what is finished. DaxPay stays the system of
//! record; paybridge's rows serve answers, queries, refunds and notifications of live orders.
//! Only what is final and delivered is ever pruned (`crate::settle::retention`).

use std::time::Duration;

use super::error::ConfigError;
use super::parse::{millis, positive};
use super::raw::RawRetention;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Final orders and refunds and delivered notifications older than this are pruned; `None`
    /// (`keep_days = 0`): kept forever.
    pub keep: Option<Duration>,
    /// A paid order (DaxPay's final state `success`) is kept at least this long, however
    /// short `keep`: its channel still accepts refunds, and a refund needs the row to reach
    /// the upstream the order was made on. Default 366 days (WeChat Pay and Alipay take refunds
    /// for a year). `None` (`keep_paid_days = 0`): paid orders follow `keep`.
    pub keep_paid: Option<Duration>,
    /// Rows deleted per statement: short transactions that never hold the store up for long.
    pub batch: usize,
    /// How often each instance prunes.
    pub every: Duration,
}

impl RetentionConfig {
    /// How long a paid order is kept: the longer of `keep` and `keep_paid`.
    pub fn paid_keep(&self) -> Option<Duration> {
        self.keep
            .map(|keep| keep.max(self.keep_paid.unwrap_or_default()))
    }
}

pub(super) fn validate(raw: RawRetention) -> Result<RetentionConfig, ConfigError> {
    let days = raw.keep_days.unwrap_or(180);
    let paid_days = raw.keep_paid_days.unwrap_or(366);
    Ok(RetentionConfig {
        keep: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
        keep_paid: (paid_days > 0).then(|| Duration::from_secs(paid_days.saturating_mul(86_400))),
        batch: positive("retention.batch", raw.batch, 500)?,
        every: millis("retention.every_ms", raw.every_ms, 3_600_000)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_year_by_default_and_zero_keeps_forever() {
        let c = validate(RawRetention::default()).unwrap();
        assert_eq!(c.keep, Some(Duration::from_secs(180 * 86_400)));
        assert_eq!(c.keep_paid, Some(Duration::from_secs(366 * 86_400)));
        assert_eq!((c.batch, c.every), (500, Duration::from_secs(3600)));
        let forever = validate(RawRetention {
            keep_days: Some(0),
            ..RawRetention::default()
        })
        .unwrap();
        assert_eq!(forever.keep, None);
    }
}
