//! epay V1 (彩虹易支付 `mapi.php`, `submit.php`, `api.php`) through paybridge onto DaxPay, with an
//! epay client written from epay.md only (`tests/common/epay`). First the client itself, pinned
//! by §15's MD5 vectors, so that its checks below mean what epay means.

mod common;

use common::epay::sign;

mod client_pinned_by_vectors {
    use super::*;

    const KEY: &str = common::epay::KEY;

    #[test]
    fn e1_page_payment() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "20160806151343349"),
            ("notify_url", "http://www.pay.com/notify_url.php"),
            ("return_url", "http://www.pay.com/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(sign::md5_sign(&p, KEY), "427724b6656aa612cfdbe7a2262036a3");
    }

    #[test]
    fn e2_empty_values_and_stale_sign() {
        let p = [
            ("pid", "1001"),
            ("type", "wxpay"),
            ("out_trade_no", "ORDER-2024_0001"),
            ("notify_url", "https://shop.example.com/notify"),
            ("return_url", ""),
            ("name", "Test"),
            ("money", "0.01"),
            ("clientip", "192.168.1.100"),
            ("device", ""),
            ("param", ""),
            ("sign", "ignored"),
            ("sign_type", "MD5"),
        ];
        assert_eq!(
            sign::md5_string(&p),
            "clientip=192.168.1.100&money=0.01&name=Test&notify_url=https://shop.example.com/notify&out_trade_no=ORDER-2024_0001&pid=1001&type=wxpay"
        );
        assert_eq!(sign::md5_sign(&p, KEY), "74aefe7c1c5cd6b96136c22d822f7333");
    }

    #[test]
    fn e5_whitespace_is_signed_by_sdk1() {
        let p = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "Z1"),
            ("notify_url", "https://shop.example.com/n"),
            ("return_url", "https://shop.example.com/r"),
            ("name", "n"),
            ("money", "5.00"),
            ("param", "0"),
            ("sitename", " "),
        ];
        assert_eq!(sign::md5_sign(&p, KEY), "90f639d4a56afa2e9351d728ac1a3e91");
    }

    #[test]
    fn e7_notification_url_verifies_as_sdk1_does() {
        let url = "https://shop.example.com/notify.php?pid=1001&trade_no=2024070112000012345&out_trade_no=20160806151343349&type=alipay&name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB&money=1.5&trade_status=TRADE_SUCCESS&param=uid%3D7%26amp%3Bfrom%3Dapp&sign=a872b215c2dbd68864aaa2a8b94b167b&sign_type=MD5";
        let params = common::epay::query_pairs(url);
        assert!(sign::md5_verify(&sign::pairs(&params), KEY));
        let tampered = url.replace("money=1.5", "money=1.50");
        let params = common::epay::query_pairs(&tampered);
        assert!(!sign::md5_verify(&sign::pairs(&params), KEY));
        assert_eq!(common::epay::merchant::round2_fen("1.5"), Some(150));
    }
}
