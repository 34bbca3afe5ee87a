//! Orders as both gateways know them: references, statuses and exact amounts.

use std::fmt;

/// A pay order, named by the gateway's number, the merchant's, or both (the gateway's wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderRef {
    /// The gateway's order number: Jeepay `payOrderId`, DaxPay `orderNo`.
    pub order_no: Option<String>,
    /// The merchant's order number: Jeepay `mchOrderNo`, DaxPay `bizOrderNo`.
    pub biz_order_no: Option<String>,
}

impl OrderRef {
    /// Empty strings name nothing.
    pub fn new(order_no: Option<&str>, biz_order_no: Option<&str>) -> Self {
        let given = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        OrderRef {
            order_no: given(order_no),
            biz_order_no: given(biz_order_no),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.order_no.is_none() && self.biz_order_no.is_none()
    }
}

/// A DaxPay pay order's `status` (`PayStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayStatus {
    Wait,
    Progress,
    Success,
    Close,
    Cancel,
    Fail,
    /// Set only as a sync result; never seen stored.
    Timeout,
}

impl PayStatus {
    pub const ALL: [PayStatus; 7] = [
        PayStatus::Wait,
        PayStatus::Progress,
        PayStatus::Success,
        PayStatus::Close,
        PayStatus::Cancel,
        PayStatus::Fail,
        PayStatus::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayStatus::Wait => "wait",
            PayStatus::Progress => "progress",
            PayStatus::Success => "success",
            PayStatus::Close => "close",
            PayStatus::Cancel => "cancel",
            PayStatus::Fail => "fail",
            PayStatus::Timeout => "timeout",
        }
    }

    pub fn parse(text: &str) -> Option<PayStatus> {
        PayStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A DaxPay pay order's `refundStatus` (`PayRefundStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
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

    pub fn parse(text: &str) -> Option<RefundStatus> {
        RefundStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A DaxPay refund's `status` (`RefundStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundOrderStatus {
    Progress,
    Success,
    /// The call to the channel failed; DaxPay re-runs it on a refund with the same number.
    Fail,
    /// The channel said it failed; the balance was given back.
    Close,
}

impl RefundOrderStatus {
    pub const ALL: [RefundOrderStatus; 4] = [
        RefundOrderStatus::Progress,
        RefundOrderStatus::Success,
        RefundOrderStatus::Fail,
        RefundOrderStatus::Close,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundOrderStatus::Progress => "progress",
            RefundOrderStatus::Success => "success",
            RefundOrderStatus::Fail => "fail",
            RefundOrderStatus::Close => "close",
        }
    }

    pub fn parse(text: &str) -> Option<RefundOrderStatus> {
        RefundOrderStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// An amount in fen (1/100 yuan), exact: Jeepay counts fen, DaxPay 3.x yuan, and no floating
/// point ever touches either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(pub u64);

/// Why a decimal text is not an amount in whole fen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an amount in whole fen")]
pub struct AmountError(pub String);

impl Fen {
    /// Reads yuan as DaxPay writes them (`12.3`, `12.30`, `12.3000`, `100`): exact, and refused
    /// when it is negative, not plain decimal, or has a fraction of a fen.
    pub fn from_yuan(text: &str) -> Result<Fen, AmountError> {
        let bad = || AmountError(text.to_owned());
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(bad());
        }
        let (cents, beyond) = fraction.split_at(fraction.len().min(2));
        if beyond.bytes().any(|b| b != b'0') {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let cents: u64 = format!("{cents:0<2}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Fen)
            .ok_or_else(bad)
    }

    /// Reads fen as DaxPay 2.0 writes them (a JSON integer).
    pub fn from_fen_text(text: &str) -> Result<Fen, AmountError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError(text.to_owned()));
        }
        text.parse()
            .map(Fen)
            .map_err(|_| AmountError(text.to_owned()))
    }

    /// Yuan as DaxPay signs a decimal, trailing zeros stripped: 1 → `0.01`, 1230 → `12.3`,
    /// 100 → `1`. Sent so, the wire and the signed text are the same.
    pub fn yuan_stripped(self) -> String {
        let (whole, cents) = (self.0 / 100, self.0 % 100);
        match cents {
            0 => whole.to_string(),
            c if c % 10 == 0 => format!("{whole}.{}", c / 10),
            c => format!("{whole}.{c:02}"),
        }
    }

    /// Yuan with two decimals: 1 → `0.01`, 1230 → `12.30`.
    pub fn yuan(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A pay order as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    pub order_no: String,
    pub biz_order_no: String,
    /// The payment channel (`ali_pay`, `wechat_pay`, ...).
    pub channel: Option<String>,
    /// The channel's method (`barcode`, `jsapi`, ...).
    pub method: Option<String>,
    pub amount: Fen,
    pub status: PayStatus,
    pub refund_status: Option<RefundStatus>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The channel's own order number.
    pub out_order_no: Option<String>,
    /// The merchant's extra parameter, echoed.
    pub attach: Option<String>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    /// When it was paid, in Unix milliseconds.
    pub paid_at_ms: Option<i64>,
    /// When DaxPay lets it expire (`expiredTime`), in Unix milliseconds: what the settlement
    /// worker needs to sync an order DaxPay 2.0.8 never closes by itself (`settle::expiry`).
    pub expires_at_ms: Option<i64>,
    /// What DaxPay does not keep, from paybridge's order store (when the order was made
    /// through it).
    pub kept: Option<KeptPay>,
}

/// What paybridge keeps of a pay order that DaxPay does not return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPay {
    pub way_code: String,
    pub currency: String,
    pub client_ip: Option<String>,
    pub created_at_ms: i64,
    /// The merchant's `extParam`: DaxPay 2.0.8's query and notices carry no `attach`
    /// (lifecycle-2.0.md §4, §7.5), so Jeepay's `extParam` comes from here when DaxPay gives none.
    pub ext_param: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_become_exact_fen() {
        for (yuan, fen) in [
            ("0.01", 1),
            ("0.1", 10),
            ("1", 100),
            ("12.3", 1230),
            ("12.30", 1230),
            ("12.3000", 1230),
            ("99999999.99", 9_999_999_999),
            ("0", 0),
        ] {
            assert_eq!(Fen::from_yuan(yuan), Ok(Fen(fen)), "{yuan}");
        }
        for bad in [
            "", ".5", "-1", "1.001", "1e2", "1.2.3", " 1", "+1", "0.005", "1,00",
        ] {
            assert!(Fen::from_yuan(bad).is_err(), "{bad}");
        }
        assert!(Fen::from_yuan("184467440737095516.16").is_err());
    }

    #[test]
    fn fen_are_written_as_yuan_with_two_decimals() {
        assert_eq!(Fen(1).yuan(), "0.01");
        assert_eq!(Fen(100).yuan(), "1.00");
        assert_eq!(Fen(1230).yuan(), "12.30");
        assert_eq!(Fen(9_999_999_999).yuan(), "99999999.99");
        for (fen, text) in [
            (1, "0.01"),
            (10, "0.1"),
            (100, "1"),
            (1230, "12.3"),
            (1201, "12.01"),
            (0, "0"),
        ] {
            assert_eq!(Fen(fen).yuan_stripped(), text);
            assert_eq!(Fen::from_yuan(text), Ok(Fen(fen)));
        }
    }

    #[test]
    fn statuses_read_back_what_they_write() {
        for s in PayStatus::ALL {
            assert_eq!(PayStatus::parse(s.as_str()), Some(s));
        }
        for s in RefundStatus::ALL {
            assert_eq!(RefundStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PayStatus::parse("SUCCESS"), None);
    }

    #[test]
    fn empty_numbers_name_nothing() {
        assert!(OrderRef::new(Some(""), Some("")).is_empty());
        assert_eq!(
            OrderRef::new(Some("P1"), Some("")).order_no.as_deref(),
            Some("P1")
        );
    }
}
