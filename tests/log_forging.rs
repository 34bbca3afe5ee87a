//! Issue 13, findings 4 and 8, through the real binary and real sockets: a caller cannot forge a
//! log line or field (request id, signType with a newline), a caller's request id is kept only
//! when short and plain, and a signature in the query string never reaches the DEBUG log.

mod binary;
mod common;

use std::time::Duration;

use binary::{text_fields, Served};
use common::*;
use serde_json::Value;

const FORGED_ID: &str = r#"abc method=POST mch_no="M_VICTIM" code=0"#;
const FORGED_LINE: &str =
    "2099-01-01T00:00:00.000000Z  INFO paybridge::access: request request_id=x mch_no=M_VICTIM code=0";

async fn served(log: &str, rust_log: &str) -> (Served, std::net::SocketAddr, Running) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("L1", "ML1", "progress"), ("L2", "ML2", "progress")],
    ))
    .await;
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        + &format!("\n[log]\nformat = \"{log}\"\n");
    let mut served = Served::start(&toml, rust_log);
    let addr = served.address("paybridge serving");
    // The sandbox runs as long as the test holds it.
    std::mem::forget(sandbox);
    (served, addr, sb)
}

fn is_generated(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The text format (the default), at DEBUG so that every refusal is logged with its reason.
#[tokio::test]
async fn a_caller_cannot_forge_a_text_log_line_or_field() {
    let (mut served, addr, _sb) = served("text", "debug").await;

    // A request id written to look like access-line fields: replaced, in the log and the echo.
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        close_body(Some("L1"), None).to_string(),
        &[("x-request-id", FORGED_ID)],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    let echoed = a.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(is_generated(&echoed), "echoed {echoed:?}");

    // A plain short id is kept.
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        close_body(Some("L2"), None).to_string(),
        &[("x-request-id", "merchant-abc-1")],
    )
    .await;
    assert_eq!(a.headers["x-request-id"], "merchant-abc-1");

    // A signType carrying a newline and a whole forged access line.
    let mut body = close_body(Some("L1"), None);
    body["signType"] = Value::from(format!("MD5\n{FORGED_LINE}"));
    let a = post_json(addr, "/api/pay/close", &body).await;
    assert_ne!(a.json()["code"], 0, "{}", a.body);

    served.wait_for(Duration::from_secs(10), |l| l.contains("merchant-abc-1"));
    served.drain(Duration::from_millis(500));
    let all = served.all();
    assert!(
        all.contains("M_VICTIM"),
        "the hostile signType is logged (escaped), or this test proves nothing: {all}"
    );
    for line in &served.seen {
        assert!(!line.starts_with("2099-"), "a forged line: {line}");
        assert!(
            !line.contains("abc method"),
            "the forged id was logged: {line}"
        );
        let fields = text_fields(line);
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "a field written twice: {line}");
        for (key, value) in &fields {
            assert!(
                !value.contains("M_VICTIM") || value.starts_with('"'),
                "a forged field {key}={value}: {line}"
            );
            if key == "mch_no" {
                assert!(!value.contains("M_VICTIM"), "a forged mch_no: {line}");
            }
        }
    }
    let access: Vec<&String> = served
        .seen
        .iter()
        .filter(|l| l.contains("paybridge::access"))
        .collect();
    assert!(
        access
            .iter()
            .any(|l| l.contains(&format!("request_id=\"{echoed}\""))),
        "the generated id is the one logged: {access:#?}"
    );
    assert!(
        access
            .iter()
            .any(|l| l.contains("request_id=\"merchant-abc-1\"")),
        "{access:#?}"
    );
}

/// The JSON format writes the replaced id too.
#[tokio::test]
async fn a_hostile_request_id_is_replaced_in_the_json_log() {
    let (mut served, addr, _sb) = served("json", "info").await;
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        close_body(Some("L1"), None).to_string(),
        &[("x-request-id", &"x".repeat(65))],
    )
    .await;
    let echoed = a.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(is_generated(&echoed), "echoed {echoed:?}");
    let line = served
        .wait_for(Duration::from_secs(10), |l| l.contains("paybridge::access"))
        .expect("an access line");
    let json: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["request_id"], echoed.as_str(), "{line}");
}

/// Finding 8: the request span records the path, never the query string (which may carry `sign`).
#[tokio::test]
async fn a_query_string_signature_never_reaches_the_debug_log() {
    let (mut served, addr, _sb) = served("text", "debug").await;
    let a = send(
        addr,
        "GET",
        &format!("/api/pay/close?mchNo={JEEPAY_MCH}&sign=SECRETSIGN"),
        None,
        "",
        &[],
    )
    .await;
    assert!(!a.body.is_empty());
    served.wait_for(Duration::from_secs(10), |l| l.contains("paybridge::access"));
    served.drain(Duration::from_millis(500));
    let all = served.all();
    assert!(
        all.contains(r#"path="/api/pay/close""#),
        "the span records the path at DEBUG: {all}"
    );
    assert!(!all.contains("SECRETSIGN"), "{all}");
    assert!(!all.contains("sign="), "{all}");
}

/// At `info`, as shipped, the access line has its own formatter (`telemetry::line`): a merchant
/// number carrying a newline, quotes and a whole forged line is still one quoted, escaped field.
#[tokio::test]
async fn the_shipped_access_line_cannot_be_forged_through_the_merchant_number() {
    let (mut served, addr, _sb) = served("text", "info").await;
    let hostile = format!("M_VICTIM\" code=0\n{FORGED_LINE}");
    let mut body = close_body(Some("L1"), None);
    body["mchNo"] = Value::from(hostile.clone());
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        body.to_string(),
        &[("x-request-id", "forge-mch-1")],
    )
    .await;
    assert_ne!(a.json()["code"], 0, "{}", a.body);
    served.wait_for(Duration::from_secs(10), |l| l.contains("forge-mch-1"));
    served.drain(Duration::from_millis(300));
    for line in &served.seen {
        assert!(!line.starts_with("2099-"), "a forged line: {line}");
    }
    let line = served
        .seen
        .iter()
        .find(|l| l.contains("request_id=\"forge-mch-1\""))
        .expect("the access line");
    assert!(line.contains(" INFO paybridge::access: request "), "{line}");
    let escaped = format!("mch_no={hostile:?}");
    assert!(line.contains(&escaped), "{escaped} in {line}");
    let fields = text_fields(line);
    let codes: Vec<_> = fields.iter().filter(|(k, _)| k == "code").collect();
    assert_eq!(codes.len(), 1, "one code field: {line}");
    assert_ne!(codes[0].1, "0", "{line}");
}
