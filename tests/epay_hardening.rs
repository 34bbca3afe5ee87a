//! epay requests built to cost paybridge work before their signature is checked, and the words
//! of a signature that does not verify, through real sockets (the epay client of
//! `tests/common/epay`, written from epay.md only).
//!
//! PHP reads at most `max_input_vars` (1000) parameters and goes on with those (epay.md §2;
//! `$_POST` keeps the first 1001 `&`-separated pieces, `$_GET` the first 1000 non-empty ones):
//! paybridge reads a form as PHP does, once through, so ten thousand distinct names cost it no
//! more than the gateway, and what PHP leaves out is left out here too.

mod common;

use common::epay::world::{world, World};
use common::epay::{form, PID};
use common::send;
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";

/// A `mapi.php` order of 1.00 named `no`, as its fields (unsigned).
fn order(w: &World, no: &str) -> Vec<(String, String)> {
    [
        ("pid", PID.to_owned()),
        ("type", "alipay".to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("name", no.to_owned()),
        ("money", "1.00".to_owned()),
        ("clientip", "192.168.1.100".to_owned()),
        ("device", "pc".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `fields` signed by the merchant (MD5, `sign_type=MD5`), form-encoded.
fn signed_form(w: &World, fields: &[(String, String)]) -> String {
    let view: Vec<(&str, &str)> = common::epay::sign::pairs(fields);
    let signed = w.client().v1_signed(&view);
    form(&common::epay::sign::pairs(&signed))
}

/// `n` distinct short names (a digit and two base-36 characters: `pid` and friends never among
/// them), each `=value`, joined by `&`.
fn names(n: usize, value: &str) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..n)
        .map(|i| {
            let name = [
                DIGITS[i / (36 * 36) % 10],
                DIGITS[i / 36 % 36],
                DIGITS[i % 36],
            ];
            format!("{}={value}", std::str::from_utf8(&name).unwrap())
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn mapi(w: &World, body: String) -> Value {
    let answer = send(w.proxy, "POST", "/mapi.php", Some(FORM), body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// The attack: a signed order followed by ten thousand distinct names, within the default
/// 64 KiB body. PHP signs the 1001 pieces it reads, which now hold names the merchant never
/// signed: epay's signature error, and the next request is served as usual.
#[tokio::test]
async fn ten_thousand_parameter_names_get_epays_error_and_the_next_request_is_served() {
    let w = world(None, "").await;
    let body = format!(
        "{}&{}",
        signed_form(&w, &order(&w, "FLOOD1")),
        names(10_000, "1")
    );
    assert!(
        body.len() < 64 * 1024,
        "within max_body_bytes: {}",
        body.len()
    );
    let json = mapi(&w, body).await;
    assert_eq!(json["code"], -3, "{json}");
    assert_eq!(json["msg"], "MD5签名校验失败", "{json}");
    assert!(w.sandbox.orders().is_empty(), "nothing made");
    // The next request: an order made as usual.
    let json = mapi(&w, signed_form(&w, &order(&w, "AFTER1"))).await;
    assert_eq!(json["code"], 1, "{json}");
    assert_eq!(w.sandbox.orders().len(), 1);
}

/// PHP's cap as PHP applies it to a form body: the signed order, then names with empty values
/// (never signed) up to the 1001st piece, then five thousand names with values. PHP reads the
/// first 1001 pieces only, so the signature holds and the order is made; were the names past
/// the cap read, they would be signed and the request refused.
#[tokio::test]
async fn names_past_phps_max_input_vars_are_left_out_as_the_gateway_leaves_them() {
    let w = world(None, "").await;
    let signed = signed_form(&w, &order(&w, "CAP1"));
    let pieces = signed.split('&').count();
    let filler = names(1001 - pieces, "");
    let past = names(5_000, "1").replace("=1", "x=1");
    let body = format!("{signed}&{filler}&{past}");
    let json = mapi(&w, body).await;
    assert_eq!(json["code"], 1, "{json}");
    // One piece fewer of filler and the 1001st is a name the merchant did not sign.
    let filler = names(1000 - pieces, "");
    let json = mapi(
        &w,
        format!("{}&{filler}&{past}", signed_form(&w, &order(&w, "CAP2"))),
    )
    .await;
    assert_eq!(json["msg"], "MD5签名校验失败", "{json}");
}

/// epay.md §5.6: a signature that does not verify is `<sign_type>签名校验失败`, the parameter as
/// sent (`MD5` when empty), code -3, on V1 and V2 routes and on the payer's page; a right MD5
/// signature under `sign_type=md5` verifies (only `RSA` is RSA).
#[tokio::test]
async fn a_signature_failure_names_the_sign_type_as_sent() {
    let w = world(None, "").await;
    let with_sign_type = |fields: &[(String, String)], sign_type: &str, tamper: bool| {
        let view: Vec<(&str, &str)> = common::epay::sign::pairs(fields);
        let mut signed = w.client().v1_signed(&view);
        for (k, v) in signed.iter_mut() {
            match k.as_str() {
                "sign_type" => *v = sign_type.to_owned(),
                "sign" if tamper => *v = v.replace(|c: char| c != '0', "0"),
                _ => {}
            }
        }
        form(&common::epay::sign::pairs(&signed))
    };
    for (sign_type, said) in [
        ("md5", "md5签名校验失败"),
        ("MD5", "MD5签名校验失败"),
        ("", "MD5签名校验失败"),
        ("sha1", "sha1签名校验失败"),
    ] {
        let json = mapi(&w, with_sign_type(&order(&w, "S1"), sign_type, true)).await;
        assert_eq!(
            (json["code"].as_i64(), json["msg"].as_str()),
            (Some(-3), Some(said)),
            "{json}"
        );
        // V2's query route takes MD5 requests too (with a timestamp).
        let query = vec![
            ("pid".to_owned(), PID.to_owned()),
            ("out_trade_no".to_owned(), "S1".to_owned()),
            ("timestamp".to_owned(), common::epay::sign::timestamp()),
        ];
        let body = with_sign_type(&query, sign_type, true);
        let answer = send(w.proxy, "POST", "/api/pay/query", Some(FORM), body, &[]).await;
        let json = answer.json();
        assert_eq!(
            (json["code"].as_i64(), json["msg"].as_str()),
            (Some(-3), Some(said)),
            "{json}"
        );
        // The payer's page says it in HTML.
        let page = with_sign_type(&order(&w, "S2"), sign_type, true);
        let answer = send(w.proxy, "POST", "/submit.php", Some(FORM), page, &[]).await;
        assert!(answer.body.contains(said), "{sign_type}: {}", answer.body);
    }
    // A right signature under `sign_type=md5`: the order is made.
    let json = mapi(&w, with_sign_type(&order(&w, "S3"), "md5", false)).await;
    assert_eq!(json["code"], 1, "{json}");
}
