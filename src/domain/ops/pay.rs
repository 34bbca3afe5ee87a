//! Create a pay order (Jeepay's unified order): the merchant's order, on the channel and method
//! its way code stands for.

use crate::domain::failure::Failure;
use crate::domain::operation::{Operation, Unknown};
use crate::domain::order::{Fen, OrderRef, PayStatus};
use crate::domain::way_code::PayRoute;

/// Jeepay's most a pay amount may be here: DaxPay takes at most 8 integer digits of yuan
/// (`@Digits(integer=8, fraction=2)`), so more is refused before DaxPay is called.
pub const MAX_AMOUNT: Fen = Fen(9_999_999_999);

/// What the merchant asked to be paid, in no dialect's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pay {
    /// `biz_order_no`: the merchant's order number in DaxPay's terms (a shared identity's
    /// prefix added); `order_no` is never set.
    pub order: OrderRef,
    /// The merchant's own order number, as it sent it.
    pub mch_order_no: String,
    /// The way code as stored and answered (`AUTO_BAR` already classified).
    pub way_code: String,
    /// The channel and method it maps to, and the shape of its answer.
    pub route: PayRoute,
    pub amount: Fen,
    pub currency: String,
    pub subject: String,
    pub body: String,
    /// The payer's IP, only when it is one (DaxPay checks `@IpAddress`).
    pub client_ip: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// Seconds from now until the order expires (Jeepay's default: 2 h).
    pub expires_in_secs: i64,
    pub ext_param: Option<String>,
    /// Jeepay's `divisionMode`: 0 none, 1 automatic, 2 manual.
    pub division_mode: u8,
    /// From `channelExtra`: a bar code, a WeChat openid, an Alipay buyer id.
    pub auth_code: Option<String>,
    pub open_id: Option<String>,
    /// WeChat ISV: the openid is the sub-merchant's (`isSubOpenId=1`).
    pub sub_open_id: bool,
    pub buyer_id: Option<String>,
    /// Set by the DaxPay wire form for the upstream it goes to (its zone and version).
    pub upstream_text: UpstreamText,
    /// paybridge's own notify and return URLs given to DaxPay in the merchant's stead (set when
    /// the merchant gave its own: the merchant's are kept in the order store).
    pub relay: Relay,
    /// What a merchant dialect other than Jeepay keeps with the order (epay: its `trade_no`).
    pub in_dialect: Option<InDialect>,
}

/// A pay order's number and facts in a merchant dialect other than Jeepay, kept by the order
/// store beside the pay row (`store::DialectOrder`).
#[derive(Debug, Clone)]
pub struct InDialect {
    /// `epay`.
    pub dialect: &'static str,
    /// paybridge's number for the order in the dialect (epay's `trade_no`). When the merchant's
    /// order already has one (a repeated `out_trade_no`), the store's replaces it.
    pub trade_no: String,
    /// A new number, when this one is another order's.
    pub renew: fn() -> String,
    /// Where the order came in (epay: `v1`, `v2`).
    pub origin: &'static str,
    /// The dialect's pay type (epay `type`; `""` when none).
    pub pay_type: String,
}

/// Equal when what is kept is (how a new number is made is no part of it).
impl PartialEq for InDialect {
    fn eq(&self, other: &Self) -> bool {
        (self.dialect, &self.trade_no, self.origin, &self.pay_type)
            == (
                other.dialect,
                &other.trade_no,
                other.origin,
                &other.pay_type,
            )
    }
}

impl Eq for InDialect {}

/// paybridge's URLs that DaxPay calls and sends browsers to, in place of the merchant's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relay {
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// The payer is sent to paybridge's return URL to pay (epay's `jump`: a page of the
    /// gateway's own, showing the QR code while unpaid), so it is made even when the merchant
    /// gave no return URL.
    pub pay_page: bool,
}

/// Values the DaxPay request writes in the upstream's own terms, fixed once the upstream is
/// known: the absolute expiry in its zone, the amount in its unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamText {
    pub expired_time: String,
    pub amount: String,
    pub extra_param: Option<String>,
    /// What the upstream's wire form refuses (a way it cannot serve, a value over its limits),
    /// answered only after the order store's duplicate check: Jeepay refuses a repeated
    /// `mchOrderNo` before any of these (lifecycle.md §2.1 step 3).
    pub refused: Option<BindRefusal>,
}

/// A refusal found while binding the request to its upstream, kept for after the duplicate
/// check (the failures it stands for carry only static texts and numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    WayCodeUnsupported,
    Invalid {
        kind: &'static str,
        words: &'static str,
    },
    TooLong {
        label: &'static str,
        max: usize,
    },
}

impl BindRefusal {
    /// The refusal `failure` stands for, when it is one that can be kept.
    pub fn of(failure: &Failure) -> Option<BindRefusal> {
        match *failure {
            Failure::WayCodeUnsupported => Some(BindRefusal::WayCodeUnsupported),
            Failure::Invalid { kind, words } => Some(BindRefusal::Invalid { kind, words }),
            Failure::TooLong { label, max } => Some(BindRefusal::TooLong { label, max }),
            _ => None,
        }
    }
}

impl From<BindRefusal> for Failure {
    fn from(refusal: BindRefusal) -> Failure {
        match refusal {
            BindRefusal::WayCodeUnsupported => Failure::WayCodeUnsupported,
            BindRefusal::Invalid { kind, words } => Failure::Invalid { kind, words },
            BindRefusal::TooLong { label, max } => Failure::TooLong { label, max },
        }
    }
}

/// What DaxPay created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// DaxPay's order number (Jeepay `payOrderId`).
    pub order_no: String,
    /// The merchant's order number as DaxPay reports it.
    pub biz_order_no: String,
    pub status: PayStatus,
    /// What the payer needs (a URL, QR content, SDK parameters); `None` when there is nothing
    /// (bar codes) or it could not be learnt (an outcome settled by query).
    pub pay_body: Option<String>,
    pub error_msg: Option<String>,
}

impl Operation for Pay {
    type Outcome = Paid;
    const CHANGES_STATE: bool = true;

    fn order(&self) -> &OrderRef {
        &self.order
    }

    fn order_mut(&mut self) -> &mut OrderRef {
        &mut self.order
    }

    fn reported_orders(paid: &mut Paid) -> Vec<&mut String> {
        vec![&mut paid.biz_order_no]
    }

    /// An order that exists was created by this request (DaxPay's merchant numbers are unique
    /// per app, and paybridge's store lets only one request create it): its state is the
    /// answer, though what the payer needs is lost. No order yet: still unknown.
    fn settle_unknown(&self, status: Option<PayStatus>) -> Unknown<Paid> {
        match status {
            None => Unknown::StillUnknown,
            Some(status) => Unknown::Settled(Ok(Paid {
                order_no: String::new(),
                biz_order_no: self.order.biz_order_no.clone().unwrap_or_default(),
                status,
                pay_body: None,
                error_msg: None,
            })),
        }
    }

    /// A pay is never asked of the legacy gateway: a new order belongs to DaxPay.
    fn falls_back_when_not_found(&self) -> bool {
        false
    }
}

impl Pay {
    /// Refused before DaxPay is called when the amount is out of its range.
    pub fn check_amount(amount: Fen) -> Result<Fen, Failure> {
        if amount > MAX_AMOUNT {
            return Err(Failure::Invalid {
                kind: "amount_too_large",
                words: "支付金额超出上限[最多9999999999分]",
            });
        }
        Ok(amount)
    }
}
