//! `[settlement]`: how paybridge follows up every pay order and refund it wrote until DaxPay says
//! it is final (`crate::settle`). Callbacks are hints that can be lost (a 2.0.8 DaxPay tries
//! once); this is what makes the merchant's notification certain.

use std::time::Duration;

use super::error::ConfigError;
use super::parse::{invalid, millis, positive};
use super::raw::RawSettlement;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementConfig {
    /// Off: nothing follows orders up but callbacks and merchants' queries (not recommended).
    pub enabled: bool,
    /// A row is first checked this long after it was written (time for DaxPay's own answer and
    /// callback, which usually settle it first: the check then only confirms).
    pub first_check_after: Duration,
    /// The n-th check of a row still open is followed by the next one `first_check_after × 2ⁿ`
    /// later, at most this much later.
    pub max_interval: Duration,
    /// A row still not final this long after it was written is left to the operator
    /// (`abandoned`: counted, alerted on, listed by `paybridge reconcile`).
    pub give_up_after: Duration,
    /// How often due rows are looked for.
    pub poll: Duration,
    /// Rows checked at once by one instance.
    pub concurrency: usize,
    /// How long one instance holds a row it is checking before another may take it.
    pub lease: Duration,
    /// A DaxPay 2.0 refund still `progress` this long after paybridge wrote it is synced with
    /// its channel at each check (2.0.8's own refund sync job ships stopped; `settle::expiry`).
    pub refund_sync_after: Duration,
}

pub(super) fn validate(raw: RawSettlement) -> Result<SettlementConfig, ConfigError> {
    let first_check_after = millis(
        "settlement.first_check_after_ms",
        raw.first_check_after_ms,
        30_000,
    )?;
    let max_interval = millis("settlement.max_interval_ms", raw.max_interval_ms, 600_000)?;
    if max_interval < first_check_after {
        return Err(invalid(
            "settlement.max_interval_ms",
            "must not be shorter than settlement.first_check_after_ms",
        ));
    }
    // Two days: longer than any order can stay payable (Jeepay's default expiry is 2 h; DaxPay
    // closes an unpaid order when it expires) and than a refund takes at the channels.
    let give_up_after = Duration::from_secs(
        u64::try_from(positive(
            "settlement.give_up_after_secs",
            raw.give_up_after_secs,
            172_800,
        )?)
        .unwrap_or(u64::MAX),
    );
    Ok(SettlementConfig {
        enabled: raw.enabled.unwrap_or(true),
        first_check_after,
        max_interval,
        give_up_after,
        poll: millis("settlement.poll_ms", raw.poll_ms, 1_000)?,
        concurrency: positive("settlement.concurrency", raw.concurrency, 8)?,
        // A check is one signed query, bounded by the upstream's timeout: a minute is ample, and
        // a row left by a crashed instance waits no longer.
        lease: Duration::from_secs(60),
        // Five minutes: the channels' asynchronous refunds (WeChat, UnionPay) have normally
        // settled and been called back by then; a sync much sooner could also catch the channel
        // before it knows the refund (2.0.8 closes a refund the channel does not find).
        refund_sync_after: Duration::from_secs(raw.refund_sync_after_secs.unwrap_or(300)),
    })
}

impl SettlementConfig {
    /// When a row checked `checks` times (this one included) and still open is checked next,
    /// counted from now.
    pub fn next_delay(&self, checks: i64) -> Duration {
        let doublings = u32::try_from(checks.clamp(0, 20)).unwrap_or(20);
        self.first_check_after
            .saturating_mul(1u32 << doublings)
            .min(self.max_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_back_off_to_ten_minutes_and_give_up_after_two_days() {
        let c = validate(RawSettlement::default()).unwrap();
        assert!(c.enabled);
        assert_eq!(c.first_check_after, Duration::from_secs(30));
        assert_eq!(c.next_delay(1), Duration::from_secs(60));
        assert_eq!(c.next_delay(2), Duration::from_secs(120));
        assert_eq!(c.next_delay(5), Duration::from_secs(600));
        assert_eq!(c.next_delay(i64::MAX), Duration::from_secs(600));
        assert_eq!(c.give_up_after, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(c.refund_sync_after, Duration::from_secs(300));
    }

    #[test]
    fn an_interval_shorter_than_the_first_check_is_refused() {
        let err = validate(RawSettlement {
            first_check_after_ms: Some(60_000),
            max_interval_ms: Some(1_000),
            ..RawSettlement::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("settlement.max_interval_ms"),
            "{err}"
        );
    }
}
