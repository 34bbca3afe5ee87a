//! Pay and refund when things go wrong: an answer lost after DaxPay acted (settled by a lookup,
//! never reported as failed), an order store that cannot be reached (code 10, nothing sent),
//! and the store surviving a restart.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpListener;

/// What the relay does with the first request to its path.
#[derive(Clone, Copy)]
enum Loss {
    /// Forwarded; DaxPay's answer replaced by a 502 (the call happened, the answer is lost).
    AnswerLost,
    /// Answered 502 without forwarding (the call never reached DaxPay).
    NeverSent,
}

/// A relay in front of the sandbox that loses the first exchange on `path` as `loss` says.
async fn lossy_relay(
    sandbox: SocketAddr,
    path: &'static str,
    loss: Loss,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let first = parts.uri.path() == path && seen.fetch_add(1, Ordering::SeqCst) == 0;
            let lost = || {
                Response::builder()
                    .status(StatusCode::BAD_GATEWAY)
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            };
            if first && matches!(loss, Loss::NeverSent) {
                return Ok::<_, Infallible>(lost());
            }
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let forwarded = Request::builder()
                .method("POST")
                .uri(format!("http://{sandbox}{}", parts.uri.path()))
                .header("content-type", "application/json")
                .body(Full::new(body))
                .unwrap();
            let answer = client.request(forwarded).await.unwrap();
            let status = answer.status();
            let bytes = answer.into_body().collect().await.unwrap().to_bytes();
            if first {
                return Ok(lost());
            }
            Ok(Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(bytes))
                .unwrap())
        }
    });
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        paybridge::server::serve(
            listener,
            service,
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(100),
        )
        .await
    });
    std::mem::forget(_stop);
    (addr, hits)
}

fn pay_body(no: &str, way: &str, fen: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", way),
        ("amount", fen),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ])
}

fn refund_body(no: &str, refund_no: &str, fen: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", fen),
        ("currency", "cny"),
        ("refundReason", "r"),
    ])
}

#[tokio::test]
async fn a_pay_whose_answer_is_lost_is_settled_by_a_lookup_not_reported_failed() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (relay, hits) = lossy_relay(sb.addr, "/unipay/pay", Loss::AnswerLost).await;
    let proxy = start_proxy(&proxy_toml(relay, "3.0", "hmac_sha256", "", "")).await;
    let bar_pay = || {
        jeepay_body(&[
            ("mchOrderNo", "L1"),
            ("wayCode", "WX_BAR"),
            ("amount", "100"),
            ("currency", "cny"),
            ("subject", "s"),
            ("body", "b"),
            ("channelExtra", r#"{"authCode":"134567890123456789"}"#),
        ])
    };
    let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &bar_pay())
        .await
        .json();
    // A bar code paid at once: the lookup finds it paid (state 2), so the merchant ships.
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(&answer, JEEPAY_SECRET));
    assert_eq!(answer["data"]["orderState"], 2, "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap();
    assert!(sandbox.order(order_no).is_some());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one pay sent");
    // Its number is taken, and the query has the store's fields.
    let again = post_json(proxy.addr, "/api/pay/unifiedOrder", &bar_pay()).await;
    assert_eq!(again.body, error(9999, "商户订单[L1]已存在"));
    let q = post_json(
        proxy.addr,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "L1")]),
    )
    .await
    .json();
    assert_eq!(q["data"]["wayCode"], "WX_BAR", "{q}");
}

#[tokio::test]
async fn a_pay_that_never_arrived_is_unknown_then_a_retry_with_the_same_number_goes_through() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (relay, _) = lossy_relay(sb.addr, "/unipay/pay", Loss::NeverSent).await;
    let proxy = start_proxy(&proxy_toml(relay, "3.0", "hmac_sha256", "", "")).await;
    let answer = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay_body("N1", "WX_NATIVE", "100"),
    )
    .await
    .json();
    assert_eq!(answer["code"], 10, "{answer}");
    assert!(
        answer["msg"].as_str().unwrap().contains("结果未知"),
        "{answer}"
    );
    // A new request with the same number: the store's row is only pending, so DaxPay decides.
    let retry = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay_body("N1", "WX_NATIVE", "100"),
    )
    .await
    .json();
    assert_eq!(retry["code"], 0, "{retry}");
    assert!(sandbox
        .order(retry["data"]["payOrderId"].as_str().unwrap())
        .is_some());
    let third = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay_body("N1", "WX_NATIVE", "100"),
    )
    .await;
    assert_eq!(third.body, error(9999, "商户订单[N1]已存在"));
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_is_settled_by_its_own_lookup() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (relay, hits) = lossy_relay(sb.addr, "/unipay/refund", Loss::AnswerLost).await;
    let proxy = start_proxy(&proxy_toml(relay, "3.0", "hmac_sha256", "", "")).await;
    let paid = post_json(
        proxy.addr,
        "/api/pay/unifiedOrder",
        &pay_body("RL", "WX_NATIVE", "1230"),
    )
    .await
    .json();
    sandbox
        .pay_order(paid["data"]["payOrderId"].as_str().unwrap())
        .unwrap();
    let answer = post_json(
        proxy.addr,
        "/api/refund/refundOrder",
        &refund_body("RL", "RLR", "230"),
    )
    .await
    .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(&answer, JEEPAY_SECRET));
    let data = &answer["data"];
    assert_eq!(
        (
            data["state"].as_i64(),
            data["payAmount"].as_i64(),
            data["refundAmount"].as_i64()
        ),
        (Some(2), Some(1230), Some(230)),
        "{answer}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one refund sent");
    assert_eq!(sandbox.refunds().len(), 1);
    let again = post_json(
        proxy.addr,
        "/api/refund/refundOrder",
        &refund_body("RL", "RLR", "230"),
    )
    .await;
    assert_eq!(again.body, error(9999, "商户退款订单号[RLR]已存在"));
    assert_eq!(sandbox.refunds().len(), 1);
}

