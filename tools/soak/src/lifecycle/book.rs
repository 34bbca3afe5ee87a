//! The driver's record of everything it did: each request with the answer it got, the field
//! sets requests carried (recognisable at DaxPay by `attach` and at the merchant by the notify
//! path), the payer's and the channel's actions on the sandbox, and the kills.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use super::jeepay::text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Op {
    Pay,
    PayQuery,
    Close,
    Refund,
    RefundQuery,
}

impl Op {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Op::Pay => "/api/pay/unifiedOrder",
            Op::PayQuery => "/api/pay/query",
            Op::Close => "/api/pay/close",
            Op::Refund => "/api/refund/refundOrder",
            Op::RefundQuery => "/api/refund/query",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Op::Pay => "unifiedOrder",
            Op::PayQuery => "pay query",
            Op::Close => "close",
            Op::Refund => "refundOrder",
            Op::RefundQuery => "refund query",
        }
    }
}

/// The fields of a pay or refund request that DaxPay keeps or the merchant is told: `ext`
/// (`extParam`, DaxPay's `attach`) names the field set.
#[derive(Clone, Debug)]
pub(crate) struct FieldSet {
    pub(crate) id: u64,
    pub(crate) merchant: usize,
    pub(crate) amount: u64,
    pub(crate) way: &'static str,
    pub(crate) ext: String,
    pub(crate) notify_path: String,
}

impl FieldSet {
    pub(crate) fn ext_of(id: u64) -> String {
        format!("fs{id}")
    }

    pub(crate) fn id_of(ext: &str) -> Option<u64> {
        ext.strip_prefix("fs")?.parse().ok()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// No answer: a transport failure or the client's timeout.
    Lost(String),
    Got {
        http: u16,
        code: Option<i64>,
        msg: String,
        data: Value,
    },
}

impl Answer {
    pub(crate) fn from_body(http: u16, body: &[u8]) -> Answer {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Answer::Got {
            http,
            code: value.get("code").and_then(Value::as_i64),
            msg: value
                .get("msg")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
            data: value.get("data").cloned().unwrap_or(Value::Null),
        }
    }

    pub(crate) fn code(&self) -> Option<i64> {
        match self {
            Answer::Got { code, .. } => *code,
            Answer::Lost(_) => None,
        }
    }

    pub(crate) fn data(&self, key: &str) -> Option<String> {
        match self {
            Answer::Got { data, .. } => text(data, key),
            Answer::Lost(_) => None,
        }
    }

    /// The outcome is not known: no answer, code 10, load shed, or a "still in progress".
    pub(crate) fn unknown(&self) -> bool {
        match self {
            Answer::Lost(_) => true,
            Answer::Got {
                http, code, msg, ..
            } => {
                *http == 503
                    || *code == Some(10)
                    || (*code == Some(9999) && super::cast::TRANSIENT_9999.contains(&msg.as_str()))
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Lost(why) => format!("no answer ({why})"),
            Answer::Got {
                http,
                code,
                msg,
                data,
            } => {
                let data = data.to_string();
                let data: String = data.chars().take(400).collect();
                format!("HTTP {http} code {code:?} msg {msg:?} data {data}")
            }
        }
    }
}

/// One request sent and what came back.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) id: u64,
    pub(crate) op: Op,
    pub(crate) merchant: usize,
    /// `mchOrderNo` of the order concerned.
    pub(crate) order: String,
    /// `mchRefundNo` (refund and refund query).
    pub(crate) refund: Option<String>,
    pub(crate) fieldset: Option<u64>,
    /// Requests with the same body bytes share this (exact retries, exact duplicates).
    pub(crate) body_group: u64,
    pub(crate) sent: Instant,
    pub(crate) done: Instant,
    pub(crate) answer: Answer,
}

#[derive(Clone, Debug)]
pub(crate) enum Action {
    /// The payer paid (`Sandbox::pay_order`), by `bizOrderNo`.
    Paid(String),
    /// The payment failed (`Sandbox::fail_order`).
    Failed(String),
    /// The channel closed a refund in progress (`Sandbox::close_refund`), by refundNo.
    RefundClosed(String),
    /// 2.0: the channel said a refund in progress succeeded (`Sandbox::succeed_refund`), by
    /// refundNo.
    RefundSucceeded(String),
}

#[derive(Default)]
pub(crate) struct Book {
    pub(crate) sent: Mutex<Vec<Sent>>,
    pub(crate) fieldsets: Mutex<HashMap<u64, FieldSet>>,
    pub(crate) actions: Mutex<Vec<(Instant, Action)>>,
    /// Every `(merchant, mchOrderNo)` a pay request was sent for.
    pub(crate) orders: Mutex<Vec<(usize, String)>>,
    pub(crate) kills: Mutex<Vec<(Instant, String)>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_unknown() {
        let unknown = [
            Answer::Lost("timeout".to_owned()),
            Answer::from_body(
                200,
                r#"{"code":10,"msg":"系统异常[上游应答超时，结果未知，请稍后查询订单]"}"#
                    .as_bytes(),
            ),
            Answer::from_body(
                200,
                r#"{"code":9999,"msg":"相同请求正在处理中，请稍后重试"}"#.as_bytes(),
            ),
            Answer::from_body(
                503,
                r#"{"code":10,"msg":"系统繁忙，请稍后重试"}"#.as_bytes(),
            ),
        ];
        assert!(unknown.iter().all(Answer::unknown));
        let known = [
            Answer::from_body(200, br#"{"code":0,"data":{"state":2},"msg":"SUCCESS"}"#),
            Answer::from_body(200, r#"{"code":9999,"msg":"订单不存在"}"#.as_bytes()),
        ];
        assert!(!known.iter().any(Answer::unknown));
        assert_eq!(known[0].data("state").as_deref(), Some("2"));
    }

    #[test]
    fn field_sets_are_named_by_their_ext_param() {
        assert_eq!(FieldSet::id_of(&FieldSet::ext_of(42)), Some(42));
        assert_eq!(FieldSet::id_of("x42"), None);
    }
}
