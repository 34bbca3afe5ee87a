//! Reliability: the reqTime window, idempotent replay (memory and Redis), retries and the
//! circuit breaker, unknown outcomes resolved by query, load shedding and connection limits,
//! slow clients, graceful shutdown.

mod common;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Response;
use http_body_util::Full;
use paybridge::dialect::daxpay::envelope::wall_clock;
use paybridge::dialect::daxpay::{Scheme, SignType, Version};
use paybridge_sandbox::OrderStatus;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn body_with_req_time(req_time: &str, order: &str) -> Value {
    signed(
        &[
            ("mchNo", JEEPAY_MCH),
            ("appId", JEEPAY_APP),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time),
            ("payOrderId", order),
        ],
        JEEPAY_SECRET,
    )
}

async fn stack(
    orders: &[(&str, &str, &str)],
    sandbox_extra: &str,
    proxy_extra: &str,
) -> (Running, Running, paybridge_sandbox::Sandbox) {
    let (sb, sandbox) =
        start_sandbox(&(sandbox_toml("3.0", "hmac_sha256", orders) + sandbox_extra)).await;
    let proxy =
        start_proxy(&(proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "") + proxy_extra)).await;
    (proxy, sb, sandbox)
}

fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

#[tokio::test]
async fn req_time_window_in_seconds_millis_and_micros() {
    let (proxy, _sb, sandbox) = stack(
        &[
            ("W1", "M1", "progress"),
            ("W2", "M2", "progress"),
            ("W3", "M3", "progress"),
        ],
        "",
        "",
    )
    .await;
    let t = now();
    for (req_time, order) in [
        (t.as_secs().to_string(), "W1"),
        (t.as_millis().to_string(), "W2"),
        (t.as_micros().to_string(), "W3"),
    ] {
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &body_with_req_time(&req_time, order),
        )
        .await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "reqTime {req_time}");
    }
    let stale = (t.as_millis() - 301_000).to_string();
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &body_with_req_time(&stale, "W1"),
    )
    .await;
    let msg = a.json()["msg"].as_str().unwrap().to_owned();
    assert_eq!(a.json()["code"], 9999);
    assert!(
        msg.starts_with("请求时间超出允许范围[±300秒]，服务器时间"),
        "{msg}"
    );
    let future = (t.as_millis() + 301_000).to_string();
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &body_with_req_time(&future, "W1"),
    )
    .await;
    assert!(a.json()["msg"]
        .as_str()
        .unwrap()
        .starts_with("请求时间超出允许范围"));
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &body_with_req_time("20190723141000", "W1"),
    )
    .await;
    assert_eq!(
        a.body,
        error(
            9999,
            "请求时间格式无法识别[20190723141000]，应为10、13或16位时间戳"
        )
    );
    assert_eq!(
        sandbox.requests_seen(),
        3,
        "refused requests never reach DaxPay"
    );
}

#[tokio::test]
async fn req_time_window_can_be_switched_off_per_merchant() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("OLD", "MOLD", "progress")],
    ))
    .await;
    // Replay on and a window off: how long requests are remembered must be written.
    let proxy = start_proxy(
        &(proxy_toml(
            sb.addr,
            "3.0",
            "hmac_sha256",
            "",
            "req_time_window_secs = 0",
        ) + "\n[replay]\nttl_secs = 600\n"),
    )
    .await;
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &body_with_req_time("1622016572190", "OLD"),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("OLD"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn a_duplicate_gets_the_first_answer_without_reaching_daxpay() {
    // The merchant accepts cancels (allow_cancel): the cancel below reaches DaxPay.
    let (_sb, sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("R1", "MR1", "progress")],
    ))
    .await;
    let proxy = start_proxy(&proxy_toml(
        _sb.addr,
        "3.0",
        "hmac_sha256",
        "",
        "allow_cancel = true",
    ))
    .await;
    let body = close_body(Some("R1"), None);
    let first = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(first.body, jeepay_success(JEEPAY_SECRET));
    let seen = sandbox.requests_seen();
    let again = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["x-paybridge-replay"], "true");
    // The same signature in lower case is the same request (Jeepay compares case-insensitively).
    let mut lower = body.clone();
    lower["sign"] = json!(body["sign"].as_str().unwrap().to_ascii_lowercase());
    let third = post_json(proxy.addr, "/api/pay/close", &lower).await;
    assert_eq!(third.body, first.body);
    assert_eq!(
        sandbox.requests_seen(),
        seen,
        "replays never reach the upstream"
    );
    // Refusals are replayed too; a cancel with the same fields is another operation.
    let cancel = post_json(proxy.addr, "/api/pay/cancel", &body).await;
    assert_eq!(cancel.body, error(9999, "当前订单不可关闭"));
    assert_eq!(sandbox.requests_seen(), seen + 1);
}

