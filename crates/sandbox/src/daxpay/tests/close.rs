//! Close and cancel, in every version.

use super::*;

#[tokio::test]
async fn v30_close_succeeds_and_the_answer_verifies() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["msg"], "success");
    assert!(answer["data"].is_null());
    let res_time = answer["resTime"].as_str().expect("resTime");
    assert!(model::parse_wall_clock(res_time).is_some(), "{res_time}");
    let trace_id = answer["traceId"].as_str().expect("traceId");
    assert!(trace_id.len() == 12 && trace_id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(verifies(scheme(Version::V3_0), &answer));
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));
    assert_eq!(sb.requests_seen(), 1);
}

#[tokio::test]
async fn v30_use_cancel_cancels_a_progress_order_found_by_biz_order_no() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let mut body = close_30("O1", true);
    body.remove("orderNo");
    body.insert("bizOrderNo".to_owned(), json!("B1"));
    body.insert("clientIp".to_owned(), json!("::1"));
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Cancel));
}

#[tokio::test]
async fn omitted_use_cancel_is_signed_as_false() {
    let sb = sandbox(
        Version::V3_0,
        vec![
            order("O1", "B1", OrderStatus::Progress),
            order("O2", "B2", OrderStatus::Progress),
        ],
    );
    // Signed with the server's view of the model: useCancel=false present.
    let mut body = close_30("O1", false);
    let sign = scheme(Version::V3_0).sign(&fields_of(&body), SECRET);
    body.remove("useCancel");
    body.insert("sign".to_owned(), json!(sign));
    let answer = post(
        &sb,
        "/unipay/close",
        serde_json::to_vec(&body).expect("json"),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));

    // Signed over the raw JSON without useCancel: the server disagrees.
    let mut body = close_30("O2", false);
    body.remove("useCancel");
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 20052, "签名校验失败");
    assert_eq!(sb.order_status("O2"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn wrong_or_missing_signature_is_an_unsigned_20052() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let wrong = Scheme::new(Version::V3_0, SignType::Md5);
    let answer = post(&sb, "/unipay/close", signed(wrong, close_30("O1", false))).await;
    assert_unsigned(&answer, 20052, "签名校验失败");

    let answer = post(
        &sb,
        "/unipay/close",
        serde_json::to_vec(&close_30("O1", false)).expect("json"),
    )
    .await;
    assert_unsigned(&answer, 20052, "签名校验失败");

    // Upper-case hex is refused: DaxPay compares case-sensitively.
    let mut body = close_30("O1", false);
    let sign = scheme(Version::V3_0).sign(&fields_of(&body), SECRET);
    body.insert("sign".to_owned(), json!(sign.to_uppercase()));
    let answer = post(
        &sb,
        "/unipay/close",
        serde_json::to_vec(&body).expect("json"),
    )
    .await;
    assert_unsigned(&answer, 20052, "签名校验失败");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn undeclared_fields_are_not_signed() {
    let sb = sandbox(
        Version::V3_0Beta,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    // 3.0-beta has no mchNo: a client that signs it fails.
    let mut body = close_30("O1", false);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0Beta), body.clone()),
    )
    .await;
    assert_unsigned(&answer, 20052, "签名校验失败");
    body.remove("mchNo");
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0Beta), body),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(verifies(scheme(Version::V3_0Beta), &answer));
}

#[tokio::test]
async fn expired_req_time_is_a_10506() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    for skew in [-301, 301] {
        let mut body = close_30("O1", false);
        body.insert("reqTime".to_owned(), json!(wall_clock(skew)));
        let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
        assert_unsigned(&answer, 10506, "验证参数错误\n请求已过期，请重新发送！");
    }
    // Read in the configured zone: a UTC wall clock is eight hours off.
    let mut body = close_30("O1", false);
    body.insert(
        "reqTime".to_owned(),
        json!(reply::wall_clock(OffsetDateTime::now_utc(), UtcOffset::UTC)),
    );
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_eq!(answer["code"], 10506);
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Progress));

    // The check can be turned off.
    let mut cfg = config(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    cfg.req_time_window = None;
    let sb = Sandbox::new(&cfg);
    let mut body = close_30("O1", false);
    body.insert("reqTime".to_owned(), json!("2001-01-01 00:00:00"));
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_eq!(answer["code"], 0, "{answer}");
}

