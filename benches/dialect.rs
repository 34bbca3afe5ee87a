//! Micro-benchmarks of the dialect work paybridge does per request (criterion).
//!
//! * `jeepay/sign`, `jeepay/verify`: Jeepay's MD5 over a close request (7 declared fields).
//! * `daxpay/<version>/<sign type>/sign`: DaxPay's signature over the close call's fields.
//! * `daxpay/<version>/<sign type>/verify`: DaxPay's check of a signed success answer's fields.
//! * `close/<version>/<sign type>/<answer>`: the whole per-request dialect work of a close:
//!   read the Jeepay JSON body, `@NotBlank` checks, verify its MD5, map it to the canonical
//!   operation, build and sign the DaxPay call (JSON body, fresh nonce and clock), read and verify
//!   DaxPay's answer, and render the Jeepay answer (re-signed with the merchant's key on success).
//!   `answer` is `success` (a signed close success) or `not_found` (DaxPay's 20041, signed in
//!   3.x, which paybridge maps to `订单不存在`: what `scripts/bench` drives under load).
//!
//! Run: `cargo bench --bench dialect` (add `-- close` to run only the whole-close group).
//! Answers are built with the library's own signing, exactly as the sandbox builds them, and each
//! case is checked once before it is measured.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use paybridge::dialect::daxpay::answer::read_answer;
use paybridge::dialect::daxpay::envelope::{fresh_nonce, wall_clock};
use paybridge::dialect::daxpay::{Answer, Scheme, SignType, Version};
use paybridge::dialect::jeepay::sign as jeepay_sign;
use paybridge::dialect::jeepay::Params;
use time::OffsetDateTime;

#[path = "support/close.rs"]
mod close_support;
use close_support::*;

fn schemes() -> impl Iterator<Item = Scheme> {
    Version::ALL.into_iter().flat_map(|version| {
        SignType::ALL
            .into_iter()
            .map(move |sign_type| Scheme::new(version, sign_type))
    })
}

fn jeepay(c: &mut Criterion) {
    let mut group = c.benchmark_group("jeepay");
    group.bench_function("sign", |b| {
        b.iter(|| {
            let mut fields = [
                ("version", "1.0"),
                ("signType", "MD5"),
                ("reqTime", REQ_TIME),
                ("mchNo", JEEPAY_MCH),
                ("appId", JEEPAY_APP),
                ("payOrderId", black_box(ORDER)),
            ];
            jeepay_sign::sign(&mut fields, black_box(JEEPAY_SECRET))
        })
    });
    let request = jeepay_request();
    let params = Params::read(CLOSE_FIELDS, true, None, &request).expect("a JSON object");
    let req = params.validate().expect("required fields present");
    assert!(req.verify(JEEPAY_SECRET));
    group.bench_function("verify", |b| {
        b.iter(|| black_box(&req).verify(black_box(JEEPAY_SECRET)))
    });
    group.finish();
}

fn daxpay(c: &mut Criterion) {
    let mut group = c.benchmark_group("daxpay");
    let now = OffsetDateTime::now_utc();
    let wall = wall_clock(now, offset());
    let nonce = fresh_nonce();
    for scheme in schemes() {
        let name = format!("{}/{}", scheme.version, scheme.sign_type);
        // The fields of a 3.0 close call (the other versions send a subset; same order of cost).
        group.bench_function(format!("{name}/sign"), |b| {
            b.iter(|| {
                let mut fields = [
                    ("mchNo", Cow::Borrowed(DAX_MCH)),
                    ("appId", Cow::Borrowed(DAX_APP)),
                    ("nonceStr", Cow::Borrowed(nonce.as_str())),
                    ("orderNo", Cow::Borrowed(black_box(ORDER))),
                    ("reqTime", Cow::Borrowed(wall.as_str())),
                    ("useCancel", Cow::Borrowed("false")),
                ];
                black_box(scheme).sign(&mut fields, black_box(DAX_SECRET))
            })
        });
        let answer = success_answer(&scheme);
        let verified = read_answer(&scheme, DAX_SECRET, &answer);
        assert!(
            matches!(verified, Ok(Answer::Done { .. })),
            "{name}: {verified:?}"
        );
        // The fields DaxPay signs in a close success, checked against its signature.
        let envelope: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        let (signed, given) = match scheme.version {
            Version::V2_0 => (&envelope["data"], envelope["data"]["sign"].clone()),
            _ => (&envelope, envelope["sign"].clone()),
        };
        let given = given.as_str().expect("a signature").to_owned();
        let res_time = signed["resTime"].to_string().replace('"', "");
        let trace = envelope["traceId"].as_str().unwrap_or_default().to_owned();
        let with_trace = scheme.version != Version::V2_0;
        group.bench_function(format!("{name}/verify"), |b| {
            b.iter(|| {
                let mut fields = vec![
                    ("code", Cow::Borrowed("0")),
                    ("msg", Cow::Borrowed("success")),
                    ("resTime", Cow::Borrowed(res_time.as_str())),
                ];
                if with_trace {
                    fields.push(("traceId", Cow::Borrowed(trace.as_str())));
                }
                assert!(black_box(scheme).verify(&mut fields, DAX_SECRET, black_box(&given)));
            })
        });
    }
    group.finish();
}

fn close(c: &mut Criterion) {
    let mut group = c.benchmark_group("close");
    let request = jeepay_request();
    for scheme in schemes() {
        for (kind, answer) in [
            ("success", success_answer(&scheme)),
            ("not_found", not_found_answer(&scheme)),
        ] {
            let out = close_once(&scheme, &request, &answer);
            let expected: &[u8] = if kind == "success" {
                br#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
            } else {
                r#"{"code":9999,"msg":"订单不存在"}"#.as_bytes()
            };
            assert_eq!(out, expected, "{scheme:?} {kind}");
            group.bench_function(
                format!("{}/{}/{kind}", scheme.version, scheme.sign_type),
                |b| b.iter(|| close_once(&scheme, black_box(&request), black_box(&answer))),
            );
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = jeepay, daxpay, close
}
criterion_main!(benches);
