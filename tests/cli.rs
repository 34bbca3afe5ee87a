//! The `paybridge` binary: `check` on good and bad configurations, and `serve` end to end
//! (environment overrides, the README's walk-through, SIGTERM exits cleanly).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn paybridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paybridge"))
}

fn check(toml: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(&path, toml).unwrap();
    let out = paybridge()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const GOOD: &str = r#"
[upstreams.dax]
base_url = "http://127.0.0.1:9"
secret = "upstream-secret-value"
[[merchants]]
mch_no = "M1"
app_id = "A1"
secret = { env = "PB_TEST_MERCHANT_SECRET" }
[merchants.daxpay]
upstream = "dax"
mch_no = "DM1"
app_id = "DA1"
"#;

#[test]
fn check_accepts_the_shipped_configuration() {
    let out = paybridge()
        .args(["check", "--config", "config/paybridge.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains("merchant M1623984572/60cc09bce4b0f1c0b83761c9"));
    assert!(
        !summary.contains("EWEFD123RGSRETYDFNGFGFGSHDFGH")
            && !summary.contains("dax_secret_Key123")
    );
}

#[test]
fn check_masks_secrets_from_everywhere() {
    let (code, out, err) = check(
        GOOD,
        &[("PB_TEST_MERCHANT_SECRET", "merchant-secret-value")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("secret ***"));
    assert!(!out.contains("merchant-secret-value") && !out.contains("upstream-secret-value"));
}

#[test]
fn check_names_the_offending_key() {
    let env = [("PB_TEST_MERCHANT_SECRET", "s")];
    let cases: Vec<(String, &str)> = vec![
        (
            GOOD.replace("upstream = \"dax\"", "upstream = \"nope\""),
            "merchants[0].daxpay.upstream: unknown upstream `nope`",
        ),
        (
            format!("{GOOD}{}", &GOOD[GOOD.find("[[merchants]]").unwrap()..]),
            "merchants[1].app_id: duplicate merchant app `A1`",
        ),
        (
            GOOD.replace("http://127.0.0.1:9", "127.0.0.1:9"),
            "upstreams.dax.base_url",
        ),
        (
            GOOD.replace("http://127.0.0.1:9", "ftp://x"),
            "upstreams.dax.base_url",
        ),
        (
            GOOD.replace(
                "secret = \"upstream-secret-value\"",
                "version = \"4.0\"\nsecret = \"x\"",
            ),
            "upstreams.dax.version: unknown DaxPay version `4.0`",
        ),
        (
            GOOD.replace(
                "secret = \"upstream-secret-value\"",
                "sign_type = \"rsa\"\nsecret = \"x\"",
            ),
            "upstreams.dax.sign_type: unknown sign type `rsa`",
        ),
        (
            GOOD.replace("mch_no = \"DM1\"\n", ""),
            "merchants[0].daxpay.mch_no: required for DaxPay 3.0",
        ),
        (
            GOOD.replace("PB_TEST_MERCHANT_SECRET", "PB_TEST_UNSET_SECRET"),
            "merchants[0].secret: environment variable `PB_TEST_UNSET_SECRET` is not set",
        ),
        (
            GOOD.replace("[upstreams.dax]", "[upstreams.dax]\ntimeout_ms = \"soon\""),
            "timeout_ms",
        ),
        (
            GOOD.replace("[upstreams.dax]", "[upstreams.dax]\ntimeuot_ms = 5"),
            "timeuot_ms",
        ),
        (
            format!("{GOOD}\n[server]\nlisten = \"localhost\"\n"),
            "server.listen",
        ),
    ];
    for (toml, expected) in cases {
        let (code, out, err) = check(&toml, &env);
        assert_eq!(code, 2, "expected failure for {expected}; stdout {out}");
        assert!(
            err.contains(expected),
            "stderr {err:?} should name {expected:?}"
        );
        assert!(!err.contains("upstream-secret-value"));
    }
    let (code, _, err) = check(GOOD, &env);
    assert_eq!(code, 0, "{err}");
    let out = paybridge()
        .args(["check", "--config", "/nonexistent/paybridge.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The README's walk-through, against the shipped configuration (ports moved to free ones by
/// environment overrides), through the real binary; then SIGTERM.
#[tokio::test]
async fn serve_runs_the_readme_walkthrough_and_stops_on_sigterm() {
    // The shipped sandbox section, started here on a free port.
    let shipped = std::fs::read_to_string("config/paybridge.toml").unwrap();
    let sandbox_section = &shipped[shipped.find("[sandbox]").unwrap()..];
    let sandbox_section = &sandbox_section[..sandbox_section.find("[legacy_sandbox]").unwrap()];
    let (sandbox_server, sandbox) = start_sandbox(sandbox_section).await;
    let legacy_section = &shipped[shipped.find("[legacy_sandbox]").unwrap()..];
    let (legacy_server, legacy) = start_legacy(legacy_section).await;

    let child = paybridge()
        .args(["serve", "--config", "config/paybridge.toml"])
        .env("PAYBRIDGE_SERVER__LISTEN", "127.0.0.1:0")
        .env("PAYBRIDGE_SANDBOX__EMBEDDED", "false")
        .env("PAYBRIDGE_LEGACY_SANDBOX__EMBEDDED", "false")
        .env(
            "PAYBRIDGE_UPSTREAMS__LEGACY__BASE_URL",
            format!("http://{}", legacy_server.addr),
        )
        .env(
            "PAYBRIDGE_UPSTREAMS__DAXPAY__BASE_URL",
            format!("http://{}", sandbox_server.addr),
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let stdout = child.0.as_mut().unwrap().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("paybridge logs its address");
        if let Some(rest) = line
            .split("listen=")
            .nth(1)
            .filter(|_| line.contains("paybridge serving"))
        {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };

    let readme = std::fs::read_to_string("README.md").unwrap();
    let template = r#"BODY='{"mchNo":"M1623984572","appId":"60cc09bce4b0f1c0b83761c9","version":"1.0","signType":"MD5","reqTime":"'$(date +%s%3N)'","payOrderId":"DAX1001"}'"#;
    assert!(readme.contains(template), "README shows this walk-through");
    let fields = [
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time()),
        ("payOrderId", "DAX1001"),
    ];
    let signed_body = signed(&fields, JEEPAY_SECRET).to_string();

    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        signed_body.clone(),
        &[],
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
    );
    assert!(readme.contains(&a.body));
    assert_eq!(
        sandbox.order_status("DAX1001"),
        Some(paybridge_sandbox::OrderStatus::Close)
    );
    // The same body sent to the query reads the order back, closed (state 6), signed.
    assert!(readme.contains("curl -s http://127.0.0.1:8080/api/pay/query"));
    let a = send(
        addr,
        "POST",
        "/api/pay/query",
        Some("application/json"),
        signed_body.clone(),
        &[],
    )
    .await;
    let queried = a.json();
    assert_eq!(queried["data"]["state"], 6, "{}", a.body);
    assert_eq!(queried["data"]["payOrderId"], "DAX1001");
    assert!(sdk_accepts(&queried, JEEPAY_SECRET), "{}", a.body);
    let shown = &a.body[..a.body.find(r#","sign":"#).unwrap()];
    assert!(readme.contains(shown), "README shows this answer: {shown}");
    // The same signed request again: the first answer, replayed.
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        signed_body,
        &[],
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#
    );
    assert_eq!(a.headers["x-paybridge-replay"], "true");
    // A new request for the same order.
    let mut again = fields;
    again[4] = ("reqTime", req_time());
    let a = post_json(addr, "/api/pay/close", &signed(&again, JEEPAY_SECRET)).await;
    assert_eq!(a.body, r#"{"code":9999,"msg":"当前订单不可关闭"}"#);

    // An order DaxPay does not have falls back to the legacy gateway (the demo merchant's rule).
    let legacy_order = close_body(None, Some("LEG2001"));
    let a = post_json(addr, "/api/pay/close", &legacy_order).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(legacy.order_state("P2001"), Some(6));
    // A merchant paybridge holds no key for passes through untouched.
    let other = signed(
        &[
            ("mchNo", "M1700000001"),
            ("appId", "61aa00aae4b0f1c0b8000001"),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time()),
            ("payOrderId", "P3001"),
        ],
        "LEGACYMERCHANTSECRET0001",
    );
    let a = post_json(addr, "/api/pay/close", &other).await;
    assert_eq!(a.body, jeepay_success("LEGACYMERCHANTSECRET0001"));
    assert_eq!(legacy.order_state("P3001"), Some(6));

    // SIGHUP reloads the file (here unchanged): still serving afterwards.
    let pid = child.0.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let reloaded = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a reload line");
        if line.contains("configuration reloaded") {
            break line;
        }
    };
    assert!(reloaded.contains("sighup"), "{reloaded}");
    let a = post_json(
        addr,
        "/api/pay/close",
        &close_body(Some("NOPE-AFTER-HUP"), None),
    )
    .await;
    assert_eq!(a.body, r#"{"code":9999,"msg":"订单不存在"}"#);

    let mut child = child.0.take().unwrap();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends paybridge cleanly");
}

/// Kills the server if the test fails before stopping it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A reader that goes away (`paybridge check | head -1`) must not make paybridge panic.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    for args in [
        vec!["check", "--config", "config/paybridge.toml"],
        vec![
            "route",
            "--config",
            "config/paybridge.toml",
            "--mch-no",
            "M1623984572",
        ],
    ] {
        let mut child = paybridge()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `paybridge route` says which operations fall back to the legacy gateway: a new pay order never
/// does (it belongs to DaxPay), a close or a refund of an unknown order does.
#[test]
fn route_explains_the_fallback_per_operation() {
    let explain = |path: &str| {
        let out = paybridge()
            .args([
                "route",
                "--config",
                "config/paybridge.toml",
                "--path",
                path,
                "--mch-no",
                "M1623984572",
                "--app-id",
                "60cc09bce4b0f1c0b83761c9",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let pay = explain("/api/pay/unifiedOrder");
    assert!(
        pay.contains("/unipay/pay") && pay.contains("no fallback for unified_order"),
        "{pay}"
    );
    let refund = explain("/api/refund/refundOrder");
    assert!(
        refund.contains("/unipay/refund") && refund.contains("fallback: when DaxPay answers 20041"),
        "{refund}"
    );
}
