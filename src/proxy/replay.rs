//! The replay store's side of the pipeline: claiming a verified request before it is carried
//! out, and recording its outcome after, so that a re-sent request gets the first answer.
//!
//! Stored entries are `status (2 bytes) · content-type length (2) · content-type · body`.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use super::context::Context;
use super::passthrough;
use super::runtime::{Runtime, JSON_UTF8};
use crate::config::REPLAY_MARGIN;
use crate::dialect::failures::failure_answer;
use crate::domain::Failure;
use crate::replay::{Claim, Earlier, Key, Store, StoreError, Ticket};
use crate::upstream::Answered;

/// The `code` of a JSON answer body (either dialect's), if it is one.
fn jeepay_code(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Coded {
        code: i64,
    }
    serde_json::from_slice::<Coded>(body).ok().map(|c| c.code)
}

pub(super) enum Claimed {
    Replay {
        stored: Response<Full<Bytes>>,
        /// The replayed answer's Jeepay code, for the access log.
        code: Option<i64>,
    },
    Go {
        ticket: Option<Ticket>,
        /// A retry of a request whose outcome is unknown: its earlier attempt.
        retry: Option<Earlier>,
    },
}

/// Claims a verified request in the replay store. `fresh_until`: when the request stops
/// passing the `reqTime` check (`None`: never, it has no window); `wait`: how long a duplicate
/// waits for the first request's outcome.
pub(super) async fn claim(
    rt: &Runtime,
    replay: Option<&Store>,
    key: impl FnOnce() -> Key,
    fresh_until: Option<SystemTime>,
    wait: Duration,
) -> Result<Claimed, Failure> {
    let Some(store) = replay else {
        return Ok(Claimed::Go {
            ticket: None,
            retry: None,
        });
    };
    let ttl = entry_ttl(rt.config.replay.ttl, fresh_until, SystemTime::now());
    match store.claim(key(), ttl, wait).await {
        Ok(Claim::Fresh(ticket)) => Ok(Claimed::Go {
            ticket: Some(ticket),
            retry: None,
        }),
        Ok(Claim::Retry(ticket, earlier)) => Ok(Claimed::Go {
            ticket: Some(ticket),
            retry: Some(earlier),
        }),
        Ok(Claim::Replay(bytes)) => {
            let (stored, code) = decode_stored(bytes)?;
            Ok(Claimed::Replay { stored, code })
        }
        Err(StoreError::StillInProgress) => Err(Failure::DuplicateInProgress),
        Err(e @ StoreError::Unavailable(_)) => {
            metrics::counter!("paybridge_replay_store_errors_total").increment(1);
            if rt.config.replay.fail_open {
                tracing::error!(
                    error = crate::telemetry::text(&e).as_str(),
                    "replay store unavailable: carrying on without replay protection"
                );
                Ok(Claimed::Go {
                    ticket: None,
                    retry: None,
                })
            } else {
                tracing::error!(
                    error = crate::telemetry::text(&e).as_str(),
                    "replay store unavailable: refusing"
                );
                Err(Failure::ReplayStoreDown)
            }
        }
    }
}

/// How long an entry is kept (counted again from its completion): the configured TTL, and at
/// least until its request can no longer be fresh, plus a margin. A `reqTime` may lie up to one
/// window in the future, so an entry kept only for the window would die while a replay of its
/// request still passes the check.
fn entry_ttl(configured: Duration, fresh_until: Option<SystemTime>, now: SystemTime) -> Duration {
    match fresh_until {
        Some(until) => {
            configured.max(until.duration_since(now).unwrap_or_default() + REPLAY_MARGIN)
        }
        None => configured,
    }
}