#[tokio::test]
async fn concurrent_duplicates_are_coalesced() {
    let extra = "close_delay_ms = 300\n";
    let (proxy, _sb, sandbox) = stack(&[("C1", "MC1", "progress")], extra, "").await;
    let body = close_body(Some("C1"), None);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let body = body.clone();
        let addr = proxy.addr;
        tasks.push(tokio::spawn(async move {
            post_json(addr, "/api/pay/close", &body).await.body
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    }
    assert_eq!(sandbox.requests_seen(), 1, "exactly one went upstream");
}

#[tokio::test]
async fn two_instances_share_replays_through_redis() {
    let Some(redis) = common::redis::redis_server(None) else {
        return;
    };
    let (sb, sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[("X1", "MX1", "progress")])
            + "close_delay_ms = 200\n"),
    )
    .await;
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        + &format!("\n[replay]\nstore = \"{}\"\n", redis.url());
    let config = std::sync::Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
    let mut instances = Vec::new();
    for _ in 0..2 {
        let gateway = paybridge::proxy::Gateway::build(config.clone())
            .await
            .expect("redis reachable");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let service = paybridge::app::proxy_service(gateway, 64);
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        instances.push(Running::new(addr, tx));
    }
    let body = close_body(Some("X1"), None);
    // Concurrent duplicates on both instances: one goes upstream, all get its answer.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let addr = instances[i % 2].addr;
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            post_json(addr, "/api/pay/close", &body).await.body
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    }
    assert_eq!(sandbox.requests_seen(), 1);
    let later = post_json(instances[1].addr, "/api/pay/close", &body).await;
    assert_eq!(later.headers["x-paybridge-replay"], "true");
    assert_eq!(sandbox.requests_seen(), 1);
    drop(redis);
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_or_closed_as_configured() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let toml = proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "md5", "", "")
        + &format!("\n[replay]\nstore = \"redis://{dead}/0\"\n");
    let config = std::sync::Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
    assert!(
        paybridge::proxy::Gateway::build(config).await.is_err(),
        "start-up names the unreachable store"
    );
}

/// A DaxPay stand-in whose close answer cannot be believed, but whose query says the order is
/// closed: the merchant must hear "closed", not "failed".
#[tokio::test]
async fn an_unknown_outcome_is_resolved_by_querying_the_order() {
    for status in ["close", "progress", "success"] {
        let fake = start_fake(move |body: Bytes| async move {
            let request: Value = serde_json::from_slice(&body).unwrap();
            if request.get("useCancel").is_some() {
                // The close: garbage, so its outcome is unknown.
                return Response::new(Full::new(Bytes::from_static(b"<html>gateway error</html>")));
            }
            let data = json!({"orderNo": "U1", "bizOrderNo": "MU1", "status": status, "channel": "ali_pay"});
            let rendered = paybridge::dialect::daxpay::sign::render(&data).unwrap().into_owned();
            let res_time = wall_clock(time::OffsetDateTime::now_utc(), time::macros::offset!(+8));
            let mut fields: Vec<(&str, Cow<'_, str>)> = vec![
                ("code", "0".into()),
                ("msg", "success".into()),
                ("data", rendered.into()),
                ("resTime", res_time.as_str().into()),
                ("traceId", "q1".into()),
            ];
            let sign = Scheme::new(Version::V3_0, SignType::HmacSha256).sign(&mut fields, DAX_SECRET);
            let answer = json!({"code":0,"msg":"success","data":data,"sign":sign,"resTime":res_time,"traceId":"q1"});
            Response::new(Full::new(Bytes::from(answer.to_string())))
        })
        .await;
        let proxy = start_proxy(&proxy_toml(fake.addr, "3.0", "hmac_sha256", "", "")).await;
        let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("U1"), None)).await;
        let expected = match status {
            "close" => jeepay_success(JEEPAY_SECRET),
            "progress" => error(10, "系统异常[上游应答无法解析，结果未知，请稍后查询订单]"),
            _ => error(9999, "当前订单不可关闭"),
        };
        assert_eq!(a.body, expected, "query says {status}");
    }
}

