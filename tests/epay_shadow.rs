//! An epay merchant on a `shadow` route (issue 22: routing for epay merchants "as for Jeepay
//! ones: … shadow"): its requests pass through to the legacy epay gateway, whose answer the
//! merchant gets byte for byte, while paybridge builds and signs the DaxPay request it would
//! send, logs it and sends nothing, as the Jeepay shadow does (`tests/routing.rs`
//! `shadow_sends_nothing_to_daxpay`). Through the real binary, its log read from its output.

mod binary;
mod common;

use std::time::Duration;

use binary::{text_fields, Served};
use common::epay::world::{legacy_epay_toml, proxy_config, sandbox_config, DAX_APP_EPAY};
use common::epay::{self, Number, PID};

const LEGACY_PAID: (&str, &str, &str, u8) = ("2024070112000012345", "LEGACY-PAID", "1.50", 1);

/// The log lines saying `message`: each one's `key=value` fields.
fn shadowed(served: &Served, message: &str) -> Vec<Vec<(String, String)>> {
    served
        .seen
        .iter()
        .filter(|l| l.contains(message))
        .map(|l| text_fields(l))
        .collect()
}

fn field<'a>(line: &'a [(String, String)], name: &str) -> Option<&'a str> {
    line.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epay_merchant_on_a_shadow_route_is_answered_by_the_legacy_gateway() {
    let (sb, sandbox) = common::start_sandbox(&sandbox_config()).await;
    let (lg, legacy) = common::start_legacy(&legacy_epay_toml(&[LEGACY_PAID])).await;
    let unused: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let toml = proxy_config(sb.addr, unused, 50)
        + &format!(
            "\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n\
             [routing]\ndefault = {{ action = \"passthrough\", upstream = \"legacy\", shadow = \"dax\" }}\n",
            lg.addr
        );
    let mut served = Served::start(&toml, "info");
    let addr = served.address("paybridge serving");
    let client = epay::client(addr);
    let direct = epay::client(lg.addr);

    // A pay: made at the legacy gateway, its answer relayed as it is.
    let fields = [
        ("pid", PID),
        ("type", "alipay"),
        ("out_trade_no", "SH-1"),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("name", "影子"),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ];
    let created = client.mapi(&fields).await;
    let orders = legacy.epay_orders();
    let made = orders
        .iter()
        .find(|o| o.out_trade_no == "SH-1")
        .expect("made at the legacy gateway");
    assert_eq!(
        created.body,
        format!(
            r#"{{"code":1,"trade_no":"{0}","qrcode":"https:\/\/qr.alipay.com\/bax0{0}"}}"#,
            made.trade_no
        ),
        "the legacy gateway's bytes"
    );
    // A query and a refund of an order the legacy gateway has: its answers, byte for byte (the
    // query compared with the legacy gateway's own answer to the same request).
    let through = client.query(Number::Out("LEGACY-PAID")).await;
    let own = direct.query(Number::Out("LEGACY-PAID")).await;
    assert_eq!(through.body, own.body);
    assert_eq!(through.headers["content-type"], own.headers["content-type"]);
    let refund = client
        .refund(Number::Trade("2024070112000012345"), "0.50")
        .await
        .json();
    assert_eq!(refund["code"], 0, "{refund}");
    assert_eq!(legacy.epay_refunds().len(), 1);
    // A request paybridge would refuse (a bad signature) is still the legacy gateway's to answer
    // (in its words, build 3094's as paybridge's).
    let mut bad = client.v1_signed(&fields);
    bad.iter_mut().find(|(k, _)| k == "money").unwrap().1 = "2.00".into();
    let refused = client.post_form("/mapi.php", &bad).await;
    assert_eq!(refused.json()["code"], -3, "{}", refused.body);
    assert_eq!(refused.body, direct.post_form("/mapi.php", &bad).await.body);

    assert_eq!(
        sandbox.requests_seen(),
        0,
        "the shadow sends nothing to DaxPay"
    );
    // Four through paybridge, two sent to it directly to compare.
    assert_eq!(
        legacy.received().len(),
        6,
        "every request reached the legacy gateway"
    );

    served.drain(Duration::from_millis(500));
    let would = shadowed(&served, "shadow: would send this DaxPay request (not sent)");
    let operations: Vec<(Option<&str>, Option<&str>, Option<&str>)> = would
        .iter()
        .map(|l| {
            (
                field(l, "operation"),
                field(l, "daxpay_path"),
                field(l, "biz_order_no"),
            )
        })
        .collect();
    assert_eq!(
        operations,
        [
            (Some("unified_order"), Some("/unipay/pay"), Some("SH-1")),
            (
                Some("query"),
                Some("/unipay/query/payOrder"),
                Some("LEGACY-PAID")
            ),
            // Named by `trade_no`: the order store finds the DaxPay order when it is sent.
            (Some("refund"), Some("/unipay/refund"), Some("-")),
        ],
        "the DaxPay requests a translation would send: {:#?}",
        served.seen
    );
    for line in &would {
        assert_eq!(field(line, "mch_no"), Some("epay:1001"), "{line:?}");
        assert_eq!(field(line, "daxpay_upstream"), Some("dax"), "{line:?}");
        assert_eq!(field(line, "daxpay_app_id"), Some(DAX_APP_EPAY), "{line:?}");
    }
    // The tampered pay fails paybridge's check: logged as not translated, with why.
    let refused = shadowed(&served, "shadow: this request would not be translated");
    assert_eq!(refused.len(), 1, "{:#?}", served.seen);
    assert_eq!(field(&refused[0], "operation"), Some("unified_order"));
    assert_eq!(field(&refused[0], "kind"), Some("bad_signature"));
}
