//! `paybridge sign --dialect epay` and `paybridge verify --dialect epay`, through the real binary:
//! every derived vector signs and verifies (MD5 and RSA, form, query string and JSON input), each
//! usual mistake (made on purpose here, its wrong string written out by hand and digested or signed
//! directly, not through paybridge) is named by its exact `likely cause` line, bad input exits 2
//! with one line, and the MD5 key never appears in what is printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64ct::{Base64, Encoding};
use md5::{Digest, Md5};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Map, Value};

const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";
/// E1 of epay.md §15 on the wire, and its string to sign.
const E1_FORM: &str = "pid=1001&type=alipay&out_trade_no=20160806151343349&notify_url=http://www.pay.com/notify_url.php&return_url=http://www.pay.com/return_url.php&name=VIP%E4%BC%9A%E5%91%98&money=1.00&sign_type=MD5";
const E1_STRING: &str = "money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http://www.pay.com/return_url.php&type=alipay";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `paybridge COMMAND ARGS` with `input` on stdin, the key in PB_EPAY_KEY (`--key-env`)
/// unless the arguments name another source; checks that the MD5 key appears nowhere in the output.
fn run(command: &str, args: &[&str], key: &str, input: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paybridge"));
    cmd.arg(command).args(args);
    if !args.iter().any(|a| a.starts_with("--key")) {
        cmd.args(["--key-env", "PB_EPAY_KEY"]);
    }
    let mut child = cmd
        .env("PB_EPAY_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paybridge runs");
    // A command refusing its arguments exits before reading stdin: a broken pipe is expected.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
    run
}

fn verify(args: &[&str], key: &str, input: &str) -> Run {
    let mut all = vec!["--dialect", "epay"];
    all.extend_from_slice(args);
    run("verify", &all, key, input)
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn load() -> Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/derived/epay.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The sample private key (SDK2's), and its public key, from the vectors.
fn sample_keys() -> (String, String) {
    let doc = load();
    (
        doc["rsa_private_key"].as_str().unwrap().to_owned(),
        doc["rsa_public_key"].as_str().unwrap().to_owned(),
    )
}

/// SHA256WithRSA by the `rsa` crate directly (not through paybridge), base64.
fn rsa_sign(private_key: &str, string: &str) -> String {
    let der = Base64::decode_vec(private_key).unwrap();
    let key = rsa::PrivateKey::from_pkcs8_der(&der).unwrap();
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    Base64::encode_string(&signer.sign(string.as_bytes()).to_bytes())
}

/// A form body: `form` with `&sign=SIGN` (URL-encoded) appended.
fn with_sign(form: &str, sign: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(sign.as_bytes()).collect();
    format!("{form}&sign={encoded}")
}

fn causes(run: &Run) -> Vec<&str> {
    assert_eq!(
        run.code, 1,
        "expected a mismatch: {}{}",
        run.stdout, run.stderr
    );
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("likely cause: "))
        .collect()
}

fn key_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

// ---- the vectors ------------------------------------------------------------------------------

#[test]
fn every_vector_signs_and_verifies_through_the_cli() {
    let doc = load();
    let dir = tempfile::tempdir().unwrap();
    let (private_key, public_key) = sample_keys();
    let private_file = key_file(&dir, "private.b64", &private_key);
    let public_file = key_file(&dir, "public.b64", &public_key);
    let mut checked = 0;
    for entry in doc["entries"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let sign = entry["sign"].as_str().unwrap();
        let rsa = entry["kind"] == "rsa";
        let keep_blank = entry["filter"] == "3065";
        // The input: the listed parameters as JSON, or the wire form.
        let input = match (&entry["params"], &entry["body"], &entry["query"]) {
            (Value::Object(params), _, _) => Value::Object(params.clone()).to_string(),
            (_, Value::String(body), _) => body.clone(),
            (_, _, Value::String(query)) => query.clone(),
            _ => panic!("{name}: no input"),
        };
        let mut args = vec!["--dialect", "epay", "--show-string"];
        if rsa {
            args.extend(["--sign-type", "rsa", "--key-file", &private_file]);
        }
        if keep_blank {
            args.push("--keep-blank");
        }
        let signed = run("sign", &args, KEY, &input);
        assert_eq!(signed.code, 0, "{name}: {}", signed.stderr);
        let string = entry["string"].as_str().unwrap();
        let shown = if rsa {
            string.to_owned()
        } else {
            format!("{string}***")
        };
        assert_eq!(signed.stdout, format!("{shown}\n{sign}\n"), "{name}");

        // verify: the signed input (a wire form already carries its sign).
        let signed_input = match &entry["params"] {
            Value::Object(params) => {
                let mut params = params.clone();
                params.insert("sign".to_owned(), Value::from(sign));
                Value::Object(params).to_string()
            }
            _ => input,
        };
        let mut args: Vec<&str> = Vec::new();
        if rsa {
            // No --sign-type: the input's own sign_type says RSA, except E9-E11's listed params.
            args.extend(["--sign-type", "rsa", "--key-file", &public_file]);
        }
        if keep_blank {
            args.push("--keep-blank");
        }
        let verified = verify(&args, KEY, &signed_input);
        assert_eq!(
            verified.code, 0,
            "{name}: {}{}",
            verified.stdout, verified.stderr
        );
        assert!(
            verified.stdout.starts_with("OK: signature valid\n"),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn rsa_is_chosen_by_the_inputs_sign_type_and_a_stale_timestamp_is_noted() {
    let (_, public_key) = sample_keys();
    let doc = load();
    let e11 = doc["entries"][11]["query"].as_str().unwrap();
    let run = verify(&["--key", &public_key], KEY, e11);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "OK: signature valid");
    assert!(lines[2].starts_with("note: the timestamp is more than 300 s away from now"));
    assert!(lines[2].ends_with(
        "a V2 gateway refuses it now (时间戳字段不正确，请检查服务器时间), and SDK2 refuses such an answer or notification"
    ));
}

// ---- the usual mistakes -----------------------------------------------------------------------

#[test]
fn mismatch_report_is_exact() {
    let wrong = md5_hex(&format!("{E1_STRING}&key={KEY}"));
    let run = verify(&[], KEY, &with_sign(E1_FORM, &wrong));
    assert_eq!(
        run.stdout,
        format!(
            "MISMATCH: signature does not verify\nexpected: 427724b6656aa612cfdbe7a2262036a3\n\
             received: {wrong}\nstring to sign: {E1_STRING}***\n\
             likely cause: the key was appended as \"&key=KEY\", as Jeepay does: epay appends the key directly, md5(\"a=1&b=2\" + KEY)\n"
        )
    );
}

#[test]
fn detects_upper_case_hex() {
    let upper = md5_hex(&format!("{E1_STRING}{KEY}")).to_uppercase();
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(E1_FORM, &upper))),
        ["the digest is not in lower case: epay compares signatures exactly and expects lower-case hex"]
    );
}

