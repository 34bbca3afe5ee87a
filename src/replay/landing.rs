//! When may a request whose outcome is unknown be sent again? Only once the earlier attempt
//! provably cannot land on DaxPay any more. A lookup that does not find it proves nothing
//! before then: DaxPay may still be holding it (a slow network, a queue, a lock), and would act
//! on it after the lookup (issue 19, item 6: a refund executed twice).
//!
//! The proof is DaxPay's own `reqTime` check (daxpay.md "reqTime check", lifecycle-2.0.md §2.3):
//! a request older than the upstream's age limit is rejected before its handler runs. So an
//! attempt sent at the latest at `sent_until` cannot land after `sent_until + limit + margin`;
//! from then on, "not found" is proof and the retry may be sent with a fresh signature.
//!
//! - DaxPay 3.x checks the age only when the app enables it: paybridge relies on the limit the
//!   operator declares for the upstream (`request_expiry_secs`), and without one never re-sends.
//! - DaxPay 2.0 rejects requests older than its `req_timeout`, 10 s in its seed configuration:
//!   that is the default (the operator declares otherwise, or 0 when the check is off).
//! - The margin covers the clocks of paybridge and DaxPay differing, and the moments between
//!   DaxPay's check and its handler writing the order (a lock wait): a request that passed the
//!   check is visible to a lookup after that.

use std::time::Duration;

use super::entry::after;
pub(crate) use super::entry::now_ms;

/// Added to the age limit: clock differences and DaxPay's time from its check to its record.
pub const LANDING_MARGIN: Duration = Duration::from_secs(5);

/// What a retry may do when a lookup does not show the earlier attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// The earlier attempt can no longer land: send again.
    Now,
    /// It may still land until then (ms since the epoch): answer unknown meanwhile.
    NotBefore(i64),
    /// The upstream declares no age limit: it may land at any time; never send again.
    Never,
}

/// The rule, for an attempt sent at the latest at `sent_until_ms`, an upstream whose age limit
/// is `request_expiry` (`None`: none declared), at `now_ms`.
pub fn resend(sent_until_ms: i64, request_expiry: Option<Duration>, now_ms: i64) -> Resend {
    let Some(limit) = request_expiry else {
        return Resend::Never;
    };
    let landing_ends = after(after(sent_until_ms, limit), LANDING_MARGIN);
    if now_ms > landing_ends {
        Resend::Now
    } else {
        Resend::NotBefore(landing_ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_sent_again_while_the_first_may_land() {
        let sent = 1_000_000;
        let limit = Some(Duration::from_secs(10));
        let ends = sent + 10_000 + LANDING_MARGIN.as_millis() as i64;
        assert_eq!(resend(sent, None, sent + 3_600_000), Resend::Never);
        assert_eq!(resend(sent, limit, sent), Resend::NotBefore(ends));
        assert_eq!(resend(sent, limit, ends), Resend::NotBefore(ends));
        assert_eq!(resend(sent, limit, ends + 1), Resend::Now);
    }
}
