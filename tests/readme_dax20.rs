//! The README's Jeepay walk-through against a DaxPay **2.0** sandbox, through the real binary and
//! the shipped `config/paybridge-dax20.toml`, for both of 2.0.8's sign types, with the differences
//! docs/sandbox.md ("The README's walk-through against 2.0") gives: a WeChat refund is refunding
//! until the channel settles it.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const CONFIG: &str = "config/paybridge-dax20.toml";

/// Kills the server if the test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free a moment ago: paybridge listens there and gives it to DaxPay as its
/// public URL, so the sandbox's callbacks reach it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn section<'a>(text: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = &text[text.find(from).unwrap()..];
    to.map_or(start, |to| &start[..start.find(to).unwrap()])
}

async fn jeepay(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(addr, path, &jeepay_body(fields)).await.json()
}

fn data(answer: &Value) -> &Value {
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(answer, JEEPAY_SECRET), "signed: {answer}");
    &answer["data"]
}

#[tokio::test]
async fn the_readme_walkthrough_works_on_a_dax20_sandbox() {
    let shipped = std::fs::read_to_string(CONFIG).unwrap();
    let readme = std::fs::read_to_string("README.md").unwrap();
    for sign_type in ["hmac_sha256", "md5"] {
        let sandbox_toml = section(&shipped, "[sandbox]", Some("[legacy_sandbox]")).replace(
            "sign_type = \"hmac_sha256\"",
            &format!("sign_type = \"{sign_type}\""),
        );
        let (sandbox_server, sandbox) = start_sandbox(&sandbox_toml).await;
        let (legacy_server, _legacy) =
            start_legacy(section(&shipped, "[legacy_sandbox]", None)).await;
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .args(["serve", "--config", CONFIG])
            .env("PAYBRIDGE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "PAYBRIDGE_SERVER__PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .env("PAYBRIDGE_SANDBOX__EMBEDDED", "false")
            .env("PAYBRIDGE_LEGACY_SANDBOX__EMBEDDED", "false")
            .env(
                "PAYBRIDGE_UPSTREAMS__DAXPAY__BASE_URL",
                format!("http://{}", sandbox_server.addr),
            )
            .env("PAYBRIDGE_UPSTREAMS__DAXPAY__SIGN_TYPE", sign_type)
            .env(
                "PAYBRIDGE_UPSTREAMS__LEGACY__BASE_URL",
                format!("http://{}", legacy_server.addr),
            )
            .env(
                "PAYBRIDGE_STORE__URL",
                format!("sqlite://{}/paybridge.sqlite", store.path().display()),
            )
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("paybridge logs that it serves");
            if line.contains("paybridge serving") {
                break;
            }
        }
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();

        // "Try it": the close of DAX1001 answers exactly as the README prints.
        let close = jeepay_body(&[("payOrderId", "DAX1001")]);
        let a = post_json(addr, "/api/pay/close", &close).await;
        assert_eq!(
            a.body,
            r#"{"code":0,"data":{},"msg":"SUCCESS","sign":"55EB7DC82EF80AE6882BBC3210E27396"}"#,
            "{sign_type}"
        );
        assert!(readme.contains(&a.body));
        assert_eq!(
            sandbox.order_status("DAX1001"),
            Some(paybridge_sandbox::OrderStatus::Close)
        );
        let queried = jeepay(addr, "/api/pay/query", &[("payOrderId", "DAX1001")]).await;
        assert_eq!(data(&queried)["state"], 6, "{queried}");
        let again = post_json(
            addr,
            "/api/pay/close",
            &jeepay_body(&[("payOrderId", "DAX1001")]),
        )
        .await;
        assert_eq!(again.body, r#"{"code":9999,"msg":"当前订单不可关闭"}"#);

        // "Take money and give it back".
        let created = jeepay(
            addr,
            "/api/pay/unifiedOrder",
            &[
                ("mchOrderNo", "MO2001"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "1230"),
                ("currency", "cny"),
                ("subject", "Coffee"),
                ("body", "Two cups"),
            ],
        )
        .await;
        let order = data(&created);
        assert_eq!(
            (&order["orderState"], &order["payDataType"]),
            (&Value::from(1), &Value::from("codeUrl")),
            "{created}"
        );
        assert!(order["payData"].as_str().unwrap().starts_with("weixin://"));
        let pay_order_id = order["payOrderId"].as_str().unwrap().to_owned();
        let paid = send(
            sandbox_server.addr,
            "POST",
            &format!("/sandbox/orders/{pay_order_id}/pay"),
            None,
            "",
            &[],
        )
        .await;
        assert_eq!(paid.status, 200, "{}", paid.body);
        let queried = jeepay(addr, "/api/pay/query", &[("mchOrderNo", "MO2001")]).await;
        let order = data(&queried);
        assert_eq!(order["state"], 2, "{queried}");
        assert_eq!(order["amount"], 1230);
        assert_eq!(
            order["wayCode"], "WX_NATIVE",
            "from the order store: {queried}"
        );
        assert!(order["createdAt"].is_number(), "{queried}");

        let refund_fields = [
            ("mchOrderNo", "MO2001"),
            ("mchRefundNo", "RF2001"),
            ("refundAmount", "500"),
            ("currency", "cny"),
            ("refundReason", "one cup returned"),
        ];
        let refunded = jeepay(addr, "/api/refund/refundOrder", &refund_fields).await;
        let refund = data(&refunded);
        // 2.0.8 refunds WeChat asynchronously: refunding until the channel says so.
        assert_eq!(
            (
                &refund["state"],
                &refund["payAmount"],
                &refund["refundAmount"]
            ),
            (&Value::from(1), &Value::from(1230), &Value::from(500)),
            "{refunded}"
        );
        let refund_order_id = refund["refundOrderId"].as_str().unwrap().to_owned();
        let settled = send(
            sandbox_server.addr,
            "POST",
            &format!("/sandbox/refunds/{refund_order_id}/success"),
            None,
            "",
            &[],
        )
        .await;
        assert_eq!(settled.status, 200, "{}", settled.body);
        let queried = jeepay(addr, "/api/refund/query", &[("mchRefundNo", "RF2001")]).await;
        let refund = data(&queried);
        assert_eq!(
            (&refund["state"], &refund["refundAmount"]),
            (&Value::from(2), &Value::from(500)),
            "{queried}"
        );
        let repeat = post_json(
            addr,
            "/api/refund/refundOrder",
            &jeepay_body(&refund_fields),
        )
        .await;
        assert!(
            repeat.body.contains("商户退款订单号[RF2001]已存在"),
            "{}",
            repeat.body
        );
        assert_eq!(sandbox.refunds().len(), 1, "refunded once");
        drop(child);
    }
}
