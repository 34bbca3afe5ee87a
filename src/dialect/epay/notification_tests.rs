//! The notification on epay.md §15's own examples (E7, E11), checked the way merchants check it:
//! SDK1 `EpayCore::verifyNotify` (every `$_GET` key), SDK2 (RSA with the platform public key and
//! a timestamp within 300 s) and V2Board (empty values signed too).

use super::super::params::from_form;
use super::super::sign::{md5_sign, RsaVerifier};
use super::*;

const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

fn sample_private() -> String {
    vector_key("rsa_private_key")
}

fn sample_public() -> String {
    vector_key("rsa_public_key")
}

fn vector_key(name: &str) -> String {
    let text = include_str!("../../../vectors/derived/epay.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    json[name].as_str().unwrap().to_owned()
}

/// E7: the merchant sent `name=VIP会员 A&B`, `param=uid=7&from=app`; the gateway echoes the
/// stored (escaped) forms.
fn e7() -> PaidOrder {
    PaidOrder {
        pid: "1001".to_owned(),
        trade_no: "2024070112000012345".to_owned(),
        out_trade_no: "20160806151343349".to_owned(),
        pay_type: "alipay".to_owned(),
        name: "VIP会员 A&amp;B".to_owned(),
        money_fen: 150,
        param: Some("uid=7&amp;from=app".to_owned()),
        api_trade_no: None,
        buyer: None,
    }
}

fn e11() -> PaidOrder {
    PaidOrder {
        pid: "1000".to_owned(),
        trade_no: "2024071719404366151".to_owned(),
        out_trade_no: "20240717100000001".to_owned(),
        pay_type: "alipay".to_owned(),
        name: "VIP会员".to_owned(),
        money_fen: 100,
        param: None,
        api_trade_no: Some("2024071722001400000000000001".to_owned()),
        buyer: Some("2088000000000001".to_owned()),
    }
}

/// SDK1 `verifyNotify`: `getSign($_GET)` (every key but `sign`/`sign_type`, `$v != ''`, ksort,
/// raw `k=v&…` + key, md5) `===` `$_GET['sign']`.
fn sdk1_accepts(url: &str, key: &str) -> bool {
    let get = from_form(url).unwrap();
    let mut kept: Vec<&(String, String)> = get
        .iter()
        .filter(|(k, v)| k != "sign" && k != "sign_type" && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let string: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sign = get
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str());
    Some(md5_sign(&string.join("&"), key).as_str()) == sign
}

/// V2Board: `http_build_query` of every key but `sign`/`sign_type`, empty ones included,
/// `urldecode`d and `stripslashes`d, + key.
fn v2board_accepts(url: &str, key: &str) -> bool {
    let get = from_form(url).unwrap();
    let mut kept: Vec<&(String, String)> = get
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let string: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let string = string.join("&").replace('\\', "");
    let sign = get
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str());
    Some(md5_sign(&string, key).as_str()) == sign
}

/// SDK2 `verify`: `sign` present, `|now - timestamp| <= 300`, RSA over every key's string.
fn sdk2_accepts(url: &str, platform_public: &str, now: i64) -> bool {
    let get = from_form(url).unwrap();
    let find = |name: &str| get.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (Some(sign), Some(timestamp)) = (find("sign"), find("timestamp")) else {
        return false;
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= 300);
    let pairs: Vec<(&str, &str)> = get.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let key = RsaVerifier::from_text(platform_public).unwrap();
    fresh && key.verify(&string_to_sign(&pairs, Filter::Build3094), &sign)
}

#[test]
fn php_prints_money_as_a_float() {
    for (fen, text) in [
        (100, "1"),
        (150, "1.5"),
        (10, "0.1"),
        (1, "0.01"),
        (10_050, "100.5"),
        (9_999_999_999, "99999999.99"),
        (0, "0"),
        (105, "1.05"),
    ] {
        assert_eq!(php_money(fen), text, "{fen}");
    }
}

#[test]
fn e7_v1_notification_is_the_gateways_url() {
    let query = http_build_query(&e7().v1_signed(KEY));
    assert_eq!(
        query,
        "pid=1001&trade_no=2024070112000012345&out_trade_no=20160806151343349&type=alipay\
         &name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB&money=1.5&trade_status=TRADE_SUCCESS\
         &param=uid%3D7%26amp%3Bfrom%3Dapp&sign=a872b215c2dbd68864aaa2a8b94b167b&sign_type=MD5"
    );
    let url = notify_target("https://shop.example.com/notify.php", &query);
    assert!(sdk1_accepts(&url, KEY));
    assert!(v2board_accepts(&url, KEY));
    assert!(!sdk1_accepts(&url, "another key"));
    let back = append_query("https://shop.example.com/return.php?x=1", &query);
    assert!(back.starts_with("https://shop.example.com/return.php?x=1&pid=1001&"));
    // The return URL's own `x=1` is not signed: SDK1 signs every `$_GET` key (the gateway's
    // behaviour, and why the SDK comments forbid custom parameters in these URLs).
    assert!(!sdk1_accepts(&back, KEY));
}

