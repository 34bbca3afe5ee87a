//! Jeepay's answer envelope: `{"code","data","msg","sign"}` for a success, `{"code","msg"}` for a
//! failure, HTTP 200 in both cases.
//!
//! A success carries a `data` object signed with the caller's app secret (Jeepay's MD5 over its
//! non-null, non-empty fields; close's `{}` is the empty case). Keys are written in alphabetical
//! order, the envelope's as `data`'s, compact, nulls left out; `""` values are written but not
//! signed, as Jeepay does.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;

use super::sign;
use crate::text::StackText;

/// Jeepay answers with this content type.
pub const JSON_UTF8: http::HeaderValue =
    http::HeaderValue::from_static("application/json;charset=UTF-8");

/// The `data` of a success: named values (text or a number), absent ones left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    /// Key, value as text, and whether it is written as a JSON number.
    entries: Vec<(&'static str, String, bool)>,
}

impl Data {
    pub fn new() -> Self {
        Data::default()
    }

    pub fn text(mut self, key: &'static str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.entries.push((key, v.to_owned(), false));
        }
        self
    }

    pub fn int(mut self, key: &'static str, value: Option<i64>) -> Self {
        if let Some(v) = value {
            self.entries.push((key, v.to_string(), true));
        }
        self
    }

    /// The fields as text pairs, keys alphabetical (a notification's or a redirect's).
    pub fn into_pairs(self) -> Vec<(&'static str, String)> {
        self.sorted()
            .entries
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    fn sorted(mut self) -> Self {
        self.entries.sort_by(|a, b| a.0.cmp(b.0));
        self
    }

    /// Jeepay's signature of this data under `secret` (numbers signed as their decimal text).
    fn sign(&self, secret: &str) -> sign::Signature {
        let mut fields: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter(|(k, v, _)| sign::signable(k, v))
            .map(|(k, v, _)| (*k, v.as_str()))
            .collect();
        sign::sign(&mut fields, secret)
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"{")?;
        for (i, (key, value, number)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write!(out, "\"{key}\":")?;
            if *number {
                out.write_all(value.as_bytes())?;
            } else {
                serde_json::to_writer(&mut *out, value)?;
            }
        }
        out.write_all(b"}")
    }
}

/// A Jeepay answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `{"code":<code>,"data":{...},"msg":"<msg>","sign":"<MD5 over data>"}`.
    Success {
        code: i64,
        msg: Arc<str>,
        data: Data,
        sign: sign::Signature,
    },
    /// `{"code":<code>,"msg":"<msg>"}`.
    Error { code: i64, msg: String },
}

impl Reply {
    /// A success with `data`, signed with the caller's app secret.
    pub fn success(code: i64, msg: impl Into<Arc<str>>, data: Data, secret: &str) -> Reply {
        let data = data.sorted();
        let sign = data.sign(secret);
        Reply::Success {
            code,
            msg: msg.into(),
            data,
            sign,
        }
    }

    /// A success whose `data` is `{}`, signed with the caller's app secret.
    pub fn empty_success(code: i64, msg: impl Into<Arc<str>>, secret: &str) -> Reply {
        Reply::Success {
            code,
            msg: msg.into(),
            data: Data::new(),
            sign: sign::sign(&mut [], secret),
        }
    }

    /// Compact JSON, keys in Jeepay's (alphabetical) order.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        // Writing into a Vec cannot fail.
        let _ = self.write_json(&mut out);
        out
    }

    /// [`Reply::to_json`] in one allocation of the exact size.
    pub fn to_bytes(&self) -> Bytes {
        json_bytes(|out| self.write_json(out))
    }

    fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Reply::Success {
                code,
                msg,
                data,
                sign,
            } => {
                write!(out, "{{\"code\":{code},\"data\":")?;
                data.write(out)?;
                out.write_all(b",\"msg\":")?;
                serde_json::to_writer(&mut *out, &**msg)?;
                write!(out, ",\"sign\":\"{}\"}}", sign.as_str())
            }
            Reply::Error { code, msg } => write_error(out, *code, msg),
        }
    }
}