#[tokio::test]
async fn both_order_numbers_empty_is_the_exact_validation_error() {
    let sb = sandbox(Version::V3_0, vec![]);
    let mut body = close_30("", false);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), body.clone()),
    )
    .await;
    assert_unsigned(&answer, 10506, "验证参数错误\n支付订单号不能都为空");
    body.remove("orderNo");
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n支付订单号不能都为空");
}

#[tokio::test]
async fn validation_reasons() {
    let sb = sandbox(Version::V3_0, vec![]);
    let cases = [
        ("mchNo", Value::Null, "商户号不可为空"),
        ("appId", json!(""), "应用号不可为空"),
        ("reqTime", Value::Null, "请求时间不可为空"),
        ("orderNo", json!("x".repeat(101)), "订单号长度不能超过100"),
        ("clientIp", json!("not-an-ip"), "客户端IP格式不正确"),
        ("nonceStr", json!("n".repeat(33)), "随机数长度不能超过32"),
    ];
    for (field, value, reason) in cases {
        let mut body = close_30("O1", false);
        body.insert(field.to_owned(), value);
        let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
        assert_unsigned(&answer, 10506, &format!("验证参数错误\n{reason}"));
    }
}

#[tokio::test]
async fn unparsable_bodies_are_a_10505() {
    let sb = sandbox(Version::V3_0, vec![]);
    let bodies: [&[u8]; 6] = [
        b"",
        b"not json",
        b"[\"M1\",\"A1\"]",
        br#"{"mchNo":1}"#,
        br#"{"useCancel":"true"}"#,
        br#"{"reqTime":"2025-08-26T12:00:00"}"#,
    ];
    for body in bodies {
        let answer = post(&sb, "/unipay/close", body.to_vec()).await;
        assert_unsigned(&answer, 10505, "参数解析错误");
    }
    let mut big = close_30("O1", false);
    big.insert("padding".to_owned(), json!("x".repeat(BODY_LIMIT)));
    let answer = post(
        &sb,
        "/unipay/close",
        serde_json::to_vec(&big).expect("json"),
    )
    .await;
    assert_unsigned(&answer, 10505, "参数解析错误");
    // 2.0: `v20::tests`.
}

#[tokio::test]
async fn unknown_app_is_a_20023() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let mut body = close_30("O1", false);
    body.insert("mchNo".to_owned(), json!("M2"));
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 20023, "未找到指定的应用配置");
}

#[tokio::test]
async fn unknown_order_is_a_signed_20041() {
    let mut other_app = order("O2", "B2", OrderStatus::Progress);
    other_app.app_id = Some("A2".to_owned());
    let mut cfg = config(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress), other_app],
    );
    cfg.apps.push(SandboxApp {
        mch_no: Some("M1".to_owned()),
        app_id: Some("A2".to_owned()),
        sign_type: SignType::Md5,
        secret: Secret::new("another"),
        callback_sign_order: CallbackSignOrder::Sorted,
    });
    let sb = Sandbox::new(&cfg);
    for order_no in ["NOPE", "O2"] {
        let answer = post(
            &sb,
            "/unipay/close",
            signed(scheme(Version::V3_0), close_30(order_no, false)),
        )
        .await;
        assert_signed_refusal(Version::V3_0, &answer, 20041, "支付订单不存在");
    }
    // orderNo "" is looked up as such, even next to a real bizOrderNo.
    let mut body = close_30("", false);
    body.insert("bizOrderNo".to_owned(), json!("B1"));
    let answer = post(&sb, "/unipay/close", signed(scheme(Version::V3_0), body)).await;
    assert_signed_refusal(Version::V3_0, &answer, 20041, "支付订单不存在");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Progress));
    assert_eq!(sb.order_status("O2"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn a_second_close_is_a_20044() {
    let sb = sandbox(Version::V3_0, vec![order("O1", "B1", OrderStatus::Wait)]);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", true)),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    // A wait order closes even when cancelling.
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20044,
        "订单不是支付中, 无法进行关闭订单",
    );
}

#[tokio::test]
async fn v30_beta_refuses_a_wait_order() {
    let sb = sandbox(
        Version::V3_0Beta,
        vec![order("O1", "B1", OrderStatus::Wait)],
    );
    let mut body = close_30("O1", false);
    body.remove("mchNo");
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0Beta), body),
    )
    .await;
    assert_signed_refusal(
        Version::V3_0Beta,
        &answer,
        20044,
        "订单不是支付中, 无法进行关闭订单",
    );
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Wait));
}

