//! `paybridge verify`, through the real binary: every golden vector verifies, each integrator
//! mistake (made on purpose here, its wrong string to sign written out by hand) is named by its
//! exact `likely cause` line, exit codes 0/1/2, and the secret never appears in the output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::{Map, Value};

const JEEPAY_KEY: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
const DAX_KEY: &str = "dax_secret_Key123";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `paybridge verify ARGS --key-env PB_VERIFY_KEY` with `body` on stdin, and checks that the
/// secret (nor its upper-case form) appears nowhere in what it prints.
fn verify(args: &[&str], secret: &str, body: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("verify")
        .args(args)
        .args(["--key-env", "PB_VERIFY_KEY"])
        .env("PB_VERIFY_KEY", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paybridge runs");
    // A command refusing its arguments exits before reading stdin: a broken pipe is expected.
    let _ = child.stdin.take().unwrap().write_all(body.as_bytes());
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for text in [&run.stdout, &run.stderr] {
        assert!(
            secret.is_empty() || !text.contains(secret) && !text.contains(&secret.to_uppercase()),
            "the secret leaked: {text}"
        );
    }
    run
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn hmac_hex(s: &str, key: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn body(fields: &str, sign: &str) -> String {
    format!(r#"{{{fields},"sign":"{sign}"}}"#)
}

/// Verifies `body`, expects a mismatch, and returns the `likely cause` lines.
fn causes(args: &[&str], secret: &str, body: &str) -> Vec<String> {
    let run = verify(args, secret, body);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "MISMATCH: signature does not verify");
    assert!(lines[1].starts_with("expected: "));
    assert!(lines[2].starts_with("received: "));
    assert!(lines[3].starts_with("string to sign: "));
    let causes: Vec<String> = lines[4..]
        .iter()
        .filter(|l| l.starts_with("likely cause: "))
        .map(|l| l.to_string())
        .collect();
    assert!(!causes.is_empty(), "{}", run.stdout);
    causes
}

const JEEPAY: &[&str] = &["--dialect", "jeepay"];
const CLOSE: &str = r#""mchNo":"M1623984572","appId":"60cc09bce4b0f1c0b83761c9","version":"1.0","signType":"MD5","reqTime":"1622016572190""#;

// ---- golden vectors (vectors/golden/, vectors/README.md) -----------------------------------------

/// What the golden files hold: Jeepay entries, and DaxPay signatures (one per sign type).
const JEEPAY_ENTRIES: usize = 6;
const DAXPAY_SIGNATURES: usize = 17;

fn load(name: &str) -> Vec<Map<String, Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("a JSON array of objects")
}

fn with_sign(entry: &Map<String, Value>, sign: &str) -> String {
    let mut fields = entry["fields"].as_object().unwrap().clone();
    fields.insert("sign".to_owned(), Value::String(sign.to_owned()));
    Value::Object(fields).to_string()
}

#[test]
fn every_jeepay_vector_verifies() {
    let mut checked = 0;
    for entry in load("jeepay.json") {
        let name = entry["name"].as_str().unwrap();
        let secret = entry["secret"].as_str().unwrap();
        let sign = entry["sign"].as_str().unwrap();
        let run = verify(JEEPAY, secret, &with_sign(&entry, sign));
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let string = entry["string_to_sign"].as_str().unwrap();
        let masked = format!("{}***", &string[..string.len() - secret.len()]);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines[0], "OK: signature valid", "{name}");
        assert_eq!(lines[1], format!("string to sign: {masked}"), "{name}");
        checked += 1;
    }
    assert_eq!(checked, JEEPAY_ENTRIES);
}

#[test]
fn every_daxpay_vector_verifies() {
    let mut checked = 0;
    for entry in load("daxpay.json") {
        let name = entry["name"].as_str().unwrap();
        let secret = entry["secret"].as_str().unwrap();
        let version = entry["version"].as_str().unwrap();
        let string = entry["string_to_sign"].as_str().unwrap();
        let masked = format!("{}***", &string[..string.len() - secret.len()]);
        for (sign_type, sign) in entry["signs"].as_object().unwrap() {
            let args = [
                "--dialect",
                "daxpay",
                "--version",
                version,
                "--sign-type",
                sign_type,
            ];
            let run = verify(&args, secret, &with_sign(&entry, sign.as_str().unwrap()));
            assert_eq!(
                run.stdout,
                format!("OK: signature valid\nstring to sign: {masked}\n"),
                "{name} {sign_type}: {}",
                run.stderr
            );
            assert_eq!(run.code, 0);
            checked += 1;
        }
    }
    assert_eq!(checked, DAXPAY_SIGNATURES);
}

#[test]
fn daxpay_2_0_answer_is_verified_inside_data() {
    let s = format!("code=0&msg=success&resTime=1719460801&key={DAX_KEY}");
    let answer = format!(
        r#"{{"msg":"success","code":0,"data":{{"code":0,"msg":"success","resTime":1719460801,"sign":"{}"}},"traceId":"t1"}}"#,
        md5_hex(&s)
    );
    let args = [
        "--dialect",
        "daxpay",
        "--version",
        "2.0",
        "--sign-type",
        "md5",
    ];
    let run = verify(&args, DAX_KEY, &answer);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "OK: signature valid\nstring to sign: code=0&msg=success&resTime=1719460801&key=***\n"
    );
}

