//! DaxPay 2.0.8's answers (`lifecycle-2.0.md` §2.5, §2.6): the envelope
//! `{msg, code, data, traceId}` is never signed; a handler's result is a
//! `PaymentCommonResult` subclass in `data` — `code, msg, resTime, sign`, then the subclass's
//! fields in declaration order, nulls written — signed over every non-null member but `sign`.
//!
//! The four failure shapes: A (before the handler), C (`ValidationFailedException`,
//! `DataNotExistException` inside it) and D (an unexpected exception) are the unsigned
//! envelope with `data: null` ([`Answer::Error`]); B (a `PayFailureException` inside the
//! handler) is envelope code 0 with `data {code: 1, msg}` signed ([`Answer::Refused`]), the
//! specific code replaced by 1.

use std::borrow::Cow;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::super::reply::{self, trace_id};
use super::super::result::{wire_json, Member, Typed};
use crate::sign::daxpay::Scheme;

/// What a 2.0 request is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Shapes A, C and D: `{msg, code, data: null, traceId}`, unsigned.
    Error { code: i64, msg: String },
    /// Shape B: a `PayFailureException`'s message in `data {code: 1, msg, resTime, sign}`.
    Refused(String),
    /// A result: `data {code: 0, msg, resTime, sign, <fields>}`.
    Data { msg: Option<String>, fields: Typed },
}

impl Answer {
    /// A `ValidationFailedException` (10006): the detail after `验证参数错误` and a line
    /// separator.
    pub(crate) fn invalid(detail: &str) -> Answer {
        Answer::Error {
            code: 10006,
            msg: format!("验证参数错误\n{detail}"),
        }
    }

    /// A `DataNotExistException` (10010), shape C.
    pub(crate) fn missing(msg: &str) -> Answer {
        Answer::Error {
            code: 10010,
            msg: msg.to_owned(),
        }
    }

    /// A `NullPointerException` inside the handler (shape D).
    pub(crate) fn null_pointer() -> Answer {
        Answer::Error {
            code: 10001,
            msg: "数据错误".to_owned(),
        }
    }

    pub(crate) fn refused(msg: &str) -> Answer {
        Answer::Refused(msg.to_owned())
    }

    /// A result with a null `msg`.
    pub(crate) fn data(fields: Typed) -> Answer {
        Answer::Data { msg: None, fields }
    }

    /// The envelope code and message, for the log.
    pub(crate) fn summary(&self) -> (i64, &str) {
        match self {
            Answer::Error { code, msg } => (*code, msg),
            Answer::Refused(msg) => (0, msg),
            Answer::Data { msg, .. } => (0, msg.as_deref().unwrap_or("success")),
        }
    }
}

/// The `data` object: `code, msg, resTime, sign` then `fields`, signed.
pub(crate) fn signed_result(
    scheme: Scheme,
    secret: &str,
    now: OffsetDateTime,
    code: u64,
    msg: Option<&str>,
    fields: &[(&'static str, Member)],
) -> Typed {
    let mut data: Typed = vec![
        ("code", Member::Integer(code)),
        (
            "msg",
            msg.map_or(Member::Null, |m| Member::Text(m.to_owned())),
        ),
        (
            "resTime",
            Member::Integer(now.unix_timestamp().unsigned_abs()),
        ),
    ];
    data.extend_from_slice(fields);
    let sign = sign_of(scheme, secret, &data);
    data.insert(3, ("sign", Member::Text(sign)));
    data
}

/// The verifier rule of §2.5 over a flat object: every non-null member but `sign`.
pub(crate) fn sign_of(scheme: Scheme, secret: &str, data: &[(&str, Member)]) -> String {
    let fields: Vec<(&str, Cow<'_, str>)> = data
        .iter()
        .filter(|(k, _)| *k != "sign")
        .filter_map(|(k, v)| v.plain().map(|v| (*k, Cow::Owned(v))))
        .collect();
    scheme.sign(&fields, secret)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    msg: &'a str,
    code: i64,
    data: Box<RawValue>,
    trace_id: String,
}

/// The HTTP answer (always 200).
pub(crate) fn render(
    answer: &Answer,
    scheme: Scheme,
    secret: &str,
    now: OffsetDateTime,
) -> Response<Full<Bytes>> {
    let data = match answer {
        Answer::Error { code, msg } => return reply::unsigned(*code, msg),
        Answer::Refused(msg) => signed_result(scheme, secret, now, 1, Some(msg), &[]),
        Answer::Data { msg, fields } => {
            signed_result(scheme, secret, now, 0, msg.as_deref(), fields)
        }
    };
    let Ok(data) = RawValue::from_string(wire_json(&data)) else {
        return reply::unsigned(10001, "系统错误");
    };
    reply::json(
        StatusCode::OK,
        &Envelope {
            msg: "success",
            code: 0,
            data,
            trace_id: trace_id(),
        },
    )
}
