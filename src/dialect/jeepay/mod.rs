//! The Jeepay / epay-style merchant dialect: MD5-signed requests, `{code,data,msg,sign}` answers.

pub mod sign;
pub mod wire;

pub use wire::{CloseRequest, Params, Reply};
