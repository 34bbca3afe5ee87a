//! Jeepay's merchant notification and return redirect (lifecycle.md §6.1, §7): the query answer's
//! fields plus `reqTime` and `sign`, signed once with the merchant's key.
//!
//! Jeepay appends the fields to the merchant's URL with hutool's lax query encoding, then
//! re-splits the URL on `&` and posts the pieces as a form to the query-less URL, so a value
//! holding `&` arrives cut in two and fails the merchant's check. paybridge keeps what merchants
//! rely on (their own query parameters arrive in the body, the notification's value winning a
//! clash) and encodes every value properly.
//!
//! The signature covers every parameter the merchant receives, its own query parameters
//! included: merchants check notifications as Jeepay's demo does (all parameters but `sign`),
//! which Jeepay's own signature (its fields only) fails whenever the URL has a query.

use super::envelope::Data;
use super::sign;

/// A notification ready to send, and to send again unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The merchant's URL without its query (or fragment).
    pub url: String,
    /// `application/x-www-form-urlencoded`: the merchant's query parameters, then the fields.
    pub body: String,
}

/// The notification of `data` to `merchant_url`, signed with `secret` at `req_time_ms`.
pub fn notification(
    merchant_url: &str,
    data: Data,
    req_time_ms: i64,
    secret: &str,
) -> Notification {
    let (url, own) = split(merchant_url);
    let params = signed(own, data, req_time_ms, secret);
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &params {
        form.append_pair(key, value);
    }
    Notification {
        url: url.to_owned(),
        body: form.finish(),
    }
}

/// The merchant's own parameters (`own`, a query string) beside `data`'s fields and `reqTime`
/// (which win a clash), and `sign` over all of them.
fn signed(own: &str, data: Data, req_time_ms: i64, secret: &str) -> Vec<(String, String)> {
    let fields = data.int("reqTime", Some(req_time_ms)).into_pairs();
    let mut params: Vec<(String, String)> = form_urlencoded::parse(own.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "sign" && !fields.iter().any(|(f, _)| f == k))
        .collect();
    params.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let mut signable: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, v)| sign::signable(k, v))
        .collect();
    let signature = sign::sign(&mut signable, secret);
    params.push(("sign".to_owned(), signature.as_str().to_owned()));
    params
}

/// Where a browser is sent back to: the merchant's return URL with the signed fields appended
/// to its own query.
pub fn return_location(merchant_url: &str, data: Data, req_time_ms: i64, secret: &str) -> String {
    let (base, fragment) = merchant_url
        .split_once('#')
        .map_or((merchant_url, None), |(b, f)| (b, Some(f)));
    let (path, own) = base.split_once('?').unwrap_or((base, ""));
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in &signed(own, data, req_time_ms, secret) {
        form.append_pair(key, value);
    }
    let mut location = format!("{path}?{}", form.finish());
    if let Some(f) = fragment {
        location.push('#');
        location.push_str(f);
    }
    location
}

/// The URL without query and fragment, and its query.
fn split(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    url.split_once('?').unwrap_or((url, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::jeepay::sign;

    fn data() -> Data {
        Data::new()
            .text("payOrderId", Some("P1"))
            .text("subject", Some("A&B=C + 中"))
            .text("errMsg", Some(""))
            .int("state", Some(2))
    }

    #[test]
    fn the_merchants_query_moves_into_the_body_and_every_value_is_encoded() {
        let n = notification(
            "https://shop.example/notify?token=t1&state=9#x",
            data(),
            1700000000000,
            "k",
        );
        assert_eq!(n.url, "https://shop.example/notify");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(n.body.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("token"), Some("t1"));
        assert_eq!(get("state"), Some("2"), "the notification wins a clash");
        assert_eq!(pairs.iter().filter(|(k, _)| k == "state").count(), 1);
        assert_eq!(get("subject"), Some("A&B=C + 中"));
        assert_eq!(get("errMsg"), Some(""));
        assert_eq!(get("reqTime"), Some("1700000000000"));
        // The merchant's check, as Jeepay's demo: every parameter but `sign`, MD5, any case.
        let fields: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(k, _)| k != "sign")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut signable: Vec<(&str, &str)> = fields
            .into_iter()
            .filter(|(k, v)| sign::signable(k, v))
            .collect();
        let expected = sign::sign(&mut signable, "k");
        assert!(get("sign").unwrap().eq_ignore_ascii_case(expected.as_str()));
    }

    #[test]
    fn return_locations_keep_the_merchants_query_and_fragment() {
        let at =
            |url: &str| return_location(url, Data::new().text("payOrderId", Some("P1")), 1, "k");
        assert!(at("https://m.example/back")
            .starts_with("https://m.example/back?payOrderId=P1&reqTime=1&sign="));
        assert!(at("https://m.example/back?x=1")
            .starts_with("https://m.example/back?x=1&payOrderId=P1"));
        assert!(at("https://m.example/back?").starts_with("https://m.example/back?payOrderId=P1"));
        assert!(!at("https://m.example/back?sign=forged").contains("forged"));
        let with_fragment = at("https://m.example/back#done");
        assert!(
            with_fragment.ends_with("#done") && with_fragment.contains("?payOrderId=P1"),
            "{with_fragment}"
        );
    }
}
