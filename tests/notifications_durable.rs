//! Notifications survive a crash: the real binary is killed (SIGKILL) after DaxPay's callback
//! was acknowledged but before the merchant acknowledged the notification; a new process on the
//! same order store delivers it. And two instances on one PostgreSQL deliver each job once.

mod binary;
mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use binary::Served;
use bytes::Bytes;
use common::*;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

/// A merchant endpoint answering `SUCCESS` only once `up`; it records every body it got.
async fn merchant(up: Arc<AtomicBool>) -> (SocketAddr, Arc<Mutex<Vec<BTreeMap<String, String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (seen, up) = (seen.clone(), up.clone());
        async move {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let params: BTreeMap<String, String> =
                form_urlencoded::parse(&body).into_owned().collect();
            seen.lock().unwrap().push(params);
            let answer = if up.load(Ordering::SeqCst) {
                "SUCCESS"
            } else {
                // Slowly: the sender is still waiting (its lease held) when the test kills it.
                tokio::time::sleep(Duration::from_millis(500)).await;
                "busy"
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                answer.as_bytes(),
            ))))
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::mem::forget(stop);
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        async move {
            let _ = stopped.await;
        },
        Duration::from_millis(100),
    ));
    (addr, got)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn verified(params: &BTreeMap<String, String>) -> bool {
    let fields: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    params
        .get("sign")
        .is_some_and(|s| s.eq_ignore_ascii_case(&jeepay_sign(&fields, JEEPAY_SECRET)))
}

async fn until(what: &str, secs: u64, check: impl Fn() -> bool) {
    for _ in 0..secs * 50 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within {secs} s: {what}");
}

fn pay_body(no: &str, notify: &str) -> serde_json::Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "500"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", notify),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_acknowledged_to_daxpay_survives_kill_9() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[]).replace(
        "[sandbox]\n",
        "[sandbox]\ncallback_retry_ms = [100, 200, 400]\n",
    ))
    .await;
    let up = Arc::new(AtomicBool::new(false));
    let (shop, got) = merchant(up.clone()).await;
    let store_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\""),
        )
        .replace(
            "url = \"sqlite::memory:\"",
            &format!(
                "url = \"sqlite://{}/orders.sqlite\"",
                store_dir.path().display()
            ),
        )
        + "\n[notify]\nretry_step_ms = 300\nmax_attempts = 50\ntimeout_ms = 1000\nallow_private_targets = true\n";
    let mut first = Served::start(&toml, "info");
    let proxy = first.address("paybridge serving");
    let answer = post_json(
        proxy,
        "/api/pay/unifiedOrder",
        &pay_body("K9", &format!("http://{shop}/n")),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap().to_owned();
    sandbox.pay_order(&order_no).unwrap();
    until("DaxPay's callback acknowledged", 10, || {
        sandbox.callbacks().iter().any(|c| c.acknowledged)
    })
    .await;
    until("a first, refused, attempt", 10, || {
        !got.lock().unwrap().is_empty()
    })
    .await;
    // kill -9: the notification is acknowledged to DaxPay, not yet to the merchant.
    drop(first);
    let before = got.lock().unwrap().len();
    up.store(true, Ordering::SeqCst);

    let mut second = Served::start(&toml, "info");
    second.address("paybridge serving");
    // Killed while the first attempt was still leased (the merchant answers slowly): delivered
    // once the lease (2 × the 1 s timeout + 1 s) is over.
    until("delivered after the restart", 20, || {
        got.lock().unwrap().len() > before
    })
    .await;
    let last = got.lock().unwrap().last().cloned().unwrap();
    assert!(verified(&last), "{last:?}");
    assert_eq!(
        (last["payOrderId"].as_str(), last["state"].as_str()),
        (order_no.as_str(), "2")
    );
    // Acknowledged: not sent again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(got.lock().unwrap().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_each_notification_once() {
    let Some(url) = postgres_database("notify_two").await else {
        return;
    };
    let (sb, sandbox) = start_sandbox(
        &sandbox_toml("3.0", "hmac_sha256", &[])
            .replace("[sandbox]\n", "[sandbox]\ncallback_retry_ms = [100, 200]\n"),
    )
    .await;
    let (shop, got) = merchant(Arc::new(AtomicBool::new(true))).await;
    let mut instances = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace(
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\""),
            )
            .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
            + "\n[notify]\nretry_step_ms = 100\npoll_ms = 50\nallow_private_targets = true\n";
        let mut served = Served::start(&toml, "info");
        let addr = served.address("paybridge serving");
        instances.push((served, addr));
    }
    let mut orders = Vec::new();
    for i in 0..12 {
        let addr = instances[i % 2].1;
        let answer = post_json(
            addr,
            "/api/pay/unifiedOrder",
            &pay_body(&format!("PG{i}"), &format!("http://{shop}/n")),
        )
        .await
        .json();
        assert_eq!(answer["code"], 0, "{answer}");
        orders.push(answer["data"]["payOrderId"].as_str().unwrap().to_owned());
    }
    for order in &orders {
        sandbox.pay_order(order).unwrap();
        // DaxPay calling twice, through either instance's URL (the token decides).
        sandbox.send_callback_again(order);
    }
    until("twelve notifications", 20, || {
        got.lock().unwrap().len() >= 12
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = got.lock().unwrap().clone();
    let mut per_order: BTreeMap<String, usize> = BTreeMap::new();
    for params in &got {
        assert!(verified(params));
        *per_order.entry(params["payOrderId"].clone()).or_default() += 1;
    }
    assert_eq!(per_order.len(), 12, "{per_order:?}");
    assert!(
        per_order.values().all(|n| *n == 1),
        "each delivered once: {per_order:?}"
    );
}