#[test]
fn detects_empty_values_signed() {
    let form = format!("{E1_FORM}&param=&device=");
    let wrong = md5_hex(&format!(
        "device=&money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&param=&pid=1001&return_url=http://www.pay.com/return_url.php&type=alipay{KEY}"
    ));
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(&form, &wrong))),
        ["empty-string parameters were signed (param, device): epay leaves out parameters whose value is \"\""]
    );
}

#[test]
fn detects_url_encoded_values() {
    let wrong = md5_hex(&format!(
        "money=1.00&name=VIP%E4%BC%9A%E5%91%98&notify_url=http%3A%2F%2Fwww.pay.com%2Fnotify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http%3A%2F%2Fwww.pay.com%2Freturn_url.php&type=alipay{KEY}"
    ));
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(E1_FORM, &wrong))),
        ["values were URL-encoded before signing (notify_url, return_url, name): epay signs the decoded values raw"]
    );
}

#[test]
fn detects_sign_type_signed() {
    let wrong = md5_hex(&format!(
        "money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http://www.pay.com/return_url.php&sign_type=MD5&type=alipay{KEY}"
    ));
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(E1_FORM, &wrong))),
        ["sign_type was signed: epay leaves out sign and sign_type"]
    );
}

#[test]
fn detects_the_other_builds_rule_for_blank_values() {
    // E5: `sitename=" "` is signed by build 3065 and SDK1, left out by build 3094.
    let form = "pid=1001&type=alipay&out_trade_no=Z1&notify_url=https://shop.example.com/n&return_url=https://shop.example.com/r&name=n&money=5.00&param=0&sitename=+";
    let by_3065 = "90f639d4a56afa2e9351d728ac1a3e91";
    let by_3094 = "141592cb8fd3b3983243330a26288d85";
    assert_eq!(
        verify(&["--keep-blank"], KEY, &with_sign(form, by_3065)).code,
        0
    );
    assert_eq!(verify(&[], KEY, &with_sign(form, by_3094)).code, 0);
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(form, by_3065))),
        ["whitespace-only values were signed (sitename), as epay build 3065 and SDK1 do: build 3094 leaves them out (to verify by 3065's rule: --keep-blank)"]
    );
    assert_eq!(
        causes(&verify(&["--keep-blank"], KEY, &with_sign(form, by_3094))),
        ["whitespace-only values were left out (sitename), as epay build 3094 does: build 3065 signs them (to verify by 3094's rule: drop --keep-blank)"]
    );
}

