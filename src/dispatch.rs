//! The one table of paths: which merchant path is which operation, and which DaxPay path each
//! DaxPay call goes to. The pipeline, the access log, route validation, `paybridge route` and
//! the upstream client all read it; no other place names a path.
//!
//! Translated operations are registered in [`operations!`], one line each: the operation's
//! kind, its merchant path, its label for logs and metrics, and the canonical type that carries
//! it through the pipeline. [`OpKind`] and the path table are generated from that line here;
//! the pipeline's dispatch is generated from the same line in `proxy::registry`.
//!
//! A request path is read once, by [`target`], as Jeepay's servlet stack would read it
//! ([`alias`]): an alias Spring MVC maps to a translated operation's handler (`%63lose`,
//! `close;jsessionid=1`, a trailing `/`, …) is that operation, and is passed through, when it
//! is, under the operation's own path; a path that only resembles one (a case variant, dot
//! segments, an encoded `/`) is refused, never forwarded raw; every other path passes through
//! byte for byte. The relay endpoints are matched exactly (paybridge wrote those URLs itself).

mod alias;

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

/// The merchant dialects paybridge speaks (`[[merchants]] dialect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// Jeepay (`mchNo` + `appId`, MD5 over declared fields, `{code,data,msg,sign}`).
    #[default]
    Jeepay,
    /// 彩虹易支付 ("epay"): `pid` + `key`, V1 (MD5) and V2 (SHA256WithRSA + `timestamp`).
    Epay,
}

impl Dialect {
    /// The configuration's name for it (`dialect = "epay"`), also used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Jeepay => "jeepay",
            Dialect::Epay => "epay",
        }
    }
}

/// epay's endpoints (epay.md §6, §7), each an operation of [`OpKind`]. V1 is `submit.php`,
/// `mapi.php` and `api.php?act=order|refund`; V2 is `/api/pay/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpayEndpoint {
    /// `submit.php`: a page payment, the payer's browser (answers are HTML).
    Submit,
    /// `mapi.php`: an API payment, server to server.
    Mapi,
    /// `api.php?act=order`: query one order (the key in clear).
    ApiOrder,
    /// `api.php?act=refund`: refund (the key in clear; success is `code` 0).
    ApiRefund,
    /// `/api/pay/submit` (V2 page payment, HTML answers).
    V2Submit,
    /// `/api/pay/create` (V2 unified order).
    V2Create,
    /// `/api/pay/query` (V2; the path is Jeepay's too: a body with `pid` and no `mchNo`).
    V2Query,
    /// `/api/pay/refund` (V2).
    V2Refund,
    /// `/api/pay/refundquery` (V2).
    V2RefundQuery,
    /// `/api/pay/close` (V2, build 3095; the path is Jeepay's too).
    V2Close,
}

/// `api.php`'s own path: the operation is its `act` (query string or form, as PHP's `$_REQUEST`).
pub const EPAY_API_PATH: &str = "/api.php";

impl EpayEndpoint {
    pub const ALL: [EpayEndpoint; 10] = [
        EpayEndpoint::Submit,
        EpayEndpoint::Mapi,
        EpayEndpoint::ApiOrder,
        EpayEndpoint::ApiRefund,
        EpayEndpoint::V2Submit,
        EpayEndpoint::V2Create,
        EpayEndpoint::V2Query,
        EpayEndpoint::V2Refund,
        EpayEndpoint::V2RefundQuery,
        EpayEndpoint::V2Close,
    ];

    /// The canonical operation it is.
    pub fn op(self) -> OpKind {
        match self {
            EpayEndpoint::Submit
            | EpayEndpoint::Mapi
            | EpayEndpoint::V2Submit
            | EpayEndpoint::V2Create => OpKind::Pay,
            EpayEndpoint::ApiOrder | EpayEndpoint::V2Query => OpKind::PayQuery,
            EpayEndpoint::ApiRefund | EpayEndpoint::V2Refund => OpKind::Refund,
            EpayEndpoint::V2RefundQuery => OpKind::RefundQuery,
            EpayEndpoint::V2Close => OpKind::Close,
        }
    }