#[tokio::test]
async fn an_unreachable_store_refuses_with_code_10_and_sends_nothing() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let dir = tempfile::tempdir().unwrap();
    // A file where the store's directory should be: SQLite cannot create its database.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    for url in [
        format!("sqlite://{}/orders.sqlite", blocker.display()),
        // Nothing listens on port 1.
        "postgres://paybridge@127.0.0.1:1/paybridge".to_owned(),
    ] {
        let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
            .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""));
        let proxy = start_proxy(&toml).await;
        let started = std::time::Instant::now();
        for body in [
            pay_body("S1", "WX_NATIVE", "100"),
            refund_body("S1", "SR1", "1"),
        ] {
            let path = if body.get("wayCode").is_some() {
                "/api/pay/unifiedOrder"
            } else {
                "/api/refund/refundOrder"
            };
            let answer = post_json(proxy.addr, path, &body).await;
            assert_eq!(
                answer.body,
                error(10, "系统异常[订单存储不可用，订单未处理]"),
                "{url}"
            );
        }
        let refund_query = post_json(
            proxy.addr,
            "/api/refund/query",
            &jeepay_body(&[("mchRefundNo", "SR1")]),
        )
        .await;
        assert_eq!(
            refund_query.body,
            error(10, "系统异常[订单存储不可用，订单未处理]"),
            "{url}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "{url}: refused fast"
        );
        assert_eq!(sandbox.requests_seen(), 0, "{url}: nothing reached DaxPay");
    }
}

#[tokio::test]
async fn the_sqlite_store_survives_a_restart() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""));
    let first = start_proxy(&toml).await;
    let created = post_json(
        first.addr,
        "/api/pay/unifiedOrder",
        &pay_body("K1", "ALI_QR", "1230"),
    )
    .await
    .json();
    assert_eq!(created["code"], 0, "{created}");
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = start_proxy(&toml).await;
    let again = post_json(
        second.addr,
        "/api/pay/unifiedOrder",
        &pay_body("K1", "ALI_QR", "1230"),
    )
    .await;
    assert_eq!(again.body, error(9999, "商户订单[K1]已存在"));
    let q = post_json(
        second.addr,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "K1")]),
    )
    .await
    .json();
    assert_eq!(
        (
            q["data"]["wayCode"].as_str(),
            q["data"]["currency"].as_str()
        ),
        (Some("ALI_QR"), Some("cny")),
        "{q}"
    );
}

#[tokio::test]
async fn two_instances_share_one_postgres_store() {
    let Some(url) = postgres_database("two_instances").await else {
        return;
    };
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""));
    let (a, b) = (start_proxy(&toml).await, start_proxy(&toml).await);

    // The same number sent to both at once, eight times over: exactly one order.
    let mut racing = Vec::new();
    for i in 0..8 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        racing.push(tokio::spawn(async move {
            post_json(
                addr,
                "/api/pay/unifiedOrder",
                &pay_body("PG1", "WX_NATIVE", "1230"),
            )
            .await
            .json()
        }));
    }
    let mut created = Vec::new();
    for r in racing {
        let answer = r.await.unwrap();
        match answer["code"].as_i64() {
            Some(0) => created.push(answer["data"]["payOrderId"].as_str().unwrap().to_owned()),
            _ => assert_eq!(answer.to_string(), error(9999, "商户订单[PG1]已存在")),
        }
    }
    assert_eq!(created.len(), 1, "one order for one number");
    sandbox.pay_order(&created[0]).unwrap();

    // Refunded through B, queried through A; a repeat through A is refused.
    let refunded = post_json(
        b.addr,
        "/api/refund/refundOrder",
        &refund_body("PG1", "PGR1", "30"),
    )
    .await
    .json();
    assert_eq!(refunded["data"]["payAmount"], 1230, "{refunded}");
    let q = post_json(
        a.addr,
        "/api/refund/query",
        &jeepay_body(&[("mchRefundNo", "PGR1")]),
    )
    .await
    .json();
    assert_eq!(
        (q["data"]["state"].as_i64(), q["data"]["payAmount"].as_i64()),
        (Some(2), Some(1230)),
        "{q}"
    );
    let again = post_json(
        a.addr,
        "/api/refund/refundOrder",
        &refund_body("PG1", "PGR1", "30"),
    )
    .await;
    assert_eq!(again.body, error(9999, "商户退款订单号[PGR1]已存在"));
    let pay_query = post_json(
        a.addr,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "PG1")]),
    )
    .await
    .json();
    assert_eq!(pay_query["data"]["wayCode"], "WX_NATIVE", "{pay_query}");
}
