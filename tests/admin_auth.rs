//! Issue 13, findings 5 and 10 (secrets): the admin listener's bearer token through a real
//! socket, no error (`paybridge check`, the reload answer, the ERROR log) repeating a password,
//! and the start-up warnings about exposed secrets and an unprotected replay store.

mod binary;
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use binary::Served;
use common::*;

const TOKEN: &str = "admin-token-0123456789";

async fn admin_with_token() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    std::mem::forget((sb, sandbox));
    let toml = proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "hmac_sha256", "", "")
        + &format!("\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n");
    let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
    let bound = paybridge::app::bind(&config).await.unwrap();
    let admin = bound.admin_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::app::run(
        paybridge::proxy::Gateway::new(config),
        bound,
        None,
        async move {
            let _ = rx.await;
        },
    ));
    (admin, tx)
}

#[tokio::test]
async fn admin_routes_need_the_bearer_token_but_health_checks_do_not() {
    let (admin, _stop) = admin_with_token().await;
    let bearer = format!("Bearer {TOKEN}");
    let lower = format!("bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let short = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for (method, path) in [
        ("GET", "/admin/config"),
        ("GET", "/metrics"),
        ("POST", "/admin/reload"),
        ("GET", "/nowhere"),
    ] {
        for auth in [
            None,
            Some(wrong.as_str()),
            Some(short.as_str()),
            Some(TOKEN),
            Some("Basic YWRtaW46YWRtaW4="),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|a| ("authorization", a)).into_iter().collect();
            let a = send(admin, method, path, None, "", &headers).await;
            assert_eq!(a.status, 401, "{method} {path} with {auth:?}: {}", a.body);
            assert_eq!(a.headers["www-authenticate"], "Bearer");
            assert!(!a.body.contains("hunter") && !a.body.contains(TOKEN));
        }
    }
    for auth in [&bearer, &lower] {
        let a = send(
            admin,
            "GET",
            "/admin/config",
            None,
            "",
            &[("authorization", auth)],
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("merchant M1623984572"), "{}", a.body);
        assert!(!a.body.contains(TOKEN), "the summary never shows the token");
    }
    let a = send(
        admin,
        "POST",
        "/admin/reload",
        None,
        "",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(
        a.status, 409,
        "authorized, but started without a file: {}",
        a.body
    );
    let a = send(admin, "GET", "/healthz", None, "", &[]).await;
    assert_eq!(a.status, 200);
    let a = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_ne!(a.status, 401, "{}", a.body);
}

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
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn base() -> String {
    proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "hmac_sha256", "", "")
}

#[test]
fn a_public_admin_listener_without_a_token_is_refused() {
    let (code, out) = check(&(base() + "\n[admin]\nlisten = \"0.0.0.0:9100\"\n"));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("admin.token: required"), "{out}");
    let (code, out) =
        check(&(base() + &format!("\n[admin]\nlisten = \"0.0.0.0:9100\"\ntoken = \"{TOKEN}\"\n")));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("admin: 0.0.0.0:9100 · bearer token ***"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "{out}");
}

#[test]
fn check_never_prints_a_password_from_a_url() {
    let with_userinfo = base().replace("http://127.0.0.1:9", "http://user:hunter2@127.0.0.1:9");
    assert!(with_userinfo.contains("hunter2"));
    for toml in [
        with_userinfo,
        base() + "\n[replay]\nstore = \"redis//:hunter2@127.0.0.1:6379\"\n",
        base() + "\n[replay]\nstore = \"redis://:hunter2@127.0.0.1:notaport\"\n",
        base() + "\n[replay]\nstore = \"redis://:hunter2@127.0.0.1:6379\"\nttl_secs = \"x\"\n",
    ] {
        let (code, out) = check(&toml);
        assert_eq!(code, 2, "{out}");
        assert!(!out.contains("hunter2"), "{out}");
    }
}

#[tokio::test]
async fn the_reload_answer_and_the_error_log_never_repeat_a_password() {
    let good = base()
        + &format!(
            "\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n[log]\nformat = \"json\"\n"
        );
    let mut served = Served::start(&good, "info");
    let admin = served.address("admin listener serving");
    let _ = served.address("paybridge serving");
    let bad = good.replace("http://127.0.0.1:9", "http://user:hunter2@127.0.0.1:9");
    std::fs::write(&served.config, bad).unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let a = send(
        admin,
        "POST",
        "/admin/reload",
        None,
        "",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("base_url"), "{}", a.body);
    assert!(!a.body.contains("hunter2"), "{}", a.body);
    served
        .wait_for(Duration::from_secs(10), |l| {
            l.contains("configuration rejected")
        })
        .expect("the rejection is logged");
    served.drain(Duration::from_millis(300));
    assert!(!served.all().contains("hunter2"), "{}", served.all());
}

/// Finding 10: the permission warning counts the Redis password and the sandbox's secrets,
/// names `{ file = … }` secrets others can read, and `on_store_error = "allow"` is loud.
#[cfg(unix)]
#[test]
fn start_up_warns_of_exposed_secrets_and_of_an_unprotected_replay_store() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut sandbox = sandbox_toml("3.0", "hmac_sha256", &[]);
    sandbox = sandbox.replace("[sandbox]\n", "[sandbox]\nembedded = false\n");
    // Three inline secrets in the proxy's sections, two in the sandbox's (one app per merchant),
    // one in the Redis URL.
    let toml = base()
        + &format!(
            "\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = {{ file = {:?} }}\n[replay]\nstore = \"redis://:hunter2@127.0.0.1:1\"\non_store_error = \"allow\"\n",
            token_file
        )
        + &sandbox;
    let config = dir.path().join("paybridge.toml");
    std::fs::write(&config, toml).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut served = Served::start_file(dir, config, "info");
    served.wait_for(Duration::from_secs(20), |l| l.contains("cannot serve"));
    let all = served.all();
    assert!(
        all.contains("readable by others") && all.contains("inline_secrets=6"),
        "{all}"
    );
    assert!(all.contains("a secret file is readable by others"), "{all}");
    assert!(all.contains("admin-token"), "the file is named: {all}");
    assert!(all.contains("REPLAY PROTECTION IS OFF"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
    assert!(!all.contains(TOKEN), "{all}");
}