#[test]
fn combined_mistakes_are_all_named() {
    let form = format!("{E1_FORM}&param=");
    let wrong = md5_hex(&format!(
        "money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&param=&pid=1001&return_url=http://www.pay.com/return_url.php&type=alipay&key={KEY}"
    ))
    .to_uppercase();
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(&form, &wrong))),
        [
            "the key was appended as \"&key=KEY\", as Jeepay does: epay appends the key directly, md5(\"a=1&b=2\" + KEY)",
            "the digest is not in lower case: epay compares signatures exactly and expects lower-case hex",
            "empty-string parameters were signed (param): epay leaves out parameters whose value is \"\"",
        ]
    );
}

#[test]
fn wrong_key_is_named_only_when_nothing_else_matches() {
    let other = md5_hex(&format!("{E1_STRING}another-key"));
    assert_eq!(
        causes(&verify(&[], KEY, &with_sign(E1_FORM, &other))),
        ["wrong key, or a field value changed after signing"]
    );
}

#[test]
fn rsa_mistakes_are_named_too() {
    let (private_key, public_key) = sample_keys();
    let form = "pid=1000&type=alipay&out_trade_no=T1&money=1.00&name=VIP%E4%BC%9A%E5%91%98&param=&timestamp=1721206072&sign_type=RSA";
    let right = rsa_sign(
        &private_key,
        "money=1.00&name=VIP会员&out_trade_no=T1&pid=1000&timestamp=1721206072&type=alipay",
    );
    assert_eq!(
        verify(&["--key", &public_key], KEY, &with_sign(form, &right)).code,
        0
    );
    let empty_signed = rsa_sign(
        &private_key,
        "money=1.00&name=VIP会员&out_trade_no=T1&param=&pid=1000&timestamp=1721206072&type=alipay",
    );
    assert_eq!(
        causes(&verify(&["--key", &public_key], KEY, &with_sign(form, &empty_signed))),
        ["empty-string parameters were signed (param): epay leaves out parameters whose value is \"\""]
    );
    let encoded = rsa_sign(
        &private_key,
        "money=1.00&name=VIP%E4%BC%9A%E5%91%98&out_trade_no=T1&pid=1000&timestamp=1721206072&type=alipay",
    );
    assert_eq!(
        causes(&verify(
            &["--key", &public_key],
            KEY,
            &with_sign(form, &encoded)
        )),
        ["values were URL-encoded before signing (name): epay signs the decoded values raw"]
    );
    let other = rsa_sign(&private_key, "money=2.00");
    assert_eq!(
        causes(&verify(
            &["--key", &public_key],
            KEY,
            &with_sign(form, &other)
        )),
        ["wrong key, or a field value changed after signing"]
    );
}

