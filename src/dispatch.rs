//! The one table of paths: which merchant path is which operation, and which DaxPay path each
//! DaxPay call goes to. The pipeline, the access log, route validation, `paybridge route` and
//! the upstream client all read it; no other place names a path.
//!
//! Translated operations are registered in [`operations!`], one line each: the operation's
//! kind, its merchant path, its label for logs and metrics, and the canonical type that carries
//! it through the pipeline. [`OpKind`] and the path table are generated from that line here;
//! the pipeline's dispatch is generated from the same line in `proxy::registry`.

/// Calls `$callback!` with the registry of translated operations.
#[macro_export]
#[doc(hidden)]
macro_rules! operations {
    ($callback:ident) => {
        $callback! {
            Close => "/api/pay/close", "close", $crate::domain::ops::Close;
            Cancel => "/api/pay/cancel", "cancel", $crate::domain::ops::Close;
            PayQuery => "/api/pay/query", "query", $crate::domain::ops::PayQuery;
            Pay => "/api/pay/unifiedOrder", "unified_order", $crate::domain::ops::Pay;
            Refund => "/api/refund/refundOrder", "refund", $crate::domain::ops::Refund;
            RefundQuery => "/api/refund/query", "refund_query", $crate::domain::ops::RefundQuery;
        }
    };
}
pub use operations;

macro_rules! declare_kinds {
    ($($kind:ident => $path:literal, $label:literal, $op:ty;)+) => {
        /// The merchant-facing operations paybridge translates.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OpKind {
            $($kind,)+
        }

        impl OpKind {
            pub const ALL: &'static [OpKind] = &[$(OpKind::$kind,)+];

            /// A short, stable name for logs, metrics and replay keys.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(OpKind::$kind => $label,)+
                }
            }

            /// The merchant path of this operation.
            pub fn path(self) -> &'static str {
                match self {
                    $(OpKind::$kind => $path,)+
                }
            }
        }
    };
}
operations!(declare_kinds);

/// Merchant paths paybridge knows but only passes through (yet), with their labels, so that
/// the access log and the metrics can tell them apart.
const PASSED_THROUGH: &[(&str, &str)] = &[];

/// Where DaxPay posts an order's callbacks: this prefix and the order's opaque token.
pub const DAXPAY_CALLBACK_PREFIX: &str = "/daxpay/notify/";
/// Where payers' browsers come back from DaxPay: this prefix and the order's opaque token.
pub const RETURN_PREFIX: &str = "/jeepay/return/";

/// paybridge's own endpoints on the merchant listener, beside the merchant API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay<'a> {
    /// A DaxPay callback for the order or refund with this token.
    Callback(&'a str),
    /// A payer's browser coming back for the order with this token.
    Return(&'a str),
}

/// The relay endpoint `path` is, if any.
pub fn relay(path: &str) -> Option<Relay<'_>> {
    let token = |rest: &str| (!rest.is_empty() && !rest.contains('/')).then_some(());
    if let Some(rest) = path.strip_prefix(DAXPAY_CALLBACK_PREFIX) {
        return token(rest).map(|()| Relay::Callback(rest));
    }
    path.strip_prefix(RETURN_PREFIX)
        .and_then(|rest| token(rest).map(|()| Relay::Return(rest)))
}

/// The operation paybridge translates `path` as.
pub fn operation(path: &str) -> Option<OpKind> {
    OpKind::ALL.iter().copied().find(|op| op.path() == path)
}

/// The access-log and metrics label of a path (`other` for unknown paths: no new series).
pub fn label(path: &str) -> &'static str {
    match operation(path) {
        Some(op) => op.as_str(),
        None => PASSED_THROUGH
            .iter()
            .find(|(p, _)| *p == path)
            .map_or("other", |(_, label)| label),
    }
}

/// The calls paybridge makes to DaxPay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaxCall {
    /// `/unipay/close` (3.x: `useCancel` chooses a cancel).
    Close,
    /// `/unipay/cancel` (2.0 only).
    Cancel,
    /// `/unipay/query/payOrder`.
    PayQuery,
    /// `/unipay/pay`.
    Pay,
    /// `/unipay/refund`.
    Refund,
    /// `/unipay/query/refundOrder`.
    RefundQuery,
}

impl DaxCall {
    pub const ALL: [DaxCall; 6] = [
        DaxCall::Close,
        DaxCall::Cancel,
        DaxCall::PayQuery,
        DaxCall::Pay,
        DaxCall::Refund,
        DaxCall::RefundQuery,
    ];

    pub fn path(self) -> &'static str {
        match self {
            DaxCall::Close => "/unipay/close",
            DaxCall::Cancel => "/unipay/cancel",
            DaxCall::PayQuery => "/unipay/query/payOrder",
            DaxCall::Pay => "/unipay/pay",
            DaxCall::Refund => "/unipay/refund",
            DaxCall::RefundQuery => "/unipay/query/refundOrder",
        }
    }

    /// The position of this call in [`DaxCall::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_once() {
        let mut paths: Vec<&str> = OpKind::ALL.iter().map(|op| op.path()).collect();
        paths.extend(PASSED_THROUGH.iter().map(|(p, _)| *p));
        let mut unique = paths.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
        for (i, call) in DaxCall::ALL.into_iter().enumerate() {
            assert_eq!(call.index(), i);
        }
    }

    #[test]
    fn operations_and_labels() {
        assert_eq!(operation("/api/pay/close"), Some(OpKind::Close));
        assert_eq!(operation("/api/pay/cancel"), Some(OpKind::Cancel));
        assert_eq!(operation("/api/refund/query"), Some(OpKind::RefundQuery));
        assert_eq!(label("/api/refund/query"), "refund_query");
        assert_eq!(label("/api/pay/unifiedOrder"), "unified_order");
        assert_eq!(label("/api/pay/close"), "close");
        assert_eq!(label("/nope"), "other");
    }
}
