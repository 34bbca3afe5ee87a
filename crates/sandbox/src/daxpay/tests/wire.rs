//! Wire details: golden vectors, strict parsing, serving over TCP.

use super::*;

#[test]
fn response_signatures_match_the_golden_vectors() {
    // daxpay-3.0-response-success and -error-20044 from vectors/golden/daxpay.json.
    let md5 = Scheme::new(Version::V3_0, SignType::Md5);
    let fields = vec![
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        ("resTime", Cow::Borrowed("2025-08-26 12:00:01")),
        ("traceId", Cow::Borrowed("VnmUJOT9yGGl")),
    ];
    assert_eq!(
        md5.sign(&fields, SECRET),
        "2011e3e1dd71014c604ed6a874a7897c"
    );
    let signer = reply::Signer {
        scheme: md5,
        secret: SECRET,
    };
    let response = reply::refusal_3x(&signer, 20044, "订单不是支付中, 无法进行关闭订单");
    let body = futures_body(response);
    assert_eq!(body["sign"], "0d0537d06be1cd12febe477b1d5a0d9b");
}

fn futures_body(response: http::Response<Full<Bytes>>) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = runtime
        .block_on(response.into_body().collect())
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn wall_clock_parsing_is_strict() {
    assert!(model::parse_wall_clock("2025-08-26 12:00:00").is_some());
    for bad in [
        "2025-8-26 12:00:00",
        "2025-08-26T12:00:00",
        "2025-08-26 12:00:00.000",
        " 2025-08-26 12:00:00",
        "2025-02-30 12:00:00",
        "2025-08-26 24:00:00",
        "+025-08-26 12:00:00",
    ] {
        assert!(model::parse_wall_clock(bad).is_none(), "{bad}");
    }
}

#[tokio::test]
async fn run_serves_over_tcp_until_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sb = sandbox(Version::V3_0, vec![]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, sb.clone(), async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request =
        "POST /unipay/close HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n\
                   Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""code":10506"#), "{answer}");
    assert_eq!(sb.requests_seen(), 1);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("run returns after shutdown")
        .expect("no panic");
}

#[test]
fn request_models_sign_like_the_golden_vectors() {
    // From vectors/golden/daxpay.json; 3.0 and 3.0-beta omit useCancel here on purpose (signed false).
    let cases = [
        (
            Version::V3_0,
            r#"{"mchNo":"M1723635576766","appId":"M8207639754663343","reqTime":"2025-08-26 12:00:00",
                "orderNo":"DEVP24051019404463000001","nonceStr":"a8f5f167f44f4964","extra":"dropped"}"#,
            "d75689a8f34891394621f49f3f7352a0",
        ),
        (
            Version::V3_0Beta,
            r#"{"mchNo":"dropped","appId":"M8207639754663343","reqTime":"2025-01-16 12:00:00",
                "orderNo":"DEVP24051019404463000001","nonceStr":"a8f5f167f44f4964","useCancel":null}"#,
            "1e44abb410708fdfb7a7c80658d7aaed",
        ),
        // 2.0: `v20::tests::vectors`.
    ];
    for (version, body, md5) in cases {
        let request = model::OrderRequest::parse_as(version, model::Model::Close, body.as_bytes())
            .expect("parses");
        let scheme = Scheme::new(version, SignType::Md5);
        assert!(
            scheme.verify(&request.sign_fields(), SECRET, md5),
            "{version}"
        );
    }
}
