//! The sandboxes' own signing, written from `protocols/daxpay.md`, `protocols/jeepay.md` and
//! `protocols/epay.md` without the proxy's code: DaxPay's `PaySignUtil` ([`daxpay`]), Jeepay's
//! MD5 ([`jeepay`]) and epay's MD5 ([`epay`]). Each builds the string to sign in full, then
//! digests it: slow but plain, and checked against the golden vectors.

pub mod daxpay;
pub mod epay;
pub mod jeepay;

#[cfg(test)]
mod tests;