// ---- bad input, defaults and secrecy ----------------------------------------------------------

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let (private_key, _) = sample_keys();
    // An array parameter (`a[]=1`) is no bad input: build 3094 leaves it out of the signed
    // string, and so does paybridge.
    let cases: [(&[&str], &str, &str); 8] = [
        // The MD5 key is valid base64, but no public key.
        (&["--sign-type", "rsa"], "pid=1&sign=x", "the key is not an RSA public key in X.509 SubjectPublicKeyInfo DER (epay's merchant public key: base64 of the DER, as `openssl rsa -pubout -outform DER` writes it)"),
        (&[], "pid=1", "input has no `sign` parameter"),
        (&[], "pid=1&sign=", "the `sign` field is empty"),
        (&[], r#"{"pid":{"a":1},"sign":"x"}"#, "field `pid` is a JSON object or array: epay signs only plain values"),
        (&["--sign-type", "sha1"], "pid=1&sign=x", "epay sign type `sha1`: give md5 or rsa"),
        (&["--sign-type", "rsa", "--key", "%%%"], "pid=1&sign=x", "the key is not base64 (epay stores keys as the base64 of their DER, or as PEM)"),
        (&["--sign-type", "rsa", "--key", &private_key], "pid=1&sign=x", "the key is not an RSA public key in X.509 SubjectPublicKeyInfo DER (epay's merchant public key: base64 of the DER, as `openssl rsa -pubout -outform DER` writes it)"),
        (&["--version", "2.0"], "pid=1&sign=x", "--version and --declared-only-close do not apply to --dialect epay"),
    ];
    for (args, input, message) in cases {
        let run = verify(args, KEY, input);
        assert_eq!(run.code, 2, "{args:?} {input}: {}", run.stdout);
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!("paybridge verify: {message}\n"),
            "{args:?} {input}"
        );
    }
    let run = run_sign_jeepay_keep_blank();
    assert_eq!(
        run.stderr,
        "paybridge sign: --keep-blank applies to --dialect epay only\n"
    );
    let run = verify(&[], "", "pid=1&sign=x");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (2, "paybridge verify: the key is empty\n")
    );
}

fn run_sign_jeepay_keep_blank() -> Run {
    let run = run("sign", &["--dialect", "jeepay", "--keep-blank"], KEY, "{}");
    assert_eq!(run.code, 2);
    run
}

#[test]
fn the_default_dialect_stays_jeepay() {
    let input = r#"{"mchNo":"M1","appId":"A1"}"#;
    let default = run("sign", &[], KEY, input);
    let jeepay = run("sign", &["--dialect", "jeepay"], KEY, input);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert_eq!(default.stdout, jeepay.stdout);
    // Jeepay's rule: `&key=`, upper case.
    let expected = md5_hex(&format!("appId=A1&mchNo=M1&key={KEY}")).to_uppercase();
    assert_eq!(default.stdout, format!("{expected}\n"));
}

#[test]
fn the_key_never_appears_even_inside_values() {
    let form = format!("pid=1001&param={KEY}");
    let right = md5_hex(&format!("param={KEY}&pid=1001{KEY}"));
    let run = verify(&[], KEY, &with_sign(&form, &right));
    assert_eq!(
        run.stdout,
        "OK: signature valid\nstring to sign: param=***&pid=1001***\n"
    );
    let signed = run_sign_shown(&form);
    assert_eq!(signed, format!("param=***&pid=1001***\n{right}\n"));
}

fn run_sign_shown(form: &str) -> String {
    let run = run("sign", &["--dialect", "epay", "--show-string"], KEY, form);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// `paybridge route --pid` explains an epay path as the server reads it: `api.php` by the `act`
/// in `--path`'s query string (translated for `order` and `refund`, the gateway's `No Act!` for
/// the others and for none), an `/api/…` path that is no translated V2 method with the answer
/// the server gives a translated merchant.
#[test]
fn route_explains_epay_paths_as_the_server_reads_them() {
    let explain = |path: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .args([
                "route",
                "--config",
                "config/paybridge.toml",
                "--pid",
                "1001",
                "--path",
                path,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{path}");
        String::from_utf8(out.stdout).unwrap()
    };
    let order = explain("/api.php?act=order");
    assert!(
        order.contains("request: /api.php?act=order pid=1001"),
        "{order}"
    );
    assert!(
        order.contains("action: translate query → DaxPay")
            && order.contains("/unipay/query/payOrder"),
        "{order}"
    );
    let refund = explain("/api.php?act=refund");
    assert!(refund.contains("/unipay/refund"), "{refund}");
    for unserved in ["/api.php", "/api.php?act=settle"] {
        let text = explain(unserved);
        assert!(
            text.contains(r#"the merchant gets the gateway's {"code":-5,"msg":"No Act!"}"#),
            "{text}"
        );
        assert!(!text.contains("HTTP 404"), "{text}");
    }
    let v2 = explain("/api/pay/create");
    assert!(v2.contains("/unipay/pay"), "{v2}");
}
