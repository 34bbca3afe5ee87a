//! DaxPay's answers, byte for byte in content (key order aside): the unsigned envelope of
//! pre-handler failures and the signed 3.x envelope; for the query endpoint, the same envelope
//! around the pay order. (2.0's answers: [`super::v20::answer`].)
//! Every answer is JSON; DaxPay answers HTTP 200 in every case, the sandbox too except for
//! requests that never reach a DaxPay route (404 / 405).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::value::RawValue;
use time::{OffsetDateTime, UtcOffset};

use super::model::WALL_CLOCK;
use super::result::{self, Member};
use crate::config::SandboxOrder;
use crate::sign::daxpay::Scheme;

/// What a reply is signed with: the app's scheme and its secret.
pub(super) struct Signer<'a> {
    pub scheme: Scheme,
    pub secret: &'a str,
}

impl Signer<'_> {
    fn sign(&self, fields: &[(&str, Cow<'_, str>)]) -> String {
        self.scheme.sign(fields, self.secret)
    }
}

/// Pre-handler failures (and 2.0's shapes A, C, D): never signed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Unsigned<'a> {
    msg: &'a str,
    code: i64,
    data: Option<()>,
    trace_id: String,
}

/// The 3.x response envelope; `data` is null for close and for every refusal, the pay order for
/// a query.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Signed3<'a, D = ()> {
    code: i64,
    msg: &'a str,
    data: Option<D>,
    sign: String,
    res_time: Option<String>,
    trace_id: Option<String>,
}

/// An unsigned `{msg, code, data: null, traceId}` with HTTP 200.
pub(super) fn unsigned(code: i64, msg: &str) -> Response<Full<Bytes>> {
    json(StatusCode::OK, &unsigned_body(code, msg))
}

/// The unsigned envelope for a request that matched no route. `allow` is set for a 405.
pub(super) fn no_route(
    status: StatusCode,
    code: i64,
    msg: &str,
    allow: Option<&'static str>,
) -> Response<Full<Bytes>> {
    let mut response = json(status, &unsigned_body(code, msg));
    if let Some(allow) = allow {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}

fn unsigned_body(code: i64, msg: &str) -> Unsigned<'_> {
    Unsigned {
        msg,
        code,
        data: None,
        trace_id: trace_id(),
    }
}

/// 3.x success: signed over `code, msg, resTime, traceId` (`data` is null, so left out).
pub(super) fn success_3x(
    signer: &Signer<'_>,
    now: OffsetDateTime,
    offset: UtcOffset,
) -> Response<Full<Bytes>> {
    let (code, msg) = (0, "success");
    let res_time = wall_clock(now, offset);
    let trace_id = trace_id();
    let sign = signer.sign(&[
        ("code", Cow::Owned(code.to_string())),
        ("msg", Cow::Borrowed(msg)),
        ("resTime", Cow::Borrowed(&res_time)),
        ("traceId", Cow::Borrowed(&trace_id)),
    ]);
    json(
        StatusCode::OK,
        &Signed3::<()> {
            code,
            msg,
            data: None,
            sign,
            res_time: Some(res_time),
            trace_id: Some(trace_id),
        },
    )
}

/// 3.x business error raised inside the handler: signed over `code` and `msg` only.
pub(super) fn refusal_3x(signer: &Signer<'_>, code: i64, msg: &str) -> Response<Full<Bytes>> {
    let sign = signer.sign(&[
        ("code", Cow::Owned(code.to_string())),
        ("msg", Cow::Borrowed(msg)),
    ]);
    json(
        StatusCode::OK,
        &Signed3::<()> {
            code,
            msg,
            data: None,
            sign,
            res_time: None,
            trace_id: None,
        },
    )
}

/// 3.x query success: `data` is the order's `PayOrderResult` ([`typed_3x`]).
pub(super) fn query_3x(
    signer: &Signer<'_>,
    now: OffsetDateTime,
    offset: UtcOffset,
    order: &SandboxOrder,
) -> Response<Full<Bytes>> {
    let result = result::pay_order_result(order, signer.scheme.version);
    typed_3x(signer, now, offset, &result)
}

/// 3.x success with a typed `data` in declaration order, nulls included; the envelope is
/// signed over `code, msg, data, resTime, traceId`, `data` rendered the hutool way
/// ([`result::signed_json`]).
pub(super) fn typed_3x(
    signer: &Signer<'_>,
    now: OffsetDateTime,
    offset: UtcOffset,
    result: &[(&str, Member)],
) -> Response<Full<Bytes>> {
    let (code, msg) = (0, "success");
    let res_time = wall_clock(now, offset);
    let trace_id = trace_id();
    let signed_data = result::signed_json(result);
    let sign = signer.sign(&[
        ("code", Cow::Owned(code.to_string())),
        ("msg", Cow::Borrowed(msg)),
        ("data", Cow::Borrowed(signed_data.as_str())),
        ("resTime", Cow::Borrowed(res_time.as_str())),
        ("traceId", Cow::Borrowed(trace_id.as_str())),
    ]);
    let Ok(data) = RawValue::from_string(result::wire_json(result)) else {
        return unsigned(10500, "system error");
    };
    json(
        StatusCode::OK,
        &Signed3 {
            code,
            msg,
            data: Some(data),
            sign,
            res_time: Some(res_time),
            trace_id: Some(trace_id),
        },
    )
}

/// `now` as `yyyy-MM-dd HH:mm:ss` on the wall clock of `offset`.
pub(super) fn wall_clock(now: OffsetDateTime, offset: UtcOffset) -> String {
    now.to_offset(offset).format(WALL_CLOCK).unwrap_or_default()
}

pub(super) fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    // Serialising these plain structs cannot fail; the fallback only keeps the body non-empty.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| {
        br#"{"msg":"system error","code":10500,"data":null,"traceId":null}"#.to_vec()
    });
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// DaxPay's trace id: 12 random alphanumerics.
pub(super) fn trace_id() -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(12);
    let mut pool = [0u8; 32];
    while out.len() < 12 {
        if getrandom::fill(&mut pool).is_err() {
            fallback_bytes(&mut pool);
        }
        // Rejection sampling (248 = 4 × 62) keeps every character equally likely.
        for b in pool.iter().filter(|b| **b < 248) {
            if out.len() == 12 {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b % 62)]));
        }
    }
    out
}

/// Trace ids are not secrets: if the OS generator fails, a clock-and-counter mix will do.
fn fallback_bytes(pool: &mut [u8; 32]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    let mut state = nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in pool.chunks_mut(8) {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
}
