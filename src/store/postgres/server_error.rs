//! PostgreSQL's errors in words an operator can act on. `tokio_postgres::Error`'s `Display` of a
//! server error is only "db error", and deadpool wraps a failed connect as "Error occurred while
//! creating a new object: db error": the server's own SQLSTATE and message (`28P01 password
//! authentication failed for user "pb"`, `3D000 database "x" does not exist`) are dug out here
//! so that they reach the log, `/readyz` and `paybridge check`. Neither the server nor the
//! driver quotes the password; what is kept is passed through the URL redaction all the same.

use deadpool_postgres::{PoolError, TimeoutType};

use crate::store::rows::StoreError;

/// The server's SQLSTATE and message when it sent one, else the driver's words with their
/// cause (`error connecting to server: Connection refused (os error 111)`).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                let words = cause.to_string();
                if !text.contains(&words) {
                    text.push_str(&format!(": {words}"));
                }
                source = cause.source();
            }
            text
        }
    };
    crate::secret::redact_userinfo(&text)
}

/// A statement's failure.
pub(crate) fn unavailable(e: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: {}", describe(e)))
}

/// Waiting for a pooled connection failed: the connect's own error when there was one.
pub(crate) fn from_pool(e: PoolError) -> StoreError {
    let text = match e {
        PoolError::Backend(e) => describe(&e),
        PoolError::Timeout(TimeoutType::Create) => {
            "no connection within the connect timeout (server unreachable or not answering)"
                .to_owned()
        }
        PoolError::Timeout(TimeoutType::Wait) => {
            "every pooled connection stayed busy for the wait timeout".to_owned()
        }
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("PostgreSQL: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_says_what_was_waited_for() {
        let e = from_pool(PoolError::Timeout(TimeoutType::Create)).to_string();
        assert!(e.contains("connect timeout"), "{e}");
        assert!(!e.contains("creating a new object"), "{e}");
    }
}
