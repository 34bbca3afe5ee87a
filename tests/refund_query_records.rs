//! A refund whose final state only the merchant's own refund query learns, through real sockets
//! on DaxPay 2.0.8 for both of its sign types (a Jeepay merchant): its one notice lost, no
//! settlement worker. The query records the state on the refund's row (which already has
//! DaxPay's refund number: its answer came back in progress) and the merchant is notified once,
//! however often it asks again.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::merchant::Merchant;
use common::*;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::OrderStore;
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// No background settlement: only requests and DaxPay's callbacks settle anything.
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

async fn world(sign_type: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
    let (proxy, orders) = start_relaying(sb.addr, "2.0", sign_type, "", "", NO_SETTLEMENT).await;
    World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    }
}

async fn post(w: &World, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(w.proxy, path, &jeepay_body(fields)).await.json()
}

/// The notifications `merchant` received at `path`: their `state`.
fn notices(merchant: &Merchant, path: &str) -> Vec<String> {
    merchant
        .received()
        .into_iter()
        .filter(|n| n.path == path)
        .map(|n| {
            assert!(n.verified, "{n:?}");
            n.params["state"].clone()
        })
        .collect()
}

/// A WeChat refund on 2.0 stays in progress until the channel says otherwise. The channel's
/// success comes while DaxPay's notice is lost: the merchant's refund query answers it (state
/// 2), the row records it, and the merchant's notification goes out, once.
#[tokio::test]
async fn a_refund_success_learnt_only_by_the_merchants_query_is_recorded_and_notified_once() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let notify = format!("http://{}/pay", merchant.addr);
        let paid = post(
            &w,
            "/api/pay/unifiedOrder",
            &[
                ("mchOrderNo", "RQS1"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "1230"),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
                ("notifyUrl", &notify),
            ],
        )
        .await;
        let order_no = accepted(&paid)["payOrderId"].as_str().unwrap().to_owned();
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the payment's notification", || {
            notices(&merchant, "/pay").len() == 1
        })
        .await;
        let notify = format!("http://{}/refund", merchant.addr);
        let answer = post(
            &w,
            "/api/refund/refundOrder",
            &[
                ("mchOrderNo", "RQS1"),
                ("mchRefundNo", "RQS1-R1"),
                ("refundAmount", "230"),
                ("currency", "cny"),
                ("refundReason", "退"),
                ("notifyUrl", &notify),
            ],
        )
        .await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 1, "{sign_type}: {answer}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        // DaxPay's notices are lost from here on.
        w.sandbox.mute_callbacks(true);
        w.sandbox.succeed_refund(&refund_no).unwrap();
        let asked = post(&w, "/api/refund/query", &[("mchRefundNo", "RQS1-R1")]).await;
        assert_eq!(accepted(&asked)["state"], 2, "{sign_type}: {asked}");
        eventually("the refund's notification", || {
            notices(&merchant, "/refund").len() == 1
        })
        .await;
        let row = w
            .orders
            .refund_by_mch_refund_no(JEEPAY_MCH, "RQS1-R1")
            .await
            .unwrap()
            .expect("the refund's row");
        assert_eq!(row.status, Some(RefundOrderStatus::Success), "{row:?}");
        // Asked again: the same answer, nothing more queued.
        for _ in 0..2 {
            let asked = post(&w, "/api/refund/query", &[("refundOrderId", &refund_no)]).await;
            assert_eq!(accepted(&asked)["state"], 2, "{sign_type}: {asked}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(notices(&merchant, "/refund"), ["2"], "{sign_type}: once");
        assert!(
            w.sandbox.callbacks().iter().all(|c| c.no != refund_no),
            "{sign_type}: learnt by the query alone"
        );
    }
}
