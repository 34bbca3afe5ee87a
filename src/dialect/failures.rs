//! The one place a [`Failure`] becomes an answer in the dialect of the request it ends: the
//! failure layer (`middleware::dialect_errors`) asks here, with where the request came in as
//! the handler noted it. One arm per merchant dialect.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

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
        // Until epay's renderer is wired (epaywire), its failures are answered as mapi.php's
        // JSON `{"code":-1,"msg":…}`.
        Some(Endpoint::Epay(_)) => interim_epay_failure(failure),
    }
}

fn interim_epay_failure(failure: &Failure) -> Answer {
    let msg = crate::dialect::jeepay::failure::Words(failure).to_string();
    let body = serde_json::json!({"code": -1, "msg": msg}).to_string();
    Answer {
        status: StatusCode::OK,
        content_type: HeaderValue::from_static("application/json; charset=UTF-8"),
        body: Bytes::from(body),
        code: Some(-1),
    }
}