    /// V2 (`/api/pay/*`: RSA or MD5 with `timestamp`, answers RSA-signed) or V1.
    pub fn is_v2(self) -> bool {
        !matches!(
            self,
            EpayEndpoint::Submit
                | EpayEndpoint::Mapi
                | EpayEndpoint::ApiOrder
                | EpayEndpoint::ApiRefund
        )
    }

    /// Answered as an HTML page for a browser (`submit.php`, `/api/pay/submit`).
    pub fn is_page(self) -> bool {
        matches!(self, EpayEndpoint::Submit | EpayEndpoint::V2Submit)
    }

    /// The path routing rules name it by (`api.php`'s acts share `/api.php`).
    pub fn path(self) -> &'static str {
        match self {
            EpayEndpoint::Submit => "/submit.php",
            EpayEndpoint::Mapi => "/mapi.php",
            EpayEndpoint::ApiOrder | EpayEndpoint::ApiRefund => EPAY_API_PATH,
            EpayEndpoint::V2Submit => "/api/pay/submit",
            EpayEndpoint::V2Create => "/api/pay/create",
            EpayEndpoint::V2Query => "/api/pay/query",
            EpayEndpoint::V2Refund => "/api/pay/refund",
            EpayEndpoint::V2RefundQuery => "/api/pay/refundquery",
            EpayEndpoint::V2Close => "/api/pay/close",
        }
    }

    /// A short, stable name for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            EpayEndpoint::Submit => "epay_submit",
            EpayEndpoint::Mapi => "epay_mapi",
            EpayEndpoint::ApiOrder => "epay_api_order",
            EpayEndpoint::ApiRefund => "epay_api_refund",
            EpayEndpoint::V2Submit => "epay_v2_submit",
            EpayEndpoint::V2Create => "epay_v2_create",
            EpayEndpoint::V2Query => "epay_v2_query",
            EpayEndpoint::V2Refund => "epay_v2_refund",
            EpayEndpoint::V2RefundQuery => "epay_v2_refundquery",
            EpayEndpoint::V2Close => "epay_v2_close",
        }
    }

    /// The endpoint `api.php`'s `act` names (`None`: an act paybridge does not translate).
    pub fn api_act(act: &str) -> Option<EpayEndpoint> {
        match act {
            "order" => Some(EpayEndpoint::ApiOrder),
            "refund" => Some(EpayEndpoint::ApiRefund),
            _ => None,
        }
    }

    /// The epay endpoint whose own path `path` is, exactly (PHP serves no aliases); `api.php`
    /// and the two paths Jeepay shares are decided with the request's parameters.
    fn of_path(path: &str) -> Option<EpayEndpoint> {
        match path {
            "/submit.php" => Some(EpayEndpoint::Submit),
            "/mapi.php" => Some(EpayEndpoint::Mapi),
            "/api/pay/submit" => Some(EpayEndpoint::V2Submit),
            "/api/pay/create" => Some(EpayEndpoint::V2Create),
            "/api/pay/refund" => Some(EpayEndpoint::V2Refund),
            "/api/pay/refundquery" => Some(EpayEndpoint::V2RefundQuery),
            _ => None,
        }
    }

    /// The epay endpoint a request to a path Jeepay shares is, when its parameters are epay's.
    pub fn sharing(op: OpKind) -> Option<EpayEndpoint> {
        match op {
            OpKind::PayQuery => Some(EpayEndpoint::V2Query),
            OpKind::Close => Some(EpayEndpoint::V2Close),
            _ => None,
        }
    }
}

/// Where a request came in, in its dialect's terms: kept in the request's context, so that its
/// answers and its failures are rendered in that dialect and for that endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Jeepay(OpKind),
    Epay(EpayEndpoint),
}

impl Endpoint {
    pub fn dialect(self) -> Dialect {
        match self {
            Endpoint::Jeepay(_) => Dialect::Jeepay,
            Endpoint::Epay(_) => Dialect::Epay,
        }
    }

    /// The canonical operation.
    pub fn op(self) -> OpKind {
        match self {
            Endpoint::Jeepay(op) => op,
            Endpoint::Epay(e) => e.op(),
        }
    }

