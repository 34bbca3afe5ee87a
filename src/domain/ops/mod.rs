//! One file per operation: its canonical request and outcome, and its pipeline hooks.

pub mod close;
pub mod pay;
pub mod pay_query;
pub mod refund;
pub mod refund_query;

pub use close::{Close, Closed};
pub use pay::{InDialect, Paid, Pay, Relay};
pub use pay_query::PayQuery;
pub use refund::{Refund, Refunded};
pub use refund_query::{KeptRefund, RefundQuery, RefundRecord};
