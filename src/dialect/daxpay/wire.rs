//! DaxPay's close/cancel request as paybridge sends it, and DaxPay's answer as paybridge checks it.
//!
//! Sending: only the fields the version declares, `useCancel` always explicit in 3.x (the server
//! signs its primitive default `false` when it is absent), no empty strings.
//! Receiving: a success counts only when its signature verifies; an unsigned error is still an
//! error (DaxPay answers pre-handler failures unsigned).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::UtcOffset;

use super::sign::{self, Scheme, Version};

/// What to close, for whom, and how to sign it.
#[derive(Debug)]
pub struct CloseCall<'a> {
    pub scheme: Scheme,
    pub secret: &'a str,
    pub mch_no: Option<&'a str>,
    pub app_id: Option<&'a str>,
    /// The gateway's order number (`payOrderId` in Jeepay).
    pub order_no: Option<&'a str>,
    /// The merchant's order number (`mchOrderNo` in Jeepay).
    pub biz_order_no: Option<&'a str>,
    pub cancel: bool,
    pub client_ip: Option<&'a str>,
    pub utc_offset: UtcOffset,
    pub now: OffsetDateTime,
    pub nonce: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mch_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<&'a str>,
    nonce_str: &'a str,
    req_time: ReqTime<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_order_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    use_cancel: Option<bool>,
    sign: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ReqTime<'a> {
    Wall(&'a str),
    EpochSeconds(i64),
}

/// `yyyy-MM-dd HH:mm:ss` in the given offset, as DaxPay 3.x sends and expects `reqTime`.
pub fn wall_clock(now: OffsetDateTime, offset: UtcOffset) -> String {
    let t = now.to_offset(offset);
    let mut s = String::with_capacity(19);
    use std::fmt::Write as _;
    let _ = write!(
        s,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    s
}

/// 16 lower-case hex characters of fresh randomness.
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source failing is not recoverable in any useful way; fall back to time.
        bytes = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes()[..8]
            .try_into()
            .unwrap_or_default();
    }
    hex::encode(bytes)
}

impl CloseCall<'_> {
    /// The request path and JSON body for this call's version.
    pub fn encode(&self) -> (&'static str, Vec<u8>) {
        self.encode_for(false)
    }

    /// The `/unipay/query/payOrder` call for the same order (used to resolve unknown outcomes).
    pub fn encode_query(&self) -> (&'static str, Vec<u8>) {
        self.encode_for(true)
    }

    fn encode_for(&self, query: bool) -> (&'static str, Vec<u8>) {
        let version = self.scheme.version;
        let wall;
        let seconds;
        let (req_time, req_time_text): (ReqTime<'_>, Cow<'_, str>) = match version {
            Version::V2_0 => {
                seconds = self.now.unix_timestamp();
                (
                    ReqTime::EpochSeconds(seconds),
                    Cow::Owned(seconds.to_string()),
                )
            }
            _ => {
                wall = wall_clock(self.now, self.utc_offset);
                (ReqTime::Wall(&wall), Cow::Borrowed(wall.as_str()))
            }
        };
        let (mch_no, app_id, mut use_cancel, mut path) = match version {
            Version::V3_0 => (self.mch_no, self.app_id, Some(self.cancel), "/unipay/close"),
            Version::V3_0Beta => (None, self.app_id, Some(self.cancel), "/unipay/close"),
            Version::V2_0 if self.cancel => (None, None, None, "/unipay/cancel"),
            Version::V2_0 => (None, None, None, "/unipay/close"),
        };
        if query {
            use_cancel = None;
            path = "/unipay/query/payOrder";
        }
        let order_no = non_empty(self.order_no);
        let biz_order_no = non_empty(self.biz_order_no);
        let client_ip = non_empty(self.client_ip);

        let mut fields: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(9);
        let optional = [
            ("mchNo", mch_no),
            ("appId", app_id),
            ("clientIp", client_ip),
            ("nonceStr", Some(self.nonce)),
            ("orderNo", order_no),
            ("bizOrderNo", biz_order_no),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                fields.push((key, Cow::Borrowed(v)));
            }
        }
        fields.push(("reqTime", req_time_text));
        if let Some(c) = use_cancel {
            fields.push(("useCancel", Cow::Borrowed(if c { "true" } else { "false" })));
        }
        let signature = self.scheme.sign(&mut fields, self.secret);

        let body = CloseBody {
            mch_no,
            app_id,
            client_ip,
            nonce_str: self.nonce,
            req_time,
            order_no,
            biz_order_no,
            use_cancel,
            sign: &signature,
        };
        // Serialising plain strings, numbers and booleans cannot fail.
        (path, serde_json::to_vec(&body).unwrap_or_default())
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|s| !s.is_empty())
}

/// A verified DaxPay answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A signed, verified success, with its `data` (null for close; the order for a query).
    Done {
        trace_id: Option<String>,
        data: Value,
    },
    /// The upstream refused. `signed` is false for DaxPay's unsigned pre-handler failures.
    Refused {
        code: i64,
        msg: String,
        signed: bool,
        trace_id: Option<String>,
    },
}

/// Why an answer cannot be believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("answer is not a DaxPay JSON envelope: {0}")]
    Malformed(String),
    #[error("success answer carries no signature")]
    UnsignedSuccess,
    #[error("answer signature does not verify")]
    BadSignature,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    code: i64,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    sign: Option<String>,
    #[serde(default)]
    res_time: Option<Value>,
    #[serde(default)]
    trace_id: Option<String>,
}

