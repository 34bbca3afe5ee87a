//! `paybridge check` on a configuration with a DaxPay 2.0 upstream, through the binary: it warns
//! that 2.0.8 refuses requests older than 10 s by default (keep the clocks together), and, when
//! `[settlement]` is off, that 2.0.8's single callback attempt leaves orders unsettled
//! (lifecycle-2.0.md §2.3, §2.10, §7.4). A 3.0 upstream gets neither warning.

use std::process::Command;

const MERCHANT_SECRET: &str = "merchant-secret-value";

/// A configuration whose upstream is DaxPay `version`, with `extra` appended.
fn config(version: &str, extra: &str) -> String {
    let identity = match version {
        "2.0" => "",
        _ => "mch_no = \"DM1\"\napp_id = \"DA1\"\n",
    };
    format!(
        r#"
[upstreams.dax]
base_url = "http://127.0.0.1:9"
version = "{version}"
sign_type = "hmac_sha256"
secret = "upstream-secret-value"
[[merchants]]
mch_no = "M1"
app_id = "A1"
secret = "{MERCHANT_SECRET}"
[merchants.daxpay]
upstream = "dax"
{identity}
{extra}
"#
    )
}

/// `paybridge check` of `toml`: its exit code and standard output and error, joined.
fn check(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    assert!(!text.contains(MERCHANT_SECRET), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

const AGE_WARNING: &str = "warning: upstream dax is DaxPay 2.0.8";
const SETTLEMENT_WARNING: &str = "warning: [settlement] is off";

#[test]
fn check_warns_of_2_0s_10_second_request_age() {
    let (code, text) = check(&config("2.0", ""));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(AGE_WARNING), "{text}");
    assert!(text.contains("10 s by default"), "{text}");
    assert!(text.contains("2.0.6 and 2.0.7"), "{text}");
    assert!(!text.contains(SETTLEMENT_WARNING), "{text}");
}

#[test]
fn check_warns_when_settlement_is_off_with_a_2_0_upstream() {
    let (code, text) = check(&config("2.0", "[settlement]\nenabled = false\n"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(AGE_WARNING), "{text}");
    assert!(text.contains(SETTLEMENT_WARNING), "{text}");
    assert!(text.contains("sends each callback once"), "{text}");
}

#[test]
fn check_gives_a_3_0_upstream_neither_warning() {
    let (code, text) = check(&config("3.0", "[settlement]\nenabled = false\n"));
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("DaxPay 2.0.8"), "{text}");
    assert!(!text.contains(SETTLEMENT_WARNING), "{text}");
}
