//! The sandboxes' own signing, written from `protocols/daxpay.md` and `protocols/jeepay.md`
//! without the proxy's code: DaxPay's `PaySignUtil` ([`daxpay`]) and Jeepay's MD5
//! ([`jeepay`]). Both build the string to sign in full, then digest it: slow but plain, and
//! checked against every golden vector in the repository's `vectors/golden/`.

pub mod daxpay;
pub mod jeepay;

#[cfg(test)]
mod tests;
