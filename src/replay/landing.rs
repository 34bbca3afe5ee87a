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

/// A pay or refund call is never signed later than this after its attempt was recorded in the
/// order store (`proxy::call` refuses to send it then, as "not processed"): an attempt still
/// without an end is thereby known to have been sent, if at all, by `created + SEND_WINDOW`,
/// even when its instance died mid-request. It covers a joining refund's lookup, a retry's
/// lookup and the call's own connection wait, each bounded by the upstream's `timeout_ms`.
pub const SEND_WINDOW: Duration = Duration::from_secs(60);

/// Until when one attempt on a merchant number may land on DaxPay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// It cannot land (any more): DaxPay answered it (a request lands once), or its latest
    /// landing moment is past.
    Closed,
    /// It may land until then (ms since the epoch).
    Until(i64),
    /// The upstream declares no age limit: it may land at any time.
    Open,
}

/// The window of an attempt recorded at `created_at_ms`, whose call ended with an unknown
/// outcome at `sent_until_ms` (`None`: it may still be sending, at most until
/// `created_at_ms + SEND_WINDOW`), `answered` when DaxPay's verified answer to it came.
pub fn attempt_window(
    created_at_ms: i64,
    sent_until_ms: Option<i64>,
    answered: bool,
    request_expiry: Option<Duration>,
    now_ms: i64,
) -> Window {
    if answered {
        return Window::Closed;
    }
    // Signed by the end of its send window in any case, and by the end of its call if known.
    let window_end = after(created_at_ms, SEND_WINDOW);
    let sent_by = sent_until_ms.map_or(window_end, |at| at.min(window_end));
    match resend(sent_by, request_expiry, now_ms) {
        Resend::Now => Window::Closed,
        Resend::NotBefore(at) => Window::Until(at),
        Resend::Never => Window::Open,
    }
}

/// Whether a call of an attempt recorded at `created_at_ms` may still be signed at `now_ms`.
pub fn may_send(created_at_ms: i64, now_ms: i64) -> bool {
    now_ms <= after(created_at_ms, SEND_WINDOW)
}

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
    fn an_attempt_lands_until_its_send_and_the_expiry_are_past() {
        let created = 1_000_000;
        let ten = Some(Duration::from_secs(10));
        let margin = LANDING_MARGIN.as_millis() as i64;
        // Answered: it landed, once.
        assert_eq!(
            attempt_window(created, None, true, None, created),
            Window::Closed
        );
        // Ended unknown at +2 s: lands until +2 s + 10 s + margin.
        let until = created + 2_000 + 10_000 + margin;
        assert_eq!(
            attempt_window(created, Some(created + 2_000), false, ten, created + 3_000),
            Window::Until(until)
        );
        assert_eq!(
            attempt_window(created, Some(created + 2_000), false, ten, until + 1),
            Window::Closed
        );
        // Still sending (or its instance died): bounded by the send window.
        let window = SEND_WINDOW.as_millis() as i64;
        assert_eq!(
            attempt_window(created, None, false, ten, created),
            Window::Until(created + window + 10_000 + margin)
        );
        assert_eq!(
            attempt_window(created, None, false, None, created + 1),
            Window::Open
        );
        assert!(may_send(created, created + window));
        assert!(!may_send(created, created + window + 1));
    }

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
