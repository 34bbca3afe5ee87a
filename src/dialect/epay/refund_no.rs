//! epay's `refund_no` (epay.md §7.4, §9): the gateway's own 19-digit number for a refund, which
//! V2's `refundquery` finds a refund by, beside the merchant's `out_refund_no`.
//!
//! The least invasive mapping onto paybridge's refunds, which are keyed by the merchant refund
//! number (`refund_orders.mch_refund_no`, DaxPay's `bizRefundNo`):
//!
//! - No `out_refund_no` (V1 always) or one of 5 characters or fewer (the gateway ignores it):
//!   paybridge generates the merchant refund number as the gateway generates `refund_no`
//!   (`date("YmdHis")` + 5 digits), so `refund_no` = `out_refund_no` = that number, as the
//!   gateway answers (§6.5, §7.4), and both find the refund by its key.
//! - A longer `out_refund_no` (the merchant's idempotency key) stays the key; its `refund_no` is
//!   derived from it: the number itself when it is already 19 digits, else `9` and 18 digits of
//!   its SHA-256 (a generated number starts with the year, `20…`, so the two never meet until
//!   the year 9000). Derived, it needs no storage to be answered again (a repeat, a query by
//!   `out_refund_no`); to find the refund *by* it, paybridge gives it to DaxPay as the refund's
//!   `attach` (epay has no refund field of its own there) and the order store keeps it in the
//!   refund row's `ext_param`, where `refundquery` looks when the number is no merchant refund
//!   number (`store::OrderStore::refund_by_dialect_no`, on migration 0009's partial index). No
//!   new table, no second key, nothing for the refund path to write beyond the row it writes.

use sha2::{Digest, Sha256};

/// The `refund_no` of the refund whose merchant refund number is `mch_refund_no`.
pub fn of(mch_refund_no: &str) -> String {
    if mch_refund_no.len() == 19 && mch_refund_no.bytes().all(|b| b.is_ascii_digit()) {
        return mch_refund_no.to_owned();
    }
    let digest = Sha256::digest(mch_refund_no.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!(
        "9{:018}",
        u64::from_be_bytes(first) % 1_000_000_000_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_number_is_its_own_refund_no() {
        assert_eq!(of("2024070112000054321"), "2024070112000054321");
    }

    #[test]
    fn a_merchants_long_number_gets_a_stable_19_digit_one() {
        let a = of("REFUND-0001");
        assert_eq!(a.len(), 19);
        assert!(
            a.starts_with('9') && a.bytes().all(|b| b.is_ascii_digit()),
            "{a}"
        );
        assert_eq!(a, of("REFUND-0001"));
        assert_ne!(a, of("REFUND-0002"));
    }
}
