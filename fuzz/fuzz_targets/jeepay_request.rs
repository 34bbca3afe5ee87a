//! Arbitrary bytes through the Jeepay request path: `Params::read` (JSON, or query + form body),
//! `validate`, `verify` with a fixed secret, and the rendering of the answer (success or error).
//!
//! Input layout: byte 0 chooses the mode (bit 0: JSON body, bit 1: a query string is present),
//! byte 1 is the query string's length; the query string follows, then the body. A query string
//! that is not UTF-8 is read lossily (hyper hands the router a `&str`).
//!
//! Oracles besides "never panics": every rendered answer is a JSON object whose `code` and `msg`
//! are the ones rendered; a request that verifies really carries the signature of its fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::dialect::jeepay::{failure, sign, Params, Reply};
use paybridge::domain::Failure;

const SECRET: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";

fn check_reply(reply: &Reply) {
    let json = reply.to_json();
    let value: serde_json::Value =
        serde_json::from_slice(&json).expect("a rendered reply is valid JSON");
    let (code, msg) = match reply {
        Reply::Success { code, msg, .. } => (code, msg.to_string()),
        Reply::Error { code, msg } => (code, msg.clone()),
    };
    assert_eq!(value["code"].as_i64(), Some(*code));
    assert_eq!(value["msg"].as_str(), Some(msg.as_str()));
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = match data.split_first() {
        Some((m, r)) => (*m, r),
        None => (0, data),
    };
    let json = mode & 1 == 1;
    let (query_len, rest) = match rest.split_first() {
        Some((n, r)) => (usize::from(*n).min(r.len()), r),
        None => (0, rest),
    };
    let (query_bytes, body) = rest.split_at(query_len);
    let query = String::from_utf8_lossy(query_bytes);
    let query = (mode & 2 == 2).then_some(query.as_ref());

    let declared: &'static [&'static str] = &["mchOrderNo", "payOrderId"];
    let fail = |error: Failure| {
        let _ = (failure::code(&error), failure::status(&error), error.kind());
        failure::reply(&error)
    };
    let params = match Params::read(declared, json, query, body) {
        Ok(params) => params,
        Err(error) => return check_reply(&fail(error)),
    };
    let reply = match params.validate() {
        Ok(request) => {
            let verified = request.verify(SECRET);
            let _ = request.sign_type_supported();
            if verified {
                // Only a correct signature verifies: recompute it independently of `verify`.
                let mut fields: Vec<(&str, &str)> = [
                    ("version", request.version()),
                    ("signType", request.sign_type()),
                    ("reqTime", request.req_time()),
                    ("mchNo", request.mch_no()),
                    ("appId", request.app_id()),
                    ("mchOrderNo", request.field("mchOrderNo")),
                    ("payOrderId", request.field("payOrderId")),
                ]
                .into_iter()
                .filter(|(k, v)| sign::signable(k, v))
                .collect();
                let expected = sign::sign(&mut fields, SECRET);
                assert!(expected.as_str().eq_ignore_ascii_case(request.sign()));
            }
            // A merchant-configured success message can be any text.
            let msg = String::from_utf8_lossy(body);
            Reply::empty_success(i64::from(mode), &*msg, SECRET)
        }
        Err(error) => fail(error),
    };
    check_reply(&reply);
});