// ---- the report of a mismatch ------------------------------------------------------------------

#[test]
fn mismatch_report_is_exact() {
    let sign = md5_hex("key=another-key").to_uppercase();
    let run = verify(JEEPAY, JEEPAY_KEY, &body(CLOSE, &sign));
    assert_eq!(run.code, 1);
    let expected = md5_hex(&format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    ))
    .to_uppercase();
    assert_eq!(
        run.stdout,
        format!(
            "MISMATCH: signature does not verify\n\
             expected: {expected}\n\
             received: {sign}\n\
             string to sign: appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&reqTime=1622016572190&signType=MD5&version=1.0&key=***\n\
             likely cause: wrong key, or a field value changed after signing\n"
        )
    );
    assert_eq!(run.stderr, "");
}

// ---- one test per mistake ------------------------------------------------------------------------

#[test]
fn detects_digest_case() {
    // Jeepay answer in lower case: the SDK rejects it.
    let answer = format!(
        r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{}"}}"#,
        md5_hex(&format!("key={JEEPAY_KEY}"))
    );
    assert_eq!(
        causes(JEEPAY, JEEPAY_KEY, &answer),
        ["likely cause: the digest is not in upper case: Jeepay emits upper-case hex and its SDK checks answer signatures case-sensitively"]
    );
    // Jeepay request in lower case: the server accepts it; a note says so.
    let request = body(
        CLOSE,
        &md5_hex(&format!(
            "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
        )),
    );
    let run = verify(JEEPAY, JEEPAY_KEY, &request);
    assert_eq!(run.code, 0);
    assert!(run.stdout.ends_with(
        "note: the digest is not in upper case: Jeepay's server accepts it, but Jeepay itself emits upper case\n"
    ));
    // DaxPay in upper case: rejected.
    let s = format!("A=1&KEY={}", DAX_KEY.to_uppercase());
    let dax = body(r#""a":"1""#, &hmac_hex(&s, DAX_KEY).to_uppercase());
    assert_eq!(
        causes(&["--dialect", "daxpay"], DAX_KEY, &dax),
        ["likely cause: the digest is not in lower case: DaxPay compares signatures case-sensitively and expects lower-case hex"]
    );
}

#[test]
fn detects_empty_fields() {
    let fields = format!(r#"{CLOSE},"mchOrderNo":"MO1","payOrderId":"""#);
    let wrong = format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&mchOrderNo=MO1&payOrderId=&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    );
    assert_eq!(
        causes(JEEPAY, JEEPAY_KEY, &body(&fields, &md5_hex(&wrong).to_uppercase())),
        ["likely cause: empty-string fields were signed (payOrderId): Jeepay leaves out fields whose value is \"\""]
    );
    let dax_fields = r#""appId":"A1","clientIp":"","orderNo":"O1","reqTime":"2025-01-16 12:00:00""#;
    let dax_wrong = format!("appId=A1&orderNo=O1&reqTime=2025-01-16 12:00:00&key={DAX_KEY}");
    let args = ["--dialect", "daxpay", "--version", "3.0-beta"];
    assert_eq!(
        causes(&args, DAX_KEY, &body(dax_fields, &hmac_hex(&dax_wrong, DAX_KEY))),
        ["likely cause: empty-string fields were left out (clientIp): DaxPay keeps them and signs \"name=\""]
    );
}

#[test]
fn detects_undeclared_fields() {
    let declared = "version, signType, reqTime, mchNo, appId, mchOrderNo, payOrderId";
    let fields = format!(r#"{CLOSE},"payOrderId":"P1","notifyUrl":"https://m.example/n""#);
    let wrong = format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&notifyUrl=https://m.example/n&payOrderId=P1&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    );
    assert_eq!(
        causes(JEEPAY, JEEPAY_KEY, &body(&fields, &md5_hex(&wrong).to_uppercase())),
        [format!("likely cause: undeclared fields were signed (notifyUrl): Jeepay's close request signs only {declared} and ignores the rest")]
    );
    // Not recognisably a close request (no signType): all fields count unless the flag says not.
    let loose = r#""appId":"A1","extra":"x","mchNo":"M1","payOrderId":"P1""#;
    let all = format!("appId=A1&extra=x&mchNo=M1&payOrderId=P1&key={JEEPAY_KEY}");
    let input = body(loose, &md5_hex(&all).to_uppercase());
    assert_eq!(verify(JEEPAY, JEEPAY_KEY, &input).code, 0);
    assert_eq!(
        causes(&["--dialect", "jeepay", "--declared-only-close"], JEEPAY_KEY, &input),
        [format!("likely cause: undeclared fields were signed (extra): Jeepay's close request signs only {declared} and ignores the rest")]
    );
}

#[test]
fn detects_plain_key_sort() {
    let wrong = format!("B=2&a=1&key={JEEPAY_KEY}");
    let input = body(r#""a":"1","B":"2""#, &md5_hex(&wrong).to_uppercase());
    assert_eq!(
        causes(JEEPAY, JEEPAY_KEY, &input),
        ["likely cause: keys were sorted in plain byte order: Jeepay sorts whole \"key=value&\" entries case-insensitively, which puts \"a\" before \"B\""]
    );
}

#[test]
fn detects_upper_casing_missing_or_extra() {
    let fields = r#""appId":"A1","orderNo":"o1","reqTime":"2025-08-26 12:00:00""#;
    let plain = format!("appId=A1&orderNo=o1&reqTime=2025-08-26 12:00:00&key={DAX_KEY}");
    assert_eq!(
        causes(&["--dialect", "daxpay", "--version", "3.0"], DAX_KEY, &body(fields, &hmac_hex(&plain, DAX_KEY))),
        ["likely cause: the string to sign was not upper-cased: DaxPay 3.0 upper-cases the whole string, the key included (the signer follows 3.0-beta/2.0 rules)"]
    );
    let upper = body(fields, &hmac_hex(&plain.to_uppercase(), DAX_KEY));
    assert_eq!(
        causes(&["--dialect", "daxpay", "--version", "3.0-beta"], DAX_KEY, &upper),
        ["likely cause: the string to sign was upper-cased as only DaxPay 3.0 does: 3.0-beta signs it unchanged (the signer follows 3.0 rules; try --version 3.0)"]
    );
}

#[test]
fn detects_quotes_kept() {
    let wrong = format!("code=0&msg=say \"hi\" \\ bye&key={DAX_KEY}");
    let input = body(r#""code":0,"msg":"say \"hi\" \\ bye""#, &md5_hex(&wrong));
    let args = [
        "--dialect",
        "daxpay",
        "--version",
        "2.0",
        "--sign-type",
        "md5",
    ];
    assert_eq!(
        causes(&args, DAX_KEY, &input),
        ["likely cause: quotes or backslashes were kept (msg): DaxPay removes every \" and \\ from the string to sign"]
    );
}

#[test]
fn detects_sign_type() {
    let s = format!("CODE=0&MSG=SUCCESS&KEY={}", DAX_KEY.to_uppercase());
    let input = body(r#""code":0,"msg":"success""#, &md5_hex(&s));
    assert_eq!(
        causes(&["--dialect", "daxpay", "--sign-type", "hmac_sha256"], DAX_KEY, &input),
        ["likely cause: the digest is md5, not hmac_sha256: the signer uses another sign type (try --sign-type md5)"]
    );
    assert_eq!(
        causes(&["--dialect", "daxpay", "--sign-type", "sm3"], DAX_KEY, &input),
        ["likely cause: the digest is md5, not sm3: the signer uses another sign type (try --sign-type md5); a DaxPay 3.0.0 server configured for sm3 really computes MD5 (set sm3_is_md5 for it)"]
    );
}

#[test]
fn combined_mistakes_are_all_named() {
    let s = format!("appId=A1&orderNo=o1&key={DAX_KEY}");
    let input = body(
        r#""appId":"A1","orderNo":"o1""#,
        &md5_hex(&s).to_uppercase(),
    );
    assert_eq!(
        causes(&["--dialect", "daxpay"], DAX_KEY, &input),
        [
            "likely cause: the digest is not in lower case: DaxPay compares signatures case-sensitively and expects lower-case hex",
            "likely cause: the string to sign was not upper-cased: DaxPay 3.0 upper-cases the whole string, the key included (the signer follows 3.0-beta/2.0 rules)",
            "likely cause: the digest is md5, not hmac_sha256: the signer uses another sign type (try --sign-type md5)",
        ]
    );
}

#[test]
fn wrong_key_is_named_only_when_nothing_else_matches() {
    let other = hmac_hex("A=1&KEY=NOT-THE-KEY", "not-the-key");
    assert_eq!(
        causes(
            &["--dialect", "daxpay"],
            DAX_KEY,
            &body(r#""a":"1""#, &other)
        ),
        ["likely cause: wrong key, or a field value changed after signing"]
    );
}

// ---- exit codes and secrecy ----------------------------------------------------------------------

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let cases: [(&[&str], &str); 8] = [
        (JEEPAY, "{not json"),
        (JEEPAY, "[1,2]"),
        (JEEPAY, r#"{"mchNo":"M1"}"#),
        (JEEPAY, r#"{"sign":42}"#),
        (JEEPAY, r#"{"sign":""}"#),
        (
            &["--dialect", "jeepay", "--version", "2.0"],
            r#"{"sign":"x"}"#,
        ),
        (
            &["--dialect", "jeepay", "--sign-type", "sm3"],
            r#"{"sign":"x"}"#,
        ),
        (
            &["--dialect", "daxpay", "--declared-only-close"],
            r#"{"sign":"x"}"#,
        ),
    ];
    for (args, input) in cases {
        let run = verify(args, JEEPAY_KEY, input);
        assert_eq!(run.code, 2, "{args:?} {input}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with("paybridge verify: "));
    }
    // No key at all, and an empty key.
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["verify", "--dialect", "jeepay"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "paybridge verify: missing key: give --key SECRET, --key-env VAR or --key-file PATH\n"
    );
    let run = verify(JEEPAY, "", r#"{"sign":"x"}"#);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (2, "paybridge verify: the key is empty\n")
    );
}

#[test]
fn exit_codes_0_and_1() {
    let good = r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#;
    assert_eq!(verify(JEEPAY, JEEPAY_KEY, good).code, 0);
    let bad = good.replace("55EB", "55EC");
    assert_eq!(verify(JEEPAY, JEEPAY_KEY, &bad).code, 1);
    // --key works as well as --key-env.
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["verify", "--dialect", "jeepay", "--key", JEEPAY_KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(good.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_secret_never_appears_even_inside_values() {
    // The key sits in a field value and is upper-cased by 3.0: both forms are masked.
    let input = body(&format!(r#""nonceStr":"{DAX_KEY}""#), "0123");
    let run = verify(
        &["--dialect", "daxpay", "--version", "3.0"],
        DAX_KEY,
        &input,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("string to sign: NONCESTR=***&KEY=***\n"),
        "{}",
        run.stdout
    );
    // And in a valid answer's string to sign.
    let s = format!("nonceStr={DAX_KEY}&key={DAX_KEY}");
    let ok = body(
        &format!(r#""nonceStr":"{DAX_KEY}""#),
        &hmac_hex(&s, DAX_KEY),
    );
    let run = verify(&["--dialect", "daxpay", "--version", "2.0"], DAX_KEY, &ok);
    assert_eq!(
        run.stdout,
        "OK: signature valid\nstring to sign: nonceStr=***&key=***\n"
    );
}
