//! epay's asynchronous notification and return redirect (epay.md §11, §12), byte for byte as
//! the gateway builds them (`creat_callback`, build 3094/3095):
//!
//! - **V1 orders**: `pid, trade_no, out_trade_no, type, name, money, trade_status[, param]`,
//!   then `sign` (MD5 with the merchant's key) and `sign_type=MD5`, signed once.
//! - **V2 orders** (made through `/api/pay/*`): the same seven, then `api_trade_no`, `buyer`,
//!   `param` (each only if not PHP-`empty`), `timestamp` (now), `sign_type=RSA` and `sign`
//!   (SHA256WithRSA with the platform key). SDK2 refuses a timestamp more than 300 s old, so the
//!   gateway builds the query again at every attempt: [`PaidOrder::v2_unsigned`] is what is kept,
//!   [`signed_v2`] what each attempt sends.
//! - `money` as PHP prints a float (`1.00` → `1`, `1.50` → `1.5`: [`php_money`]);
//!   `trade_status` is always `TRADE_SUCCESS` (only payments are notified).
//! - The query is `http_build_query`'s (RFC 1738: space as `+`, every byte but `[A-Za-z0-9._-]`
//!   as `%XX`), appended to the merchant's URL with `&` if it holds a `?` past its first
//!   character, else `?` ([`append_query`]).
//!
//! One deliberate difference: an empty or whitespace-only value is never sent. The gateway
//! never sends an empty one either, but a whitespace-only `name` would be signed by SDK1
//! (`$v != ''`) and not by build 3094's filter, and fail one of them; V2Board signs empty values
//! too (epay.md §14). Leaving such a value out keeps every merchant's check passing.

use super::sign::{md5_sign, string_to_sign, Filter, RsaSigner};
use crate::domain::order::Fen;

/// Parameters in the order they are sent.
pub type Pairs = Vec<(String, String)>;

/// What the notification of a paid order says, in the form the gateway stores it (the name and
/// `param` as echoed, epay.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidOrder {
    pub pid: String,
    /// The gateway's order number (19 digits).
    pub trade_no: String,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// The pay type's name (`alipay`, `wxpay`, …).
    pub pay_type: String,
    pub name: String,
    /// The order's money in fen (`decimal(10,2)` yuan at the gateway).
    pub money_fen: u64,
    pub param: Option<String>,
    /// V2 only: the channel's number for the payment.
    pub api_trade_no: Option<String>,
    /// V2 only: the payer's account at the channel.
    pub buyer: Option<String>,
}

/// `TRADE_SUCCESS`: epay notifies nothing but payments.
pub const TRADE_SUCCESS: &str = "TRADE_SUCCESS";

impl PaidOrder {
    /// The seven parameters every notification starts with.
    fn common(&self) -> Pairs {
        let mut pairs = Pairs::with_capacity(13);
        push(&mut pairs, "pid", &self.pid);
        push(&mut pairs, "trade_no", &self.trade_no);
        push(&mut pairs, "out_trade_no", &self.out_trade_no);
        push(&mut pairs, "type", &self.pay_type);
        push(&mut pairs, "name", &self.name);
        push(&mut pairs, "money", &php_money(self.money_fen));
        push(&mut pairs, "trade_status", TRADE_SUCCESS);
        pairs
    }

    /// A V1 order's notification: signed with the merchant's MD5 `key`, as sent on every attempt.
    pub fn v1_signed(&self, key: &str) -> Pairs {
        let mut pairs = self.common();
        push_unless_php_empty(&mut pairs, "param", self.param.as_deref());
        let sign = md5_sign(&string_to_sign(&borrowed(&pairs), Filter::Build3094), key);
        pairs.push(("sign".to_owned(), sign.as_str().to_owned()));
        pairs.push(("sign_type".to_owned(), "MD5".to_owned()));
        pairs
    }

