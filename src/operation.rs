//! The canonical operation paybridge performs, independent of either dialect.

use crate::dialect::jeepay::CloseRequest;
use crate::error::GatewayError;

/// Which merchant-facing endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/api/pay/close`: Jeepay's own close.
    Close,
    /// `/api/pay/cancel`: paybridge's extension, the close request mapped to DaxPay's cancel.
    Cancel,
}

impl Endpoint {
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path {
            "/api/pay/close" => Some(Endpoint::Close),
            "/api/pay/cancel" => Some(Endpoint::Cancel),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Close => "close",
            Endpoint::Cancel => "cancel",
        }
    }
}

/// Close (or cancel) one pay order, named by the gateway's number, the merchant's, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseOrder<'a> {
    /// The gateway's order number: Jeepay `payOrderId`, DaxPay `orderNo`.
    pub order_no: Option<&'a str>,
    /// The merchant's order number: Jeepay `mchOrderNo`, DaxPay `bizOrderNo`.
    pub biz_order_no: Option<&'a str>,
    pub cancel: bool,
}

impl<'a> CloseOrder<'a> {
    /// Jeepay requires one non-empty order id (`isAllEmpty`: whitespace counts as given).
    pub fn from_jeepay(req: &'a CloseRequest<'_>, cancel: bool) -> Result<Self, GatewayError> {
        let non_empty = |s: &'a str| (!s.is_empty()).then_some(s);
        let order = CloseOrder {
            order_no: non_empty(&req.pay_order_id),
            biz_order_no: non_empty(&req.mch_order_no),
            cancel,
        };
        if order.order_no.is_none() && order.biz_order_no.is_none() {
            return Err(GatewayError::NoOrderId);
        }
        Ok(order)
    }
}
