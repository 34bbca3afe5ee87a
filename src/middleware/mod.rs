//! Tower middleware of the request path, one per module.

pub mod dialect_errors;
pub mod request_id;