    /// A V2 order's notification before its `timestamp` and signature: what is kept between
    /// attempts (no key in it).
    pub fn v2_unsigned(&self) -> Pairs {
        let mut pairs = self.common();
        push_unless_php_empty(&mut pairs, "api_trade_no", self.api_trade_no.as_deref());
        push_unless_php_empty(&mut pairs, "buyer", self.buyer.as_deref());
        push_unless_php_empty(&mut pairs, "param", self.param.as_deref());
        pairs
    }
}

/// A V2 notification as one attempt sends it: `unsigned`, then `timestamp` (Unix seconds),
/// `sign_type=RSA` and `sign` with the platform key.
pub fn signed_v2(mut unsigned: Pairs, timestamp: i64, platform: &RsaSigner) -> Pairs {
    unsigned.retain(|(k, _)| !matches!(k.as_str(), "timestamp" | "sign" | "sign_type"));
    unsigned.push(("timestamp".to_owned(), timestamp.to_string()));
    unsigned.push(("sign_type".to_owned(), "RSA".to_owned()));
    let sign = platform.sign(&string_to_sign(&borrowed(&unsigned), Filter::Build3094));
    unsigned.push(("sign".to_owned(), sign));
    unsigned
}

/// Adds a value unless it is empty or whitespace-only (module doc).
fn push(pairs: &mut Pairs, key: &str, value: &str) {
    if value.bytes().any(|b| !is_php_blank(b)) {
        pairs.push((key.to_owned(), value.to_owned()));
    }
}

/// The gateway's `if(!empty($v))`: `""` and `"0"` are PHP-empty and not sent.
fn push_unless_php_empty(pairs: &mut Pairs, key: &str, value: Option<&str>) {
    match value {
        None | Some("" | "0") => {}
        Some(value) => push(pairs, key, value),
    }
}

fn is_php_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0B)
}

fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Money in fen as PHP prints `(float)` of the stored two-decimal yuan: trailing zeros and a
/// trailing dot removed (`150` → `1.5`, `100` → `1`, `1` → `0.01`; [`super::money::float_text`]).
/// Exact for every amount a `decimal(10,2)` holds (PHP's 14 significant digits cover its 10).
pub fn php_money(fen: u64) -> String {
    super::money::float_text(Fen(fen))
}

/// PHP's `http_build_query` over `pairs` (its default RFC 1738 form, as `urlencode`): letters,
/// digits and `._-` kept, space as `+`, every other byte as upper-case `%XX`.
pub fn http_build_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        urlencode_into(&mut out, key);
        out.push('=');
        urlencode_into(&mut out, value);
    }
    out
}

fn urlencode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0F)]));
            }
        }
    }
}

/// The pairs of a query [`http_build_query`] wrote, in order (its exact inverse).
pub fn parse_query(query: &str) -> Pairs {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The merchant's URL with `query` appended as the gateway does (`strpos($url, '?')`: `&` when
/// a `?` stands past the first character, else `?`). A `#fragment` is kept after the query
/// rather than swallowing it (a browser would drop the parameters otherwise; a server never
/// sees a fragment).
pub fn append_query(url: &str, query: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let joint = if base.find('?').is_some_and(|at| at > 0) {
        '&'
    } else {
        '?'
    };
    let mut out = String::with_capacity(url.len() + query.len() + 1);
    out.push_str(base);
    out.push(joint);
    out.push_str(query);
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The URL a notification attempt GETs (the fragment dropped: it is never sent to a server).
pub fn notify_target(notify_url: &str, query: &str) -> String {
    let base = notify_url.split('#').next().unwrap_or(notify_url);
    append_query(base, query)
}

/// Whether a merchant's answer acknowledges the notification (`do_notify`): the body contains
/// `success`, `SUCCESS` or `Success` anywhere, byte for byte; the HTTP status does not matter.
pub fn acknowledged(body: &[u8]) -> bool {
    ["success", "SUCCESS", "Success"]
        .iter()
        .any(|word| body.windows(word.len()).any(|w| w == word.as_bytes()))
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