/// Stores the outcome for duplicates: definitive answers are replayed; an unknown outcome is
/// remembered so a retry resolves it; nothing is kept when nothing was done.
pub(super) async fn record(
    cx: &Context,
    ticket: Option<Ticket>,
    outcome: Result<Answered, Failure>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let Some(ticket) = ticket else {
        return outcome.map(passthrough::into_response);
    };
    match outcome {
        Ok(answer) => {
            let content_type = answer.headers.get(CONTENT_TYPE);
            let stored = encode_stored(answer.status, content_type, &answer.body);
            ticket.complete(stored).await;
            Ok(passthrough::into_response(answer))
        }
        Err(e) if e.is_definitive() => {
            // Rendered once, here, in the request's dialect: the stored bytes are the answer too.
            let mut speaker = None;
            cx.note(|r| speaker = r.speaker.clone());
            let answer = failure_answer(&e, speaker.as_ref());
            let stored = encode_stored(answer.status, Some(&answer.content_type), &answer.body);
            ticket.complete(stored.clone()).await;
            cx.note(|r| {
                r.code = answer.code;
                r.error_kind = Some(e.kind());
            });
            tracing::debug!(
                kind = e.kind(),
                msg = crate::telemetry::text(&e).as_str(),
                "request refused"
            );
            stored_response(stored).map_err(|()| corrupt_entry())
        }
        Err(e) if e.outcome_unknown() => {
            ticket.unknown().await;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// `status (2 bytes) · content-type length (2) · content-type · body`.
fn encode_stored(status: StatusCode, content_type: Option<&HeaderValue>, body: &[u8]) -> Bytes {
    let content_type = content_type.map_or(&b""[..], |v| v.as_bytes());
    let ct_len = content_type.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(4 + ct_len + body.len());
    out.extend_from_slice(&status.as_u16().to_be_bytes());
    out.extend_from_slice(&(ct_len as u16).to_be_bytes());
    out.extend_from_slice(&content_type[..ct_len]);
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// A stored entry's status, content type and where its body starts.
fn stored_head(stored: &[u8]) -> Option<(StatusCode, &[u8], usize)> {
    let head = stored.get(..4)?;
    let status = StatusCode::from_u16(u16::from_be_bytes([head[0], head[1]])).ok()?;
    let body_start = 4 + usize::from(u16::from_be_bytes([head[2], head[3]]));
    Some((status, stored.get(4..body_start)?, body_start))
}

/// The answer held in a stored entry (its body shares the entry's bytes).
fn stored_response(stored: Bytes) -> Result<Response<Full<Bytes>>, ()> {
    let (status, content_type, body_start) = stored_head(&stored).ok_or(())?;
    let content_type = match content_type {
        b"" => None,
        ct if ct == JSON_UTF8.as_bytes() => Some(JSON_UTF8),
        ct => Some(HeaderValue::from_bytes(ct).map_err(|_| ())?),
    };
    let mut response = Response::new(Full::new(stored.slice(body_start..)));
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(response)
}

fn corrupt_entry() -> Failure {
    tracing::error!("replay store returned a malformed entry");
    Failure::Internal
}

/// A replayed answer, marked as such, and its Jeepay code for the access log.
fn decode_stored(stored: Bytes) -> Result<(Response<Full<Bytes>>, Option<i64>), Failure> {
    let code = stored_head(&stored).and_then(|(_, _, start)| jeepay_code(&stored[start..]));
    let mut response = stored_response(stored).map_err(|()| corrupt_entry())?;
    response
        .headers_mut()
        .insert("x-paybridge-replay", HeaderValue::from_static("true"));
    Ok((response, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_until_its_request_is_stale() {
        let now = SystemTime::now();
        let ttl = Duration::from_secs(20);
        // reqTime 18 s ahead, window 20 s: fresh for 38 s more.
        let until = now + Duration::from_secs(38);
        assert_eq!(
            entry_ttl(ttl, Some(until), now),
            Duration::from_secs(38) + REPLAY_MARGIN
        );
        // Already stale (or about to be): the configured TTL still holds.
        assert_eq!(entry_ttl(ttl, Some(now - Duration::from_secs(1)), now), ttl);
        assert_eq!(entry_ttl(ttl, None, now), ttl);
    }
}