#[test]
fn e11_v2_notification_is_signed_with_the_platform_key_and_a_timestamp() {
    let platform = RsaSigner::from_text(&sample_private()).unwrap();
    let pairs = signed_v2(e11().v2_unsigned(), 1_721_206_100, &platform);
    let query = http_build_query(&pairs);
    assert_eq!(
        query,
        "pid=1000&trade_no=2024071719404366151&out_trade_no=20240717100000001&type=alipay\
         &name=VIP%E4%BC%9A%E5%91%98&money=1&trade_status=TRADE_SUCCESS\
         &api_trade_no=2024071722001400000000000001&buyer=2088000000000001&timestamp=1721206100\
         &sign_type=RSA&sign=UQ3UmHwrg%2BVVIh%2F%2F%2FY%2F4DbpTItrirNa8cYILsaGIwk0Vm8B5dvI0rSiz5bw8\
         vp3lpWiA7H%2B8%2BagzJ6uDIgZkWyN6NGE32I%2FvEd8kejA0h4ImvHla3xG47wLr0ZLomYgCZl7dXWpe0JiIR%2B\
         sCrMAaApdqW2SK7apsKHDu3CIEfQk69qaWIAdWxp%2F0VomjiYGmlktkwwTK0a90DouqsKc8PnYe%2F8XApJXLTQt\
         BhaPUMnR15n5eh1E%2BcW8deY8xEMa16XvTv67eCjbr05E3ryYwPivhyjgZPY5Aja71cUvMJBpe64H3CH6b6kk8mx\
         YXFeUnKkHpphbhegIsi7tMIpHkTQ%3D%3D"
    );
    let url = notify_target("https://shop.example.com/notify", &query);
    assert!(sdk2_accepts(&url, &sample_public(), 1_721_206_100 + 300));
    assert!(
        !sdk2_accepts(&url, &sample_public(), 1_721_206_100 + 301),
        "SDK2 refuses a timestamp over 300 s old: each attempt signs again"
    );
}

#[test]
fn a_v2_attempt_signs_again_with_its_own_timestamp() {
    let platform = RsaSigner::from_text(&sample_private()).unwrap();
    let kept = e11().v2_unsigned();
    assert!(!kept.iter().any(|(k, _)| k == "sign" || k == "timestamp"));
    let later = signed_v2(kept.clone(), 1_721_209_000, &platform);
    let url = notify_target("https://m.example/n", &http_build_query(&later));
    assert!(sdk2_accepts(&url, &sample_public(), 1_721_209_000));
    // Signing what an attempt sent again replaces its timestamp and signature.
    let again = signed_v2(later, 1_721_209_500, &platform);
    assert_eq!(again.iter().filter(|(k, _)| k == "timestamp").count(), 1);
    let url = notify_target("https://m.example/n", &http_build_query(&again));
    assert!(sdk2_accepts(&url, &sample_public(), 1_721_209_500));
}

#[test]
fn php_empty_values_and_blank_ones_are_never_sent() {
    let mut order = e11();
    order.param = Some("0".to_owned());
    order.buyer = Some(String::new());
    order.api_trade_no = Some("  ".to_owned());
    order.name = " \t".to_owned();
    let kept = order.v2_unsigned();
    let names: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "pid",
            "trade_no",
            "out_trade_no",
            "type",
            "money",
            "trade_status"
        ]
    );
    let mut v1 = e7();
    v1.param = Some(String::new());
    let pairs = v1.v1_signed(KEY);
    assert!(!pairs.iter().any(|(k, v)| k == "param" || v.is_empty()));
    let url = notify_target("http://m.example/n", &http_build_query(&pairs));
    assert!(sdk1_accepts(&url, KEY) && v2board_accepts(&url, KEY));
}

#[test]
fn the_query_is_rfc_1738_as_php_writes_it() {
    let pairs = vec![("k".to_owned(), "a b*~'()!/?:@,;$+=&%é".to_owned())];
    assert_eq!(
        http_build_query(&pairs),
        "k=a+b%2A%7E%27%28%29%21%2F%3F%3A%40%2C%3B%24%2B%3D%26%25%C3%A9"
    );
    assert_eq!(parse_query(&http_build_query(&pairs)), pairs);
    let order = e7().v1_signed(KEY);
    assert_eq!(parse_query(&http_build_query(&order)), order);
}

#[test]
fn question_mark_rule_is_strpos() {
    assert_eq!(append_query("http://m/n", "a=1"), "http://m/n?a=1");
    assert_eq!(append_query("http://m/n?x=1", "a=1"), "http://m/n?x=1&a=1");
    assert_eq!(append_query("?x", "a=1"), "?x?a=1", "a `?` at 0 is falsy");
    assert_eq!(append_query("http://m/r#top", "a=1"), "http://m/r?a=1#top");
    assert_eq!(
        notify_target("http://m/n?x=1#top", "a=1"),
        "http://m/n?x=1&a=1"
    );
}

#[test]
fn acknowledged_by_the_substring_rule() {
    for body in [
        &b"success"[..],
        b"SUCCESS",
        b"Success",
        b"<html>ok success</html>",
        b"\r\n success \n",
    ] {
        assert!(acknowledged(body), "{body:?}");
    }
    for body in [&b"fail"[..], b"sUCCESS", b"succes", b"", b"OK"] {
        assert!(!acknowledged(body), "{body:?}");
    }
}
