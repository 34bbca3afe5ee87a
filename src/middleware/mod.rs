//! Tower middleware of the request path, one per module.

pub mod dialect_errors;
pub mod in_flight;
pub mod read_body;
pub mod request_id;
pub mod traced;
