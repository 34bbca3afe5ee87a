//! Every golden vector in `vectors/golden/` (`vectors/README.md`), checked through the library and
//! through `paybridge sign`: both the exact string to sign and the signature. The number of
//! entries checked is asserted, so a truncated copy fails.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use paybridge::dialect::daxpay::{self, Scheme, SignType, Version};
use paybridge::dialect::jeepay;
use serde_json::{Map, Value};

/// What the golden files hold: entries of `jeepay.json`, entries of `daxpay.json`, and the
/// signatures in those (one per sign type).
const JEEPAY_ENTRIES: usize = 6;
const DAXPAY_ENTRIES: usize = 6;
const DAXPAY_SIGNATURES: usize = 17;

fn load(name: &str) -> Vec<Map<String, Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entries: Vec<Map<String, Value>> =
        serde_json::from_str(&text).expect("vector file is a JSON array of objects");
    assert!(!entries.is_empty(), "{} holds no vectors", path.display());
    entries
}

fn str_of<'a>(entry: &'a Map<String, Value>, key: &str) -> &'a str {
    entry[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn jeepay_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[test]
fn jeepay_vectors() {
    let mut checked = 0;
    for entry in load("jeepay.json") {
        let name = str_of(&entry, "name");
        let secret = str_of(&entry, "secret");
        let owned: Vec<(String, String)> = entry["fields"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| jeepay_text(v).map(|t| (k.clone(), t)))
            .collect();
        let mut fields: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, v)| jeepay::sign::signable(k, v))
            .collect();
        let s = jeepay::sign::string_to_sign(&mut fields, secret);
        assert_eq!(
            s,
            str_of(&entry, "string_to_sign"),
            "{name}: string to sign"
        );
        assert_eq!(
            jeepay::sign::digest(&s).as_str(),
            str_of(&entry, "sign"),
            "{name}: sign"
        );
        assert!(jeepay::sign::digest(&s).matches(&str_of(&entry, "sign").to_ascii_lowercase()));
        checked += 1;
    }
    assert_eq!(checked, JEEPAY_ENTRIES, "Jeepay vectors checked");
}

#[test]
fn daxpay_vectors() {
    let (mut entries, mut checked) = (0, 0);
    for entry in load("daxpay.json") {
        entries += 1;
        let name = str_of(&entry, "name");
        let version: Version = str_of(&entry, "version").parse().unwrap();
        let secret = str_of(&entry, "secret");
        let object = entry["fields"].as_object().unwrap();
        let mut fields: Vec<(&str, Cow<'_, str>)> = daxpay::sign::fields_of(object);
        let s = daxpay::sign::string_to_sign(version, &mut fields, secret);
        assert_eq!(
            s,
            str_of(&entry, "string_to_sign"),
            "{name}: string to sign"
        );
        for (sign_type, expected) in entry["signs"].as_object().unwrap() {
            let sign_type: SignType = sign_type.parse().unwrap();
            let scheme = Scheme::new(version, sign_type);
            let expected = expected.as_str().unwrap();
            assert_eq!(
                scheme.sign(&mut fields, secret),
                expected,
                "{name}: {sign_type}"
            );
            assert!(
                scheme.verify(&mut fields, secret, expected),
                "{name}: {sign_type} verifies"
            );
            checked += 1;
        }
    }
    assert_eq!(entries, DAXPAY_ENTRIES, "DaxPay vectors checked");
    assert_eq!(checked, DAXPAY_SIGNATURES, "DaxPay signatures checked");
}

/// `paybridge sign` must reproduce every vector, with --show-string printing the string masked.
#[test]
fn sign_command_reproduces_every_vector() {
    let (mut jeepay_checked, mut daxpay_checked) = (0, 0);
    for entry in load("jeepay.json") {
        let fields = entry["fields"].to_string();
        let out = run_sign(
            &["--dialect", "jeepay", "--show-string"],
            str_of(&entry, "secret"),
            &fields,
        );
        let expected_string =
            str_of(&entry, "string_to_sign").replace(str_of(&entry, "secret"), "***");
        assert_eq!(
            out,
            format!("{expected_string}\n{}\n", str_of(&entry, "sign")),
            "{}",
            str_of(&entry, "name")
        );
        jeepay_checked += 1;
    }
    for entry in load("daxpay.json") {
        let fields = entry["fields"].to_string();
        let secret = str_of(&entry, "secret");
        for (sign_type, expected) in entry["signs"].as_object().unwrap() {
            let args = [
                "--dialect",
                "daxpay",
                "--version",
                str_of(&entry, "version"),
                "--sign-type",
                sign_type,
            ];
            let out = run_sign(&args, secret, &fields);
            assert_eq!(
                out,
                format!("{}\n", expected.as_str().unwrap()),
                "{} {sign_type}",
                str_of(&entry, "name")
            );
            daxpay_checked += 1;
        }
        let masked = run_sign(
            &[
                "--dialect",
                "daxpay",
                "--version",
                str_of(&entry, "version"),
                "--show-string",
            ],
            secret,
            &fields,
        );
        let first = masked.lines().next().unwrap();
        let string = str_of(&entry, "string_to_sign");
        let without_secret = &string[..string.len() - secret.len()];
        assert_eq!(
            first,
            format!("{without_secret}***"),
            "{}",
            str_of(&entry, "name")
        );
        assert!(!masked.contains(secret) && !masked.contains(&secret.to_uppercase()));
    }
    assert_eq!(jeepay_checked, JEEPAY_ENTRIES);
    assert_eq!(daxpay_checked, DAXPAY_SIGNATURES);
}

fn run_sign(args: &[&str], secret: &str, stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("sign")
        .args(args)
        .args(["--key-env", "PB_TEST_KEY"])
        .env("PB_TEST_KEY", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paybridge runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "paybridge sign {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sign_command_fails_cleanly() {
    let cases: [(&[&str], &str); 4] = [
        (&["--dialect", "jeepay", "--key", "k"], "{not json"),
        (&["--dialect", "jeepay", "--key", "k"], "[1,2]"),
        (&["--dialect", "jeepay"], "{}"),
        (
            &["--dialect", "daxpay", "--key-env", "PB_UNSET_VAR_FOR_TEST"],
            "{}",
        ),
    ];
    for (args, stdin) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .arg("sign")
            .args(args)
            .env_remove("PB_UNSET_VAR_FOR_TEST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may exit (missing key) before reading stdin: a broken pipe is expected.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} {stdin}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one-line error, got {err:?}");
    }
}

/// A clone must stand on its own: no file of the repository may reach outside it for vectors or
/// protocol documents (`.ci/run` alone compares the copy with the originals when they are there).
#[test]
fn nothing_in_the_repository_reaches_beside_the_clone() {
    // Built from pieces so that this file does not name what it looks for.
    let needles = [
        ["..", "/shared"].concat(),
        ["shared", "/vectors"].concat(),
        ["shared", "/protocols"].concat(),
    ];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    let mut files = 0;
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                // Build output and version control are not the checkout's content.
                if name != "target" && name != ".git" {
                    pending.push(path);
                }
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap();
            if relative == std::path::Path::new(".ci/run") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            files += 1;
            let text = String::from_utf8_lossy(&bytes);
            if needles.iter().any(|n| text.contains(n.as_str())) {
                offenders.push(relative.display().to_string());
            }
        }
    }
    assert!(
        files > 100,
        "only {files} files read: is this the repository?"
    );
    assert!(
        offenders.is_empty(),
        "these files name the shared folder: {offenders:?}"
    );
}
