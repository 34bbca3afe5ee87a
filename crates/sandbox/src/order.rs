//! What a DaxPay pay order is made of, shared by the configuration and the sandbox: its
//! statuses and its amount.

use std::fmt;
use std::str::FromStr;

/// DaxPay's pay order statuses (`PayStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Wait,
    Progress,
    Success,
    Close,
    Cancel,
    Fail,
    Timeout,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Wait,
        OrderStatus::Progress,
        OrderStatus::Success,
        OrderStatus::Close,
        OrderStatus::Cancel,
        OrderStatus::Fail,
        OrderStatus::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Wait => "wait",
            OrderStatus::Progress => "progress",
            OrderStatus::Success => "success",
            OrderStatus::Close => "close",
            OrderStatus::Cancel => "cancel",
            OrderStatus::Fail => "fail",
            OrderStatus::Timeout => "timeout",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                format!("unknown order status `{s}` (expected wait, progress, success, close, cancel, fail or timeout)")
            })
    }
}

/// DaxPay's refund status of a pay order (`PayRefundStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RefundStatus {
    #[default]
    NoRefund,
    Refunding,
    PartialRefund,
    Refunded,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 4] = [
        RefundStatus::NoRefund,
        RefundStatus::Refunding,
        RefundStatus::PartialRefund,
        RefundStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::NoRefund => "no_refund",
            RefundStatus::Refunding => "refunding",
            RefundStatus::PartialRefund => "partial_refund",
            RefundStatus::Refunded => "refunded",
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RefundStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefundStatus::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                format!("unknown refund status `{s}` (expected no_refund, refunding, partial_refund or refunded)")
            })
    }
}

/// DaxPay's refund order statuses (`RefundStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundOrderStatus {
    Progress,
    Success,
    /// The channel call failed synchronously: retryable with the same `bizRefundNo`.
    Fail,
    /// The channel reported the refund failed later; the balance is given back.
    Close,
}

impl RefundOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundOrderStatus::Progress => "progress",
            RefundOrderStatus::Success => "success",
            RefundOrderStatus::Fail => "fail",
            RefundOrderStatus::Close => "close",
        }
    }
}

impl fmt::Display for RefundOrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refund order held by the DaxPay sandbox, as `RefundOrderResult` reports it (plus the app
/// it belongs to). Times are on the sandbox's wall clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRefund {
    pub app_id: Option<String>,
    pub order_id: u64,
    pub order_no: String,
    pub out_order_no: Option<String>,
    pub biz_order_no: String,
    pub title: Option<String>,
    pub refund_no: String,
    pub biz_refund_no: String,
    pub out_refund_no: Option<String>,
    pub channel: String,
    /// The pay order's amount.
    pub order_amount: Amount,
    pub amount: Amount,
    pub reason: Option<String>,
    pub finish_time: Option<time::PrimitiveDateTime>,
    pub status: RefundOrderStatus,
    pub attach: Option<String>,
    pub client_ip: Option<String>,
    /// 2.0: the channel's error code of a failed refund (`"0"` when it was no channel error).
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    /// Where DaxPay POSTs the refund's callbacks (`notifyUrl` of `/unipay/refund`).
    pub notify_url: Option<String>,
}

/// An amount of money in fen (hundredths of a yuan), as written in yuan (`12.30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    fen: u64,
}

impl Amount {
    pub const ZERO: Amount = Amount { fen: 0 };

    pub fn from_fen(fen: u64) -> Amount {
        Amount { fen }
    }

    pub fn fen(self) -> u64 {
        self.fen
    }

    /// As DaxPay 3.x stores and writes it, `numeric(16,4)`: `12.3000`.
    pub fn yuan_4(self) -> String {
        format!("{}.{:02}00", self.fen / 100, self.fen % 100)
    }

    /// Whole yuan, truncated: MapStruct's `BigDecimal.intValue()` (`12.99` → 12).
    pub fn whole_yuan(self) -> u64 {
        self.fen / 100
    }
}

impl FromStr for Amount {
    type Err = String;
    /// Yuan with at most two decimals, `0.01` or more and below 10⁸ (`@Digits(8, 2)`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not an amount in yuan like 12.30 (0.01 to 99999999.99)");
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || int.len() > 8 || frac.len() > 2 || !digits(int) || !digits(frac) {
            return Err(bad());
        }
        if s.ends_with('.') {
            return Err(bad());
        }
        let int: u64 = int.parse().map_err(|_| bad())?;
        let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        match int * 100 + frac {
            0 => Err(bad()),
            fen => Ok(Amount { fen }),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.fen / 100, self.fen % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_as_yuan() {
        assert_eq!("0.01".parse::<Amount>().map(Amount::fen), Ok(1));
        assert_eq!("12.3".parse::<Amount>().map(Amount::fen), Ok(1230));
        assert_eq!("7".parse::<Amount>().map(Amount::fen), Ok(700));
        assert_eq!(Amount::from_fen(1230).yuan_4(), "12.3000");
        assert_eq!(Amount::from_fen(1).to_string(), "0.01");
        for bad in [
            "",
            "0",
            "0.00",
            "1.234",
            "-1",
            "1.",
            ".5",
            "1e2",
            "123456789",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
    }
}
