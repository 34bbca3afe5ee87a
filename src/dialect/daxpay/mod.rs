//! The DaxPay `/unipay` dialect: three wire versions, MD5 / HMAC-SHA256 / SM3 signatures, one
//! envelope for every operation, and each operation's wire form in [`ops`].

pub mod answer;
pub mod answer_source;
pub mod callback;
pub mod envelope;
pub mod ops;
pub mod order_query;
pub mod render;
pub mod res_time;
pub mod sign;

pub use answer::{read_answer, read_fresh_answer, Answer};
pub use envelope::Caller;
pub use res_time::ResTimeCheck;
pub use sign::{Scheme, SignType, Version};
