//! DaxPay's order and refund states in epay's numbers (epay.md §10, §16).
//!
//! epay has 0 unpaid, 1 paid, 2 refunded (build 3094: after any refund, full or partial, with
//! `refundmoney`), 3 frozen, 4 pre-authorised, and no failed or closed state: an order that
//! failed, was closed or cancelled is, to an epay merchant, simply one that was never paid (0).
//! A refund still on its way leaves the order paid (1) until it succeeds.
//!
//! V2 `refundquery.status` has 0 failed and 1 success; a refund DaxPay is still carrying out has
//! no epay value (§17): paybridge answers 2 there, so that it reads neither as done nor as failed
//! (a merchant that took 0 for failed might refund again).

use crate::domain::order::{PayStatus, RefundOrderStatus, RefundStatus};

/// epay's order `status`.
pub fn pay_status(status: PayStatus, refund: Option<RefundStatus>) -> i64 {
    match status {
        PayStatus::Success => match refund {
            Some(RefundStatus::PartialRefund | RefundStatus::Refunded) => 2,
            _ => 1,
        },
        PayStatus::Wait
        | PayStatus::Progress
        | PayStatus::Fail
        | PayStatus::Cancel
        | PayStatus::Close
        | PayStatus::Timeout => 0,
    }
}

/// V2 `refundquery`'s `status`.
pub fn refund_status(status: RefundOrderStatus) -> i64 {
    match status {
        RefundOrderStatus::Success => 1,
        RefundOrderStatus::Fail | RefundOrderStatus::Close => 0,
        RefundOrderStatus::Progress => 2,
    }
}

/// The pay type name for a DaxPay channel, for an order paybridge did not take itself.
pub fn type_of_channel(channel: &str) -> Option<&'static str> {
    match channel {
        "ali_pay" | "alipay_isv" => Some("alipay"),
        "wechat_pay" | "wechat_pay_isv" => Some("wxpay"),
        "union_pay" => Some("bank"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_table_of_epay_md_16() {
        use PayStatus::*;
        for (status, refund, expected) in [
            (Wait, None, 0),
            (Progress, None, 0),
            (Success, None, 1),
            (Success, Some(RefundStatus::NoRefund), 1),
            (Success, Some(RefundStatus::Refunding), 1),
            (Success, Some(RefundStatus::PartialRefund), 2),
            (Success, Some(RefundStatus::Refunded), 2),
            (Fail, None, 0),
            (Cancel, None, 0),
            (Close, None, 0),
            (Timeout, None, 0),
        ] {
            assert_eq!(
                pay_status(status, refund),
                expected,
                "{status:?} {refund:?}"
            );
        }
    }

    #[test]
    fn refund_states() {
        assert_eq!(refund_status(RefundOrderStatus::Success), 1);
        assert_eq!(refund_status(RefundOrderStatus::Close), 0);
        assert_eq!(refund_status(RefundOrderStatus::Fail), 0);
        assert_eq!(refund_status(RefundOrderStatus::Progress), 2);
        assert_eq!(type_of_channel("wechat_pay"), Some("wxpay"));
        assert_eq!(type_of_channel("leshua"), None);
    }
}
