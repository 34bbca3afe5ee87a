//! The DaxPay `/unipay` dialect: three wire versions, MD5 / HMAC-SHA256 / SM3 signatures.

pub mod sign;
pub mod wire;

pub use sign::{Scheme, SignType, Version};
pub use wire::{Answer, AnswerError, CloseCall};
