//! Unified order, refund and refund query.

use super::*;

/// POSTs a signed JSON body to `path` and returns the answer's JSON.
async fn call(sb: &LegacySandbox, path: &str, fields: Map<String, Value>) -> Value {
    let response = send(
        sb,
        Method::POST,
        path,
        Some("application/json"),
        body_of(&signed(fields)),
    )
    .await;
    serde_json::from_slice(response.body()).expect("JSON")
}

fn common() -> Map<String, Value> {
    obj(
        json!({"mchNo": MCH, "appId": APP, "version": "1.0", "signType": "MD5", "reqTime": "1622016572190"}),
    )
}

#[tokio::test]
async fn unified_order_refund_and_refund_query() {
    let sb = sandbox(vec![order("P1", "MO1", 2)]);
    let mut uo = common();
    for (k, v) in [
        ("mchOrderNo", "MO2"),
        ("wayCode", "WX_BAR"),
        ("amount", "500"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ] {
        uo.insert(k.into(), json!(v));
    }
    let answer = call(&sb, "/api/pay/unifiedOrder", uo.clone()).await;
    assert_eq!(
        (
            answer["code"].as_i64(),
            answer["data"]["orderState"].as_i64()
        ),
        (Some(0), Some(2)),
        "{answer}"
    );
    assert_eq!(answer["data"]["payData"], "");
    let answer = call(&sb, "/api/pay/unifiedOrder", uo).await;
    assert_eq!(answer["msg"], "商户订单[MO2]已存在");

    let refund = |no: &str, mch_refund: &str, amount: &str| {
        let mut r = common();
        for (k, v) in [
            ("payOrderId", no),
            ("mchRefundNo", mch_refund),
            ("refundAmount", amount),
            ("currency", "cny"),
            ("refundReason", "r"),
        ] {
            r.insert(k.into(), json!(v));
        }
        r
    };
    assert_eq!(
        call(&sb, "/api/refund/refundOrder", refund("NOPE", "R1", "1")).await["msg"],
        "退款订单不存在"
    );
    assert_eq!(
        call(&sb, "/api/refund/refundOrder", refund("P1", "R1", "1001")).await["msg"],
        "申请金额超出订单可退款余额，请检查退款金额"
    );
    let answer = call(&sb, "/api/refund/refundOrder", refund("P1", "R1", "400")).await;
    assert_eq!(answer["data"]["state"], 2, "{answer}");
    assert_eq!(
        (
            answer["data"]["payAmount"].as_i64(),
            answer["data"]["refundAmount"].as_i64()
        ),
        (Some(1000), Some(400))
    );
    let data = answer["data"].as_object().expect("data");
    let texts: Vec<(String, String)> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        answer["sign"].as_str(),
        Some(sign::sign(&pairs, SECRET).as_str())
    );
    assert_eq!(
        call(&sb, "/api/refund/refundOrder", refund("P1", "R1", "1")).await["msg"],
        "商户退款订单号[R1]已存在"
    );
    assert_eq!(
        call(&sb, "/api/refund/refundOrder", refund("P1", "R2", "600")).await["data"]["state"],
        2
    );
    assert_eq!(sb.order_state("P1"), Some(5));

    let mut q = common();
    q.insert("mchRefundNo".into(), json!("R1"));
    let answer = call(&sb, "/api/refund/query", q).await;
    assert_eq!(
        (
            answer["data"]["payOrderId"].as_str(),
            answer["data"]["refundAmount"].as_i64()
        ),
        (Some("P1"), Some(400)),
        "{answer}"
    );
    let mut q = common();
    q.insert("refundOrderId".into(), json!("R0"));
    assert_eq!(call(&sb, "/api/refund/query", q).await["msg"], "订单不存在");
    assert_eq!(sb.refunds().len(), 2);
}
