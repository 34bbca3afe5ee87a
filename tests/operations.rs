//! Operations: metrics move after requests, health and readiness transitions, and the access
//! log (fields present, secrets and signatures absent), through the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// paybridge through `app::run` with an admin listener; returns proxy, admin and a stopper.
async fn with_admin(
    toml: &str,
) -> (
    std::net::SocketAddr,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let config = Arc::new(
        paybridge::config::Config::from_toml(&format!(
            "{toml}\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        ))
        .unwrap(),
    );
    let bound = paybridge::app::bind(&config).await.unwrap();
    let proxy = bound.proxy_addr().unwrap();
    let admin = bound.admin_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(paybridge::app::run(
        paybridge::proxy::Gateway::new(config),
        bound,
        None,
        async move {
            let _ = rx.await;
        },
    ));
    (proxy, admin, tx, task)
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_after_requests() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("M1", "MM1", "progress")],
    ))
    .await;
    let (proxy, admin, _stop, _task) =
        with_admin(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")).await;

    let body = close_body(Some("M1"), None);
    assert_eq!(
        post_json(proxy, "/api/pay/close", &body).await.body,
        jeepay_success(JEEPAY_SECRET)
    );
    let _replayed = post_json(proxy, "/api/pay/close", &body).await;
    let mut bad = close_body(Some("M1"), None);
    bad["sign"] = Value::from("00000000000000000000000000000000");
    let _ = post_json(proxy, "/api/pay/close", &bad).await;

    let m = send(admin, "GET", "/metrics", None, "", &[]).await;
    assert_eq!(m.status, 200);
    let text = m.body;
    assert!(
        metric(
            &text,
            r#"paybridge_requests_total{operation="close",action="translate",code="0"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"paybridge_requests_total{operation="close",action="replay",code="0"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"paybridge_requests_total{operation="close",action="translate",code="9999"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            r#"paybridge_signature_failures_total{reason="merchant_request"}"#
        ) >= 1.0
    );
    assert!(metric(&text, "paybridge_replays_total") >= 1.0);
    assert!(
        text.contains(r#"paybridge_upstream_seconds_bucket{upstream="dax",le="0.005"}"#),
        "a histogram: {text}"
    );
    assert!(text.contains("paybridge_request_seconds_bucket"), "{text}");
    assert!(!text.contains(JEEPAY_MCH), "no merchant labels");
}

#[tokio::test]
async fn health_and_readiness_follow_the_upstreams_and_shutdown() {
    let (sb, _sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[("H1", "MH1", "progress")])
            + "close_delay_ms = 600\n"),
    )
    .await;
    let (proxy, admin, stop, task) =
        with_admin(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")).await;
    assert_eq!(
        send(admin, "GET", "/healthz", None, "", &[]).await.status,
        200
    );
    let ready = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["upstreams"]["dax"], "reachable");

    // A slow request is in flight when shutdown begins: not ready, still answering.
    let in_flight = tokio::spawn(async move {
        post_json(proxy, "/api/pay/close", &close_body(Some("H1"), None))
            .await
            .body
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let draining = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_eq!(draining.status, 503);
    assert_eq!(draining.json()["draining"], true);
    assert_eq!(in_flight.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    task.await.unwrap();

    // An unreachable upstream makes a fresh instance not ready.
    drop(sb);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (_proxy, admin, _stop, _task) =
        with_admin(&proxy_toml(dead, "3.0", "hmac_sha256", "", "")).await;
    let ready = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["upstreams"]["dax"], "unreachable");
    assert_eq!(
        send(admin, "GET", "/healthz", None, "", &[]).await.status,
        200,
        "alive all the same"
    );
}

/// Kills the server if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_access_log_has_one_json_line_per_request_and_no_secrets() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("A1", "MA1", "progress")],
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(
        &path,
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "") + "\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr: std::net::SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("paybridge logs its address");
        let json: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        lines.push(line);
        if json["message"] == "paybridge serving" {
            break json["listen"].as_str().unwrap().parse().unwrap();
        }
    };

    let good = close_body(Some("A1"), None);
    let a = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        good.to_string(),
        &[("x-request-id", "req-access-1")],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    let mut bad = close_body(Some("A1"), None);
    bad["sign"] = Value::from("00000000000000000000000000000000");
    let _ = send(
        addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        bad.to_string(),
        &[("x-request-id", "req-access-2")],
    )
    .await;

    let mut access = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while access.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let json: Value = serde_json::from_str(&line).unwrap();
            if json["target"] == "paybridge::access" {
                access.push(json);
            }
            lines.push(line);
        }
    }
    assert_eq!(access.len(), 2, "one line per request: {lines:#?}");
    let first = &access[0];
    assert_eq!(first["request_id"], "req-access-1");
    assert_eq!(first["operation"], "close");
    assert_eq!(first["mch_no"], JEEPAY_MCH);
    assert_eq!(first["action"], "translate");
    assert_eq!(first["upstream"], "dax");
    assert_eq!(first["code"], "0");
    assert!(
        first["daxpay_trace_id"].as_str().unwrap().len() >= 8,
        "DaxPay's traceId: {first}"
    );
    assert!(first["latency_us"].as_u64().is_some());
    let second = &access[1];
    assert_eq!(second["request_id"], "req-access-2");
    assert_eq!(second["code"], "9999");
    assert_eq!(second["error"], "bad_signature");

    let all = lines.join("\n");
    for secret in [JEEPAY_SECRET, DAX_SECRET, good["sign"].as_str().unwrap()] {
        assert!(!all.contains(secret), "{secret} leaked into the log");
    }
}

/// Every request head a raw upstream receives, answered with HTTP 500 (an unknown outcome, which
/// paybridge resolves with a query: two calls per close).
async fn recording_upstream() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    buf.drain(..end + 4 + length);
                    seen.lock().unwrap().push(head);
                    let answer = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n";
                    if socket.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn daxpay_calls_continue_the_callers_trace_with_one_new_parent() {
    let (upstream, heads) = recording_upstream().await;
    let proxy = start_proxy(&proxy_toml(
        upstream,
        "3.0",
        "hmac_sha256",
        "retries = 0",
        "",
    ))
    .await;
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        close_body(Some("T1"), None).to_string(),
        &[("traceparent", caller)],
    )
    .await;
    assert!(answer.body.contains("结果未知"), "{}", answer.body);
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "the close, then the query: {heads:?}");
    let sent: Vec<&str> = heads
        .iter()
        .map(|h| {
            h.lines()
                .find_map(|l| l.strip_prefix("traceparent:"))
                .expect("a traceparent on every DaxPay call")
                .trim()
        })
        .collect();
    assert!(
        sent[0].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{}",
        sent[0]
    );
    assert!(sent[0].ends_with("-01"));
    assert!(!sent[0].contains("00f067aa0ba902b7"), "a new parent id");
    assert_eq!(sent[0], sent[1], "one parent for the request's calls");
}