    /// The path routing sees.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Jeepay(op) => op.path(),
            Endpoint::Epay(e) => e.path(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Jeepay(op) => op.as_str(),
            Endpoint::Epay(e) => e.label(),
        }
    }
}

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

/// The relay endpoint `path` is, if any: a prefix and a token of letters and digits, exactly.
pub fn relay(path: &str) -> Option<Relay<'_>> {
    let token = |rest: &str| {
        (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(())
    };
    if let Some(rest) = path.strip_prefix(DAXPAY_CALLBACK_PREFIX) {
        return token(rest).map(|()| Relay::Callback(rest));
    }
    path.strip_prefix(RETURN_PREFIX)
        .and_then(|rest| token(rest).map(|()| Relay::Return(rest)))
}

/// The operation whose own path `path` is (exactly; [`target`] reads aliases too).
pub fn operation(path: &str) -> Option<OpKind> {
    OpKind::ALL.iter().copied().find(|op| op.path() == path)
}

/// Whether `path` is one paybridge may translate: a Jeepay operation's or an epay endpoint's
/// own path.
pub fn translated(path: &str) -> bool {
    operation(path).is_some() || EpayEndpoint::of_path(path).is_some() || path == EPAY_API_PATH
}

/// What a request path is to paybridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// One of paybridge's relay endpoints.
    Relay(Relay<'a>),
    /// A translated operation: its own path, or an alias Jeepay maps to its handler.
    Operation(OpKind),
    /// An epay endpoint with a path of its own (exact: PHP serves no aliases).
    Epay(EpayEndpoint),
    /// epay's `api.php`: the endpoint is its `act` (query string or form).
    EpayApi,
    /// A path that resembles a translated operation's or the relay's, but that Jeepay would
    /// not map to it: refused (404), never forwarded.
    Refused,
    /// Any other path: passed through byte for byte.
    Other,
}

/// What `path` (a request's raw path) is: the one reading of a path before dispatch.
///
/// The usual path is decided with one scan and no allocation; only a path holding something
/// a servlet stack rewrites (`%`, `;`, `\`, `//`, dot segments, a trailing `/`) is read again.
pub fn target(path: &str) -> Target<'_> {
    if let Some(relay) = relay(path) {
        return Target::Relay(relay);
    }
    if let Some(op) = operation(path) {
        return Target::Operation(op);
    }
    if let Some(endpoint) = EpayEndpoint::of_path(path) {
        return Target::Epay(endpoint);
    }
    if path == EPAY_API_PATH {
        return Target::EpayApi;
    }
    if alias::is_plain(path) {
        let segments = || path[1..].split('/');
        return if resembles_any(segments) {
            Target::Refused
        } else {
            Target::Other
        };
    }
    if let Some(lookup) = alias::spring_lookup(path) {
        let mapped = OpKind::ALL
            .iter()
            .copied()
            .find(|op| alias::spring_matches(&lookup, op.path()));
        if let Some(op) = mapped {
            return Target::Operation(op);
        }
    }
    let loose = alias::loose_segments(path);
    if resembles_any(|| loose.iter().map(String::as_str)) {
        Target::Refused
    } else {
        Target::Other
    }
}

/// Whether the path whose segments `segments` yields resembles a translated operation's path
/// or lies in the relay's namespace.
fn resembles_any<'s, I>(segments: impl Fn() -> I) -> bool
where
    I: Iterator<Item = &'s str> + Clone,
{
    [DAXPAY_CALLBACK_PREFIX, RETURN_PREFIX]
        .iter()
        .any(|prefix| alias::under_loosely(segments(), prefix))
        || OpKind::ALL
            .iter()
            .any(|op| alias::same_loosely(segments(), op.path()))
}

/// The access-log and metrics label of a path (`other` for unknown paths: no new series).
pub fn label(path: &str) -> &'static str {
    match target(path) {
        Target::Operation(op) => return op.as_str(),
        Target::Epay(endpoint) => return endpoint.label(),
        Target::EpayApi => return "epay_api",
        _ => {}
    }
    PASSED_THROUGH
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("other", |(_, label)| label)
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
    /// `/unipay/sync/pay` (2.0: DaxPay asks the channel and repairs the order).
    PaySync,
    /// `/unipay/sync/refund` (2.0: the same for a refund).
    RefundSync,
}