#[tokio::test]
async fn channel_failure_leaves_the_order_unchanged() {
    let mut failing = order("O1", "B1", OrderStatus::Progress);
    failing.channel_fails = true;
    let sb = sandbox(Version::V3_0, vec![failing.clone()]);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_signed_refusal(Version::V3_0, &answer, 20080, "通道关闭订单失败");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn wechat_non_barcode_orders_cannot_be_cancelled() {
    let mut wechat = order("O1", "B1", OrderStatus::Progress);
    wechat.channel = "wechat_pay".to_owned();
    wechat.method = "jsapi".to_owned();
    let sb = sandbox(Version::V3_0, vec![wechat]);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", true)),
    )
    .await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20080,
        "微信非付款码支付订单不支持撤销",
    );
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));
}

#[tokio::test]
async fn a_concurrent_close_is_a_20043() {
    let mut slow = order("O1", "B1", OrderStatus::Progress);
    slow.close_delay = Duration::from_millis(200);
    let sb = sandbox(Version::V3_0, vec![slow]);
    let started = Instant::now();
    let first = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    );
    let second = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        post(
            &sb,
            "/unipay/close",
            signed(scheme(Version::V3_0), close_30("O1", false)),
        )
        .await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first["code"], 0, "{first}");
    assert_signed_refusal(
        Version::V3_0,
        &second,
        20043,
        "订单正在关闭中，请勿重复操作",
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));
}

/// A close whose client went away still happens, as on a real DaxPay (the servlet finishes).
#[tokio::test]
async fn an_abandoned_close_still_completes() {
    let mut slow = order("O1", "B1", OrderStatus::Progress);
    slow.close_delay = Duration::from_millis(200);
    let sb = sandbox(Version::V3_0, vec![slow]);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        post(
            &sb,
            "/unipay/close",
            signed(scheme(Version::V3_0), close_30("O1", false)),
        ),
    )
    .await;
    assert!(abandoned.is_err());
    assert_eq!(
        sb.order_status("O1"),
        Some(OrderStatus::Progress),
        "still closing"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Close));
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_eq!(answer["code"], 20044, "{answer}");
}

#[tokio::test]
async fn sm3_digested_as_md5_on_a_30_server() {
    let mut cfg = config(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    cfg.apps[0].sign_type = SignType::Sm3;
    cfg.sm3_is_md5 = true;
    let sb = Sandbox::new(&cfg);
    let real_sm3 = Scheme::new(Version::V3_0, SignType::Sm3);
    let answer = post(
        &sb,
        "/unipay/close",
        signed(real_sm3, close_30("O1", false)),
    )
    .await;
    assert_unsigned(&answer, 20052, "签名校验失败");
    let quirk = Scheme {
        sm3_is_md5: true,
        ..real_sm3
    };
    let answer = post(&sb, "/unipay/close", signed(quirk, close_30("O1", false))).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(verifies(Scheme::new(Version::V3_0, SignType::Md5), &answer));
}

#[tokio::test]
async fn other_routes_and_methods_get_json_errors() {
    let sb = sandbox(Version::V3_0, vec![]);
    let (status, answer) = send(&sb, Method::POST, "/unipay/cancel", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer["code"].is_i64() && answer.get("sign").is_none());
    let (status, _) = send(&sb, Method::GET, "/unipay/close", vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = send(&sb, Method::POST, "/", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sb.requests_seen(), 3);
}
