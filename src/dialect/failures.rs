//! The one place a [`Failure`] becomes an answer in the dialect of the request it ends: the
//! failure layer (`middleware::dialect_errors`) asks here, with where the request came in as
//! the handler noted it. One arm per merchant dialect.

use std::sync::Arc;

use crate::dialect::merchant::Answer;
use crate::dispatch::Endpoint;
use crate::domain::Failure;

/// Where a request came in, for its failures to be answered in its dialect: the endpoint, and
/// the key epay V2 answers are signed with (its `Debug` shows no key).
#[derive(Debug, Clone)]
pub struct Speaker {
    pub endpoint: Endpoint,
    pub platform_key: Option<Arc<crate::dialect::epay::sign::RsaSigner>>,
}

/// The answer to `failure` for a request that came in at `speaker`'s endpoint, in its dialect
/// (`None`: a request no dialect has claimed yet is answered in Jeepay's).
pub fn failure_answer(failure: &Failure, speaker: Option<&Speaker>) -> Answer {
    match speaker.map(|s| s.endpoint) {
        None | Some(Endpoint::Jeepay(_)) => crate::dialect::jeepay::failure::answer(failure),
        Some(Endpoint::Epay(endpoint)) => crate::dialect::epay::failure::answer(
            failure,
            endpoint,
            speaker.and_then(|s| s.platform_key.as_deref()),
        ),
    }
}