impl DaxCall {
    pub const ALL: [DaxCall; 8] = [
        DaxCall::Close,
        DaxCall::Cancel,
        DaxCall::PayQuery,
        DaxCall::Pay,
        DaxCall::Refund,
        DaxCall::RefundQuery,
        DaxCall::PaySync,
        DaxCall::RefundSync,
    ];

    pub fn path(self) -> &'static str {
        match self {
            DaxCall::Close => "/unipay/close",
            DaxCall::Cancel => "/unipay/cancel",
            DaxCall::PayQuery => "/unipay/query/payOrder",
            DaxCall::Pay => "/unipay/pay",
            DaxCall::Refund => "/unipay/refund",
            DaxCall::RefundQuery => "/unipay/query/refundOrder",
            DaxCall::PaySync => "/unipay/sync/pay",
            DaxCall::RefundSync => "/unipay/sync/refund",
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
        assert_eq!(label("/api/pay/%63lose"), "close");
        assert_eq!(label("/API/pay/close"), "other");
    }

    #[test]
    fn aliases_are_their_operation() {
        for (alias, op) in [
            ("/api/pay/%63lose", OpKind::Close),
            ("/api/pay/close;jsessionid=1", OpKind::Close),
            ("/api/pay/close/", OpKind::Close),
            ("/api//pay/close", OpKind::Close),
            ("//api/pay/close", OpKind::Close),
            ("/api/pay/;x/close", OpKind::Close),
            ("/api/refund/%72efundOrder", OpKind::Refund),
            ("/api/refund/refundOrder;x=1", OpKind::Refund),
            ("/api/pay/unifiedOrder/", OpKind::Pay),
            ("/api/pay/query;a=b/", OpKind::PayQuery),
            ("/api/refund/qu%65ry", OpKind::RefundQuery),
            ("/api/pay/cancel//", OpKind::Cancel),
            ("/api/pay/close//", OpKind::Close),
        ] {
            assert_eq!(target(alias), Target::Operation(op), "{alias}");
        }
    }

    #[test]
    fn look_alikes_are_refused() {
        for refused in [
            "/API/pay/close",
            "/api/pay/Close",
            "/api/pay/./close",
            "/api/pay/x/../close",
            "/api/pay/close/.",
            "/api/pay/close.json",
            "/api/pay%2Fclose",
            "/api/pay/%2563lose",
            "/api/pay/close%3B",
            "/api/refund/REFUNDORDER",
            // The relay's namespace: only the exact form is the relay.
            "/DAXPAY/notify/abc",
            "/daxpay//notify/abc",
            "/daxpay/notify/%61bc",
            "/daxpay/notify/abc;x",
            "/daxpay/notify/abc/def",
            "/daxpay/notify/",
            "/daxpay/notify",
            "/jeepay/return/abc/",
            "/Jeepay/Return/abc",
        ] {
            assert_eq!(target(refused), Target::Refused, "{refused}");
        }
    }

    #[test]
    fn everything_else_is_other_and_the_relay_is_exact() {
        for other in [
            "/",
            "/api/pay/aliBarOrder",
            "/api/pay/aliBarOrder;x=1",
            "/api/pay/notify/wxpay/P1",
            "/api/pay/close/x",
            "/api/pay/closed",
            "/api/transferOrder/",
            "/a/%zz/b",
            // Tomcat refuses it (400) and no server reads `close%` as `close`.
            "/api/pay/close%",
            "/daxpay/other",
        ] {
            assert_eq!(target(other), Target::Other, "{other}");
        }
        assert_eq!(
            target("/daxpay/notify/0a9F"),
            Target::Relay(Relay::Callback("0a9F"))
        );
        assert_eq!(
            target("/jeepay/return/abc"),
            Target::Relay(Relay::Return("abc"))
        );
    }
}
