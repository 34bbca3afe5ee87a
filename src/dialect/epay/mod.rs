//! The epay (彩虹易支付) merchant dialect: V1 (`submit.php`, `mapi.php`, `api.php`, MD5) and V2
//! (`/api/pay/*`, SHA256WithRSA with a timestamp).
//!
//! Everything in epay's own terms, as `dialect/jeepay/` holds Jeepay's:
//! - [`sign`], [`params`]: its signatures and PHP's reading of the parameters they cover;
//! - [`request`]: the endpoints and a request's parameters; [`auth`]: `pid`, signature or key,
//!   in the gateway's order and words;
//! - [`money`], [`trade_no`], [`state`], [`ways`]: yuan text, its 19-digit numbers and UTC+8
//!   times, its order states, its `type`/`device` → way code table;
//! - [`php`]: the PHP behaviours its wire depends on (`empty()`, `json_encode`, echoed text);
//! - [`answer`]: its JSON answers (V2 signed with the platform key) and the payer's pages;
//!   [`failure`]: every `Failure` in its codes and words;
//! - `ops/<op>.rs`: each operation's wire form; [`dialect`]: [`Epay`], the `MerchantDialect`,
//!   and every domain operation as a `MerchantOp<Epay>`;
//! - [`notification`]: the GET notification and return query of a paid order (V1 MD5 signed
//!   once, V2 RSA signed at each attempt), and the acknowledgement rule.

pub mod answer;
pub mod auth;
pub mod cashier;
pub mod dialect;
pub mod failure;
pub mod legacy_answer;
pub mod money;
pub mod notification;
pub mod ops;
pub mod params;
pub mod php;
pub mod refund_no;
pub mod request;
pub mod sign;
pub mod state;
pub mod trade_no;
pub mod ways;

#[cfg(test)]
pub(crate) mod test_keys;

pub use dialect::Epay;
