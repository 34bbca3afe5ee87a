//! The Jeepay / epay-style merchant dialect: MD5-signed requests bound to each operation's
//! declared fields, `{code,data,msg,sign}` answers, and the merchant-facing words of every
//! failure.

pub mod dialect;
pub mod envelope;
pub mod failure;
pub mod fold;
pub mod notification;
pub mod ops;
pub mod params;
mod scan;
pub mod sign;

pub use dialect::Jeepay;
pub use envelope::{Data, Reply};
pub use params::{Params, Request};
