//! The notification relay (lifecycle.md §6–7): DaxPay calls paybridge back about an order, and
//! the merchant hears of it in Jeepay's dialect, durably.
//!
//! - [`intake`]: DaxPay's callback, verified with the identity that owns the order, taken as a
//!   hint: the order is read again with a signed query, the Jeepay notification is built, signed
//!   once and written to the outbox (in the order store), then DaxPay gets `SUCCESS`.
//! - [`deliver`]: the worker that posts due notifications to merchants, on Jeepay's schedule,
//!   leasing each job so that several instances never send one twice at once, fairly (a pool
//!   with a per-host cap, merchants fewest in flight first).
//! - [`returning`]: the payer's browser coming back, redirected to the merchant's return URL
//!   with Jeepay-signed parameters.
//! - [`jobs`]: what a notification says, for a pay order or a refund; for an epay order, the GET
//!   query of `dialect::epay::notification` (payments only).
//! - [`epay_return`]: where an epay payer's browser goes back to (epay.md §12).

pub mod admin;
pub mod deliver;
pub mod epay_return;
pub mod guard;
pub mod intake;
pub mod jobs;
pub mod returning;
pub mod settle;
pub(crate) mod signed_call;

use std::sync::OnceLock;

use tokio::sync::Notify;

/// An unguessable token for an order's callback and return URLs: 128 bits from the OS, in hex.
/// `None` if the OS cannot provide them (the request is then refused, not given a weak token).
pub fn token() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// Wakes the delivery workers of this process: a notification was just written.
pub fn wake() {
    waker().notify_waiters();
}

fn waker() -> &'static Notify {
    static WAKER: OnceLock<Notify> = OnceLock::new();
    WAKER.get_or_init(Notify::new)
}

/// The callback and return URLs of `token` under `public_url`.
pub fn relay_urls(public_url: &str, token: &str) -> (String, String) {
    use crate::dispatch::{DAXPAY_CALLBACK_PREFIX, RETURN_PREFIX};
    (
        format!("{public_url}{DAXPAY_CALLBACK_PREFIX}{token}"),
        format!("{public_url}{RETURN_PREFIX}{token}"),
    )
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_fit_daxpays_200_characters() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let public = format!("https://{}", "p".repeat(112));
        assert_eq!(public.len(), crate::config::MAX_PUBLIC_URL_CHARS);
        let (notify, back) = relay_urls(&public, &a);
        assert!(notify.len() <= 200 && back.len() <= 200, "{}", notify.len());
    }
}