/// `Reply::Error { code, msg: msg.to_string() }.to_bytes()`, without the two intermediate
/// `String`s when the message is short (every error paybridge writes itself is).
pub fn error_bytes(code: i64, msg: &dyn std::fmt::Display) -> Bytes {
    match StackText::<384>::format(format_args!("{msg}")) {
        Ok(text) => json_bytes(|out| write_error(out, code, text.as_str())),
        Err(text) => json_bytes(|out| write_error(out, code, &text)),
    }
}

fn write_error(out: &mut dyn Write, code: i64, msg: &str) -> io::Result<()> {
    write!(out, "{{\"code\":{code},\"msg\":")?;
    serde_json::to_writer(&mut *out, msg)?;
    out.write_all(b"}")
}

/// What `write` produces, rendered on the stack and copied out once (on the heap if too long).
fn json_bytes(write: impl Fn(&mut dyn Write) -> io::Result<()>) -> Bytes {
    let mut stack = StackText::<1024>::new();
    if write(&mut stack).is_ok() {
        return Bytes::copy_from_slice(stack.as_bytes());
    }
    let mut heap = Vec::with_capacity(2048);
    let _ = write(&mut heap);
    Bytes::from(heap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_like_jeepay() {
        let ok = Reply::empty_success(0, "SUCCESS", "EWEFD123RGSRETYDFNGFGFGSHDFGH");
        assert_eq!(
            String::from_utf8(ok.to_json()).unwrap(),
            r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
        );
        let err = Reply::Error {
            code: 9999,
            msg: "验签失败".into(),
        };
        assert_eq!(
            String::from_utf8(err.to_json()).unwrap(),
            r#"{"code":9999,"msg":"验签失败"}"#
        );
    }

    #[test]
    fn data_is_sorted_written_whole_and_signed_without_empty_values() {
        let data = Data::new()
            .text("payOrderId", Some("P1"))
            .int("amount", Some(1230))
            .text("errMsg", Some(""))
            .text("absent", None)
            .int("state", Some(2));
        let reply = Reply::success(0, "SUCCESS", data, "k");
        let mut fields = [("amount", "1230"), ("payOrderId", "P1"), ("state", "2")];
        let sign = sign::sign(&mut fields, "k");
        assert_eq!(
            String::from_utf8(reply.to_json()).unwrap(),
            format!(
                r#"{{"code":0,"data":{{"amount":1230,"errMsg":"","payOrderId":"P1","state":2}},"msg":"SUCCESS","sign":"{sign}"}}"#
            )
        );
        let empty = Reply::success(0, "SUCCESS", Data::new(), "k");
        assert_eq!(empty, Reply::empty_success(0, "SUCCESS", "k"));
    }

    #[test]
    fn bytes_and_error_bytes_are_the_json_whatever_the_length() {
        for msg in [
            String::new(),
            "订单不存在".to_owned(),
            "quote \" backslash \\ newline \n control \u{1} del \u{7f}".to_owned(),
            "字".repeat(127),
            "字".repeat(128),
            "x".repeat(383),
            "x".repeat(384),
            "x".repeat(3000),
        ] {
            let error = Reply::Error {
                code: 9999,
                msg: msg.clone(),
            };
            assert_eq!(error.to_bytes(), error.to_json(), "{msg}");
            assert_eq!(error_bytes(9999, &msg), error.to_json(), "{msg}");
            let success = Reply::empty_success(200, msg.as_str(), "secret");
            assert_eq!(success.to_bytes(), success.to_json(), "{msg}");
            let data = Data::new().text("x", Some(&msg));
            let success = Reply::success(0, "SUCCESS", data, "secret");
            assert_eq!(success.to_bytes(), success.to_json(), "{msg}");
        }
    }
}
