//! One file per operation: its canonical request and outcome, and its pipeline hooks.

pub mod close;
pub mod pay_query;

pub use close::{Close, Closed};
pub use pay_query::PayQuery;
