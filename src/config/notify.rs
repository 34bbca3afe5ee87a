//! `[notify]`: how paybridge delivers notifications to merchants (the outbox's worker).
//! Jeepay's own schedule by default: 6 attempts, the n-th retry n × 30 s after the previous one,
//! 20 s per attempt. epay merchants get epay's own schedule (attempts at 0, 1, 3, 19 and 55
//! min, 5 s each: `notify/deliver/epay.rs`) unless `max_attempts` or `retry_step_ms` is
//! written here, which then sets the schedule for both dialects. Delivered by a pool of `concurrency` deliveries at once, at most
//! `per_host_concurrency` of them to one host (docs/notifications.md, "Fair delivery").

use std::time::Duration;

use super::error::ConfigError;
use super::parse::{millis, positive};
use super::raw::RawNotify;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Attempts at most, the first included; then the notification is failed (an operator may
    /// send it again).
    pub max_attempts: u32,
    /// After the n-th failed attempt, the next is n × this later.
    pub retry_step: Duration,
    /// `max_attempts` or `retry_step_ms` is written in `[notify]`: the schedule then applies to
    /// every dialect (epay's notifications otherwise follow epay's own schedule).
    pub schedule_set: bool,
    /// How long a merchant may take to answer one attempt.
    pub timeout: Duration,
    /// How often due notifications are looked for when nothing wakes the worker.
    pub poll: Duration,
    /// How long one instance holds a notification it is sending before another may take it.
    pub lease: Duration,
    /// Notifications may go to loopback, private and link-local addresses (a test bench, or a
    /// merchant inside the same network). Off: paybridge cannot be made to post to its own
    /// admin listener or to internal services.
    pub allow_private_targets: bool,
    /// Deliveries one instance has in flight at most; a slot freed is refilled at once.
    pub concurrency: usize,
    /// Of those, at most this many to one host (`host:port`): a merchant endpoint that never
    /// answers holds this many slots, never the pool.
    pub per_host_concurrency: usize,
}

pub(super) fn validate(raw: RawNotify) -> Result<NotifyConfig, ConfigError> {
    let schedule_set = raw.max_attempts.is_some() || raw.retry_step_ms.is_some();
    let max_attempts = positive("notify.max_attempts", raw.max_attempts, 6)?;
    let timeout = millis("notify.timeout_ms", raw.timeout_ms, 20_000)?;
    Ok(NotifyConfig {
        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
        retry_step: millis("notify.retry_step_ms", raw.retry_step_ms, 30_000)?,
        schedule_set,
        timeout,
        poll: millis("notify.poll_ms", raw.poll_ms, 1_000)?,
        // Longer than an attempt can take (twice its timeout, and a second for the store): a
        // job is never sent twice at once, and one left by a crashed instance waits no longer.
        lease: timeout * 2 + Duration::from_secs(1),
        allow_private_targets: raw.allow_private_targets.unwrap_or(false),
        concurrency: positive("notify.concurrency", raw.concurrency, 32)?,
        per_host_concurrency: positive("notify.per_host_concurrency", raw.per_host_concurrency, 4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jeepays_schedule_by_default_and_zero_refused() {
        let c = validate(RawNotify::default()).unwrap();
        assert_eq!(
            (c.max_attempts, c.retry_step, c.timeout),
            (6, Duration::from_secs(30), Duration::from_secs(20))
        );
        assert!(!c.schedule_set);
        let set = validate(RawNotify {
            retry_step_ms: Some(1_000),
            ..RawNotify::default()
        })
        .unwrap();
        assert!(set.schedule_set);
        assert!(c.lease > c.timeout);
        assert_eq!((c.concurrency, c.per_host_concurrency), (32, 4));
        let err = validate(RawNotify {
            max_attempts: Some(0),
            ..RawNotify::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("notify.max_attempts"));
        let err = validate(RawNotify {
            per_host_concurrency: Some(0),
            ..RawNotify::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("notify.per_host_concurrency"));
    }
}
