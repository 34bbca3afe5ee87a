//! epay V2 (`/api/pay/*`, SHA256WithRSA with a timestamp) through paybridge onto DaxPay, with
//! the epay client of `tests/common/epay`. First the client's RSA, pinned by §15's E9–E11.

mod common;

use common::epay::{keys, sign};

mod client_pinned_by_vectors {
    use super::*;

    #[test]
    fn e9_request() {
        let p = [
            ("pid", "1000"),
            ("method", "web"),
            ("device", "pc"),
            ("type", "alipay"),
            ("out_trade_no", "20240717100000001"),
            ("notify_url", "http://127.0.0.1/SDK/notify_url.php"),
            ("return_url", "http://127.0.0.1/SDK/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("clientip", "192.168.1.100"),
            ("param", ""),
            ("timestamp", "1721206072"),
            ("sign_type", "RSA"),
        ];
        let expected = "Kq3372xbu7867BrKVSFiYzzcBgtL/Y+4fssFNERem/Y0fDMsVWeK5DLDWlfmNsUEpWvkXe/eLYkeX4+t5Hmvw0qcS79uwK1S8krr2d3wn8VYYHOJumljcYeTfJnhKJpFy/bT4IiET2xmTz41+Hn844vwTjj67zQmKURgAO6hk385ANU71fCC14rOXLDLpg/G5x4XR/29e16C9ylRr/U0Ft48N7vtkWiQfZ3GPKr0msfkGBoSO9ST9HjxtnZP+crcU4ug6lO+lqfyxDbc7dtTEmGrV7Iz/5LamEqqYTI2eQDMw02yToIX3v4nGtV0WLBM7+ZnSKfEret7E4qyufEysg==";
        assert_eq!(sign::rsa_sign(&p, keys::MERCHANT_PRIVATE_KEY), expected);
        assert!(sign::rsa_verify(&p, expected, keys::MERCHANT_PUBLIC_KEY));
        assert!(!sign::rsa_verify(&p, expected, keys::PLATFORM_PUBLIC_KEY));
    }

    #[test]
    fn e10_answer_body_verifies_but_its_timestamp_is_stale() {
        let body = r#"{"code":0,"trade_no":"2024071719404366151","pay_type":"qrcode","pay_info":"https:\/\/qr.alipay.com\/bax00000000000000000","timestamp":"1721206073","sign_type":"RSA","sign":"PbsOMymFa5XTcN8LaaQMS2nbBPdvAC6YTiWXlZtkOwx6nq1M+b3NJb0oK7hZzjwlIl9ERgk0cV2j3aXtWh3LctyKcqqFIlA7fAlQ00dV1PqsDVI1jO4kaPSURtMjGa\/7\/sMG63\/OENJr5lRZV7VEyQb0SKKkRPpZzxhCmLBRKJD56RddsRLU6\/rwGGXzUxcehyi1wRA2try6cXqxW\/DAyhQQHRv1XdwBkcfwtczCFJEBOfa0kYbThpGyl1KkejweBeTq59hSek1c\/efSm39VSRA0QH2uy8cvIOqGubpU8hS1S1ACuqwOj3cFoT3f\/IaQqD+DKcawJP5XSYDUEjuPnQ=="}"#;
        let answer: serde_json::Value = serde_json::from_str(body).unwrap();
        let fields = sign::json_fields(&answer);
        let pairs = sign::pairs(&fields);
        assert_eq!(
            sign::rsa_string(&pairs),
            "code=0&pay_info=https://qr.alipay.com/bax00000000000000000&pay_type=qrcode&timestamp=1721206073&trade_no=2024071719404366151"
        );
        let sig = answer["sign"].as_str().unwrap();
        // E10 stands the merchant key in for the platform's.
        assert!(sign::rsa_verify(&pairs, sig, keys::MERCHANT_PUBLIC_KEY));
        let err = sign::sdk2_verify(&pairs, keys::MERCHANT_PUBLIC_KEY).unwrap_err();
        assert!(err.starts_with("timestamp"), "{err}");
    }

    #[test]
    fn e11_notification_query() {
        let query = "pid=1000&trade_no=2024071719404366151&out_trade_no=20240717100000001&type=alipay&name=VIP%E4%BC%9A%E5%91%98&money=1&trade_status=TRADE_SUCCESS&api_trade_no=2024071722001400000000000001&buyer=2088000000000001&timestamp=1721206100&sign_type=RSA&sign=UQ3UmHwrg%2BVVIh%2F%2F%2FY%2F4DbpTItrirNa8cYILsaGIwk0Vm8B5dvI0rSiz5bw8vp3lpWiA7H%2B8%2BagzJ6uDIgZkWyN6NGE32I%2FvEd8kejA0h4ImvHla3xG47wLr0ZLomYgCZl7dXWpe0JiIR%2BsCrMAaApdqW2SK7apsKHDu3CIEfQk69qaWIAdWxp%2F0VomjiYGmlktkwwTK0a90DouqsKc8PnYe%2F8XApJXLTQtBhaPUMnR15n5eh1E%2BcW8deY8xEMa16XvTv67eCjbr05E3ryYwPivhyjgZPY5Aja71cUvMJBpe64H3CH6b6kk8mxYXFeUnKkHpphbhegIsi7tMIpHkTQ%3D%3D";
        let params = common::epay::query_pairs(&format!("http://x/?{query}"));
        let pairs = sign::pairs(&params);
        let sig = params.iter().find(|(k, _)| k == "sign").unwrap().1.as_str();
        assert!(sign::rsa_verify(&pairs, sig, keys::MERCHANT_PUBLIC_KEY));
    }

    #[test]
    fn the_platform_keys_are_a_pair() {
        let p = [("a", "1")];
        let sig = sign::rsa_sign(&p, keys::PLATFORM_PRIVATE_KEY);
        assert!(sign::rsa_verify(&p, &sig, keys::PLATFORM_PUBLIC_KEY));
    }
}
