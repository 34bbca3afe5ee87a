//! The DaxPay `/unipay` dialect: three wire versions, MD5 / HMAC-SHA256 / SM3 signatures, one
//! envelope for every operation, and each operation's wire form in [`ops`].

pub mod envelope;
pub mod ops;
pub mod order_query;
pub mod sign;

pub use envelope::{read_answer, Answer, Caller};
pub use sign::{Scheme, SignType, Version};
