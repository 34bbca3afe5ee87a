//! Signing and bodies, written from jeepay.md (independently of paybridge's code); the clock
//! and the randomness requests are made from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use md5::{Digest, Md5};

use crate::cast::Merchant;

pub(crate) fn md5_upper(s: &str) -> String {
    hex::encode_upper(Md5::digest(s.as_bytes()))
}

/// Jeepay's MD5: non-empty fields but `sign`, `k=v&` sorted by key, then `key=secret`.
pub(crate) fn jeepay_sign(fields: &[(&'static str, String)], secret: &str) -> String {
    let mut entries: Vec<String> = fields
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    entries.sort_by_key(|e| e.to_ascii_lowercase());
    md5_upper(&format!("{}key={secret}", entries.concat()))
}

pub(crate) fn success_body(secret: &str) -> Vec<u8> {
    format!(
        r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{}"}}"#,
        md5_upper(&format!("key={secret}"))
    )
    .into_bytes()
}

pub(crate) fn error_body(code: i64, msg: &str) -> Vec<u8> {
    format!(
        r#"{{"code":{code},"msg":{}}}"#,
        serde_json::to_string(msg).unwrap_or_default()
    )
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Json,
    Form,
    Query,
}

/// One request, exactly as sent.
#[derive(Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path and query.
    pub(crate) uri: String,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Bytes,
    pub(crate) close_connection: bool,
}

impl Req {
    pub(crate) fn build(path: &str, encoding: Encoding, fields: &[(&'static str, String)]) -> Req {
        let pairs = || {
            fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        };
        match encoding {
            Encoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
                    .collect();
                Req::raw(
                    Method::POST,
                    path,
                    Some("application/json"),
                    serde_json::Value::Object(map).to_string(),
                )
            }
            Encoding::Form => Req::raw(
                Method::POST,
                path,
                Some("application/x-www-form-urlencoded"),
                pairs(),
            ),
            Encoding::Query => Req::raw(Method::GET, &format!("{path}?{}", pairs()), None, ""),
        }
    }

    pub(crate) fn raw(
        method: Method,
        uri: &str,
        ct: Option<&'static str>,
        body: impl Into<Bytes>,
    ) -> Req {
        Req {
            method,
            uri: uri.to_owned(),
            content_type: ct,
            body: body.into(),
            close_connection: false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!(
            "{} {} [{}] {body}",
            self.method,
            self.uri,
            self.content_type.unwrap_or("-")
        )
    }
}

/// A close request's fields, signed.
pub(crate) fn close_fields(
    m: Merchant,
    req_time: String,
    pay_order_id: Option<&str>,
    mch_order_no: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("mchNo", m.mch.to_owned()),
        ("appId", m.app.to_owned()),
        ("version", "1.0".to_owned()),
        ("signType", "MD5".to_owned()),
        ("reqTime", req_time),
    ];
    if let Some(p) = pay_order_id {
        fields.push(("payOrderId", p.to_owned()));
    }
    if let Some(o) = mch_order_no {
        fields.push(("mchOrderNo", o.to_owned()));
    }
    let sign = jeepay_sign(&fields, m.secret);
    fields.push(("sign", sign));
    fields
}

pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Epoch microseconds, never the same twice: two requests for the same order never share a
/// signature (which paybridge would rightly answer from its replay store).
pub(crate) fn unique_micros() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = now().as_micros() as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// splitmix64: enough randomness for choosing what to send.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(crate) fn chance(&mut self, per_mille: usize) -> bool {
        self.below(1000) < per_mille
    }
}