#[tokio::test]
async fn a_timed_out_close_is_resolved_on_retry() {
    // The sandbox takes 1.2 s to close; paybridge waits 500 ms.
    let (sb, sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[("T1", "MT1", "progress")])
            + "close_delay_ms = 1200\n"),
    )
    .await;
    let proxy = start_proxy(
        &proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace("timeout_ms = 2000", "timeout_ms = 500"),
    )
    .await;
    let body = close_body(Some("T1"), None);
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(
        a.body,
        error(10, "系统异常[上游应答超时，结果未知，请稍后查询订单]")
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        sandbox.order_status("T1"),
        Some(OrderStatus::Close),
        "the close did happen"
    );
    // The merchant retries the same request: paybridge asks DaxPay and answers success.
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
}

#[tokio::test]
async fn a_close_in_progress_elsewhere_is_reported_as_such() {
    let (proxy, _sb, sandbox) =
        stack(&[("P1", "MP1", "progress")], "close_delay_ms = 800\n", "").await;
    let first = tokio::spawn({
        let addr = proxy.addr;
        async move {
            post_json(addr, "/api/pay/close", &close_body(Some("P1"), None))
                .await
                .body
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Another request (new reqTime, new signature) for the same order: DaxPay answers 20043,
    // paybridge queries, the order is still open: "in progress".
    let second = post_json(proxy.addr, "/api/pay/close", &close_body(Some("P1"), None)).await;
    assert_eq!(second.body, error(9999, "当前订单正在关闭中，请稍后查询"));
    assert_eq!(first.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("P1"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn refused_connections_are_retried_then_the_circuit_opens() {
    let dead: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let extra =
        "retries = 2\nretry_backoff_ms = 100\nbreaker_failures = 2\nbreaker_cooldown_ms = 400";
    let proxy = start_proxy(&proxy_toml(dead, "3.0", "md5", extra, "")).await;
    let started = Instant::now();
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("Z"), None)).await;
    assert_eq!(a.body, error(10, "系统异常[上游连接失败，订单未处理]"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "backoff 100 + 200 ms: {:?}",
        started.elapsed()
    );
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("Z"), None)).await;
    assert_eq!(a.body, error(10, "系统异常[上游连接失败，订单未处理]"));
    // Two failed calls opened the circuit: the next call fails fast without trying.
    let started = Instant::now();
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("Z"), None)).await;
    assert_eq!(
        a.body,
        error(10, "系统异常[上游暂不可用，订单未处理，请稍后重试]")
    );
    assert!(started.elapsed() < Duration::from_millis(250));
    // After the cool-down (400 ms) one probe is let through (and fails again here).
    tokio::time::sleep(Duration::from_millis(900)).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("Z"), None)).await;
    assert_eq!(a.body, error(10, "系统异常[上游连接失败，订单未处理]"));
}

