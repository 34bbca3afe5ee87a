//! The operations paybridge performs, independent of either dialect: what a merchant asks for,
//! what came of it, and every way it can fail.
//!
//! A dialect turns its wire form into these types and back (`dialect::jeepay::ops`,
//! `dialect::daxpay::ops`); the pipeline (`proxy::pipeline`) moves them between the two.

pub mod failure;
pub mod operation;
pub mod ops;
pub mod order;
pub mod way_code;

pub use crate::dispatch::OpKind;
pub use failure::{AnswerFault, Failure};
pub use operation::{Operation, Unknown};
