//! Each operation's epay wire form: how a verified request becomes the canonical operation, in
//! the gateway's check order and words, and how its outcome is answered (V1 JSON, V2 signed
//! JSON, or the payer's page).
//!
//! What DaxPay does not keep and epay answers with (its `trade_no`, the type name, `name`,
//! `param`, when the order was made, how much was refunded) comes from paybridge's order store
//! as [`EpayOrderFacts`].

pub mod close;
pub mod pay;
pub mod pay_query;
pub mod refund;
pub mod refund_query;

use super::request::{EpayRequest, Version};
use crate::config::Merchant;
use crate::dialect::merchant::OrderFacts;
use crate::domain::order::{Fen, PayOrder};
use crate::domain::Failure;

pub(crate) fn invalid(kind: &'static str, words: &'static str) -> Failure {
    Failure::Invalid { kind, words }
}

/// The order a query, refund or close names: epay's `trade_no` wins when given (non-empty),
/// else `out_trade_no`; neither is refused with `words` (`订单号不能为空`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedOrder {
    /// paybridge's epay-style number: the order store finds the merchant's number for it.
    TradeNo(String),
    /// The merchant's own number (`out_trade_no` = Jeepay `mchOrderNo`).
    OutTradeNo(String),
}

impl NamedOrder {
    pub fn read(request: &EpayRequest) -> Result<NamedOrder, Failure> {
        if let Some(trade_no) = request.given("trade_no") {
            Ok(NamedOrder::TradeNo(trade_no.to_owned()))
        } else if let Some(out_trade_no) = request.given("out_trade_no") {
            Ok(NamedOrder::OutTradeNo(out_trade_no.to_owned()))
        } else {
            Err(invalid(
                super::failure::op_kind::NO_ORDER_ID,
                "订单号不能为空",
            ))
        }
    }
}

/// What paybridge's order store keeps of an epay order (absent for an order made elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpayOrderFacts {
    pub trade_no: Option<String>,
    /// The pay type name (`alipay`).
    pub pay_type: Option<String>,
    /// `name` as stored (raw).
    pub name: Option<String>,
    /// `param` as stored (raw).
    pub param: Option<String>,
    /// `clientip` as given.
    pub client_ip: Option<String>,
    /// When the order was taken, Unix milliseconds.
    pub created_at_ms: Option<i64>,
    /// V1 or V2 (which key signs its notifications).
    pub version: Option<Version>,
    /// How much of it has been refunded so far (G3094's `refundmoney`).
    pub refunded: Option<Fen>,
}

/// What is known of an order for its query answer: the order store's epay row (`stored`:
/// `trade_no`, `type`, origin, refunds so far), else the `trade_no` the request named it by; the
/// rest from DaxPay's order and paybridge's pay row (`kept`).
pub fn facts_of(
    order: &PayOrder,
    requested_trade_no: Option<&str>,
    stored: Option<&OrderFacts>,
) -> EpayOrderFacts {
    let kept = order.kept.as_ref();
    EpayOrderFacts {
        trade_no: stored
            .map(|f| f.trade_no.clone())
            .or_else(|| requested_trade_no.map(str::to_owned)),
        pay_type: stored.map(|f| f.pay_type.clone()).filter(|t| !t.is_empty()),
        name: order.title.clone(),
        // DaxPay 2.0.8's query carries no `attach` (lifecycle-2.0.md §4): the stored `param`
        // (lifecycle soak finding ES2).
        param: order
            .attach
            .clone()
            .or_else(|| kept.and_then(|k| k.ext_param.clone())),
        client_ip: kept.and_then(|k| k.client_ip.clone()),
        created_at_ms: kept.map(|k| k.created_at_ms),
        version: stored.and_then(|f| Version::parse(&f.origin)),
        refunded: stored.and_then(|f| f.refunded),
    }
}

/// A merchant order number in the merchant's own terms (a shared identity's prefix removed).
pub fn unprefixed<'n>(number: &'n str, merchant: &Merchant) -> &'n str {
    match merchant.daxpay.order_prefix.as_deref() {
        Some(prefix) => number.strip_prefix(prefix).unwrap_or(number),
        None => number,
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::Endpoint;
    use super::*;

    fn request(params: &[(&str, &str)]) -> EpayRequest {
        EpayRequest::new(
            Endpoint::ApiOrder,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn trade_no_wins_when_given() {
        assert_eq!(
            NamedOrder::read(&request(&[("trade_no", "T"), ("out_trade_no", "O")])).unwrap(),
            NamedOrder::TradeNo("T".into())
        );
        assert_eq!(
            NamedOrder::read(&request(&[("trade_no", ""), ("out_trade_no", "O")])).unwrap(),
            NamedOrder::OutTradeNo("O".into())
        );
        assert!(matches!(
            NamedOrder::read(&request(&[("trade_no", "0")])),
            Err(Failure::Invalid {
                words: "订单号不能为空",
                ..
            })
        ));
    }
}