#[tokio::test]
async fn load_beyond_the_in_flight_limit_is_shed_at_once() {
    let (proxy, _sb, _sandbox) =
        stack(&[("L1", "ML1", "progress")], "close_delay_ms = 500\n", "").await;
    drop(proxy);
    let (sb, _sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[("L1", "ML1", "progress")])
            + "close_delay_ms = 500\n"),
    )
    .await;
    let proxy = start_proxy(
        &proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace("[server]\n", "[server]\nmax_in_flight = 1\n"),
    )
    .await;
    let slow = tokio::spawn({
        let addr = proxy.addr;
        async move {
            post_json(addr, "/api/pay/close", &close_body(Some("L1"), None))
                .await
                .body
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("L1"), None)).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.body, error(10, "系统繁忙，请稍后重试"));
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(slow.await.unwrap(), jeepay_success(JEEPAY_SECRET));
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let running = start_app(
        &proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace("[server]\n", "[server]\nheader_read_timeout_ms = 300\n"),
    )
    .await;
    let addr = running.addr;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /api/pay/close HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let running = start_app(
        &proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace("[server]\n", "[server]\nmax_connections = 1\n"),
    )
    .await;
    let addr = running.addr;
    let hog = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = tokio::spawn(async move {
        post_json(addr, "/api/pay/close", &close_body(Some("NOPE"), None))
            .await
            .body
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second connection is not served while the first holds the only slot"
    );
    drop(hog);
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, error(9999, "订单不存在"));
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let (sb, _sandbox) = start_sandbox(
        &(sandbox_toml("3.0", "hmac_sha256", &[("G1", "MG1", "progress")])
            + "close_delay_ms = 400\n"),
    )
    .await;
    let config = std::sync::Arc::new(
        paybridge::config::Config::from_toml(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""))
            .unwrap(),
    );
    let bound = paybridge::app::bind(&config).await.unwrap();
    let addr = bound.proxy_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paybridge::app::run(
        paybridge::proxy::Gateway::new(config),
        bound,
        None,
        async move {
            let _ = rx.await;
        },
    ));
    let in_flight = tokio::spawn(async move {
        post_json(addr, "/api/pay/close", &close_body(Some("G1"), None))
            .await
            .body
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = tx.send(());
    assert_eq!(
        in_flight.await.unwrap(),
        jeepay_success(JEEPAY_SECRET),
        "accepted before shutdown: answered"
    );
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("drained and stopped")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn calls_beyond_max_connections_wait_for_a_connection() {
    // Each order's close takes 200 ms (`close_delay_ms` belongs to the order before it).
    let mut sandbox_config = sandbox_toml("3.0", "hmac_sha256", &[]);
    for order in ["C1", "C2", "C3"] {
        sandbox_config.push_str(&format!(
            "[[sandbox.orders]]\norder_no = \"{order}\"\nbiz_order_no = \"M{order}\"\nstatus = \"progress\"\nclose_delay_ms = 200\n"
        ));
    }
    let (sb, sandbox) = start_sandbox(&sandbox_config).await;
    let proxy = start_proxy(&proxy_toml(
        sb.addr,
        "3.0",
        "hmac_sha256",
        "max_connections = 1",
        "",
    ))
    .await;
    let started = Instant::now();
    let calls: Vec<_> = ["C1", "C2", "C3"]
        .into_iter()
        .map(|order| {
            let addr = proxy.addr;
            tokio::spawn(async move {
                post_json(addr, "/api/pay/close", &close_body(Some(order), None))
                    .await
                    .body
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    }
    // One connection: the three closes (200 ms each) went one after another.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    for order in ["C1", "C2", "C3"] {
        assert_eq!(sandbox.order_status(order), Some(OrderStatus::Close));
    }
}

#[tokio::test]
async fn a_call_that_waits_too_long_for_a_connection_is_not_sent() {
    // The first close holds the only connection for 900 ms; the second may wait for it only
    // half of its 1,000 ms budget (the other half is the exchange's), then gets "busy", with
    // nothing sent, rather than an "outcome unknown" close that DaxPay would carry out anyway.
    let mut sandbox_config = sandbox_toml("3.0", "hmac_sha256", &[]);
    sandbox_config.push_str(
        "[[sandbox.orders]]\norder_no = \"S1\"\nbiz_order_no = \"MS1\"\nstatus = \"progress\"\nclose_delay_ms = 900\n\
         [[sandbox.orders]]\norder_no = \"S2\"\nbiz_order_no = \"MS2\"\nstatus = \"progress\"\n",
    );
    let (sb, sandbox) = start_sandbox(&sandbox_config).await;
    let proxy = start_proxy(
        &proxy_toml(sb.addr, "3.0", "hmac_sha256", "max_connections = 1", "")
            .replace("timeout_ms = 2000", "timeout_ms = 1000"),
    )
    .await;
    let first = tokio::spawn({
        let addr = proxy.addr;
        async move {
            post_json(addr, "/api/pay/close", &close_body(Some("S1"), None))
                .await
                .body
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let second = post_json(proxy.addr, "/api/pay/close", &close_body(Some("S2"), None)).await;
    assert_eq!(
        second.body,
        error(10, "系统异常[上游繁忙，订单未处理，请稍后重试]")
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first.await.unwrap(), jeepay_success(JEEPAY_SECRET));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sandbox.order_status("S2"),
        Some(OrderStatus::Progress),
        "never sent"
    );
    assert_eq!(sandbox.order_status("S1"), Some(OrderStatus::Close));
}