/// Checks an answer body from a DaxPay upstream signing with `scheme` and `secret`.
pub fn read_answer(scheme: &Scheme, secret: &str, body: &[u8]) -> Result<Answer, AnswerError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| AnswerError::Malformed(e.to_string()))?;
    match scheme.version {
        Version::V3_0 | Version::V3_0Beta => read_envelope_signed(scheme, secret, envelope),
        Version::V2_0 => read_data_signed(scheme, secret, envelope),
    }
}

fn read_envelope_signed(scheme: &Scheme, secret: &str, e: Envelope) -> Result<Answer, AnswerError> {
    let msg = e.msg.clone().unwrap_or_default();
    let Some(given) = e.sign.as_deref().filter(|s| !s.is_empty()) else {
        return if e.code == 0 {
            Err(AnswerError::UnsignedSuccess)
        } else {
            Ok(refused(e.code, msg, false, e.trace_id))
        };
    };
    // DaxPay signs its result model: code, msg, data, resTime, traceId, nulls left out.
    let code = e.code.to_string();
    let mut fields: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(5);
    fields.push(("code", Cow::Borrowed(&code)));
    if let Some(m) = &e.msg {
        fields.push(("msg", Cow::Borrowed(m)));
    }
    if let Some(d) = sign::render(&e.data) {
        fields.push(("data", d));
    }
    if let Some(t) = e.res_time.as_ref().and_then(sign::render) {
        fields.push(("resTime", t));
    }
    if let Some(t) = &e.trace_id {
        fields.push(("traceId", Cow::Borrowed(t)));
    }
    if !scheme.verify(&mut fields, secret, given) {
        return Err(AnswerError::BadSignature);
    }
    drop(fields);
    Ok(if e.code == 0 {
        Answer::Done {
            trace_id: e.trace_id,
            data: e.data,
        }
    } else {
        refused(e.code, msg, true, e.trace_id)
    })
}

fn read_data_signed(scheme: &Scheme, secret: &str, e: Envelope) -> Result<Answer, AnswerError> {
    if e.code != 0 {
        return Ok(refused(
            e.code,
            e.msg.unwrap_or_default(),
            false,
            e.trace_id,
        ));
    }
    let Value::Object(data) = e.data else {
        return Err(AnswerError::UnsignedSuccess);
    };
    let code = data
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| AnswerError::Malformed("data.code is not a number".to_owned()))?;
    let msg = data
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(given) = data
        .get("sign")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return if code == 0 {
            Err(AnswerError::UnsignedSuccess)
        } else {
            Ok(refused(code, msg, false, e.trace_id))
        };
    };
    // 2.0 signs its result model inside `data`: every non-null field but `sign`.
    let mut fields = sign::fields_of(&data);
    if !scheme.verify(&mut fields, secret, given) {
        return Err(AnswerError::BadSignature);
    }
    drop(fields);
    Ok(if code == 0 {
        Answer::Done {
            trace_id: e.trace_id,
            data: Value::Object(data),
        }
    } else {
        refused(code, msg, true, e.trace_id)
    })
}

fn refused(code: i64, msg: String, signed: bool, trace_id: Option<String>) -> Answer {
    Answer::Refused {
        code,
        msg,
        signed,
        trace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::daxpay::SignType;

    fn call(version: Version, cancel: bool) -> (&'static str, Value) {
        let c = CloseCall {
            scheme: Scheme::new(version, SignType::HmacSha256),
            secret: "dax_secret_Key123",
            mch_no: Some("M1"),
            app_id: Some("A1"),
            order_no: Some("O1"),
            biz_order_no: Some(""),
            cancel,
            client_ip: None,
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
            now: OffsetDateTime::from_unix_timestamp(1_756_180_800).unwrap(),
            nonce: "a8f5f167f44f4964",
        };
        let (path, body) = c.encode();
        (path, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn version_3_sends_identity_and_explicit_use_cancel() {
        let (path, v) = call(Version::V3_0, false);
        assert_eq!(path, "/unipay/close");
        assert_eq!(v["mchNo"], "M1");
        assert_eq!(v["appId"], "A1");
        assert_eq!(v["useCancel"], false);
        assert_eq!(v["reqTime"], "2025-08-26 12:00:00");
        assert!(
            v.get("bizOrderNo").is_none(),
            "empty strings are never sent"
        );
        assert!(v.get("clientIp").is_none());
    }

    #[test]
    fn beta_sends_app_only_and_2_0_cancels_on_its_own_path() {
        let (_, v) = call(Version::V3_0Beta, true);
        assert!(v.get("mchNo").is_none());
        assert_eq!(v["useCancel"], true);
        let (path, v) = call(Version::V2_0, true);
        assert_eq!(path, "/unipay/cancel");
        assert_eq!(v["reqTime"], 1_756_180_800);
        assert!(v.get("useCancel").is_none() && v.get("appId").is_none());
    }

    #[test]
    fn unsigned_success_is_never_believed() {
        let scheme = Scheme::new(Version::V3_0, SignType::Md5);
        let body =
            br#"{"code":0,"msg":"success","data":null,"sign":null,"resTime":null,"traceId":"t"}"#;
        assert_eq!(
            read_answer(&scheme, "k", body),
            Err(AnswerError::UnsignedSuccess)
        );
        let body = br#"{"code":20052,"msg":"bad sign","data":null,"traceId":"t"}"#;
        assert!(matches!(
            read_answer(&scheme, "k", body),
            Ok(Answer::Refused {
                code: 20052,
                signed: false,
                ..
            })
        ));
    }
}
