//! The MD5 and RSA rules on epay.md §15's own examples (the whole set is checked from
//! `vectors/derived/epay.json` by tests/epay_vectors.rs), and each boundary of the rules.

use super::*;

const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";
/// SDK2's sample merchant private key (epay.md Appendix A) and its public key.
const SAMPLE_PRIVATE: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCBIB1e5lAYtFyXq5I8UIQ6KidYZcWkn0SwVS8Rk0SNZVrvL/UJk6Q1zkJs4pUCykTBS/tTrP2rNPOsK1VO/AQHIzhvAujsv7UK2LptcsuNRPCF5GYxndQnOawAGKNQKsMuNcDzyuyTMbZIBEYSRWIoU3dMz4wWEFso/VdVS4uKTZWZnBOeCDdzDAJ7TwbmaOkT919DfZbXAoMH9n3sG4BMpqQExTDoFY6dq6EPXCWVZgoUfecAgNKSfX5TagSUaAxq4eF5vsUfvj+LFpYIrIssmSVErtZuRXLHWVSEbsNxdDPNuS3BtxWEY7GRPF9RJevtoC5L5LN7Gn+RYCqZNZv7AgMBAAECggEAEA6ZTb11hQzwsrUAM1s5MNkgbsABIDk6BnTMAfMpRC1awyxYhqoDHTnFTYWuTVwvyUW/PtGKnelbdTPSS5x6jRSr0N+GGDgNYF2Wbpkm3Ni6Jubsb7ZrtRED5Y3Vc9j4JTKZXaJaDEJ9+LNSBLWiFi0C7zH5U/O8ElB8CrxL4ZUaZv0JgV9NcDpS5jAtpPSyBLrdhbEheertJiHQU0V+FaaXq8taNcYIA/Xim6+vqcFFtUA3PBBTXHn/NE5uasXi+N+De4IT+dBmirzVSZjviDPr9RSBUi6KPUSXx6eDa26SKeEqJZvBtlASDM+ZC0yhDz0eyV49tMjk7eF5fnCIwQKBgQC2nEiR2t5Q02tHaKesZMRGOwxEyMFQj6viDW+Yffg59Tu6QYuqdR558/zmzWcJFMH3DVQzTXpzPNU9TA3/yT/Q42iKBP70K8O9tJO+gd/jLHLqgw90Wyh2b4FJXXQqVQMkxGBQKRfNi6krWigJNBs8Z8IhczorQHYNbBIUI05poQKBgQC1BRI8zKf+85GuJXTxJ93RXbkOQMUIhT/6eyFTZvCLC9Qqba1/1ouNbtmxNsFFIC+n+rHRN9btKt90m9YFvXD90m3y34M88QjvaQcA1Kng9Q6Xia8DizpVIYGAR/Pfn36BZQeHHVz9te6QJ9hVOgZO3GG62Echd9M/rwOzuU14GwKBgFGtS2Q5khByz9wLuluIYqXLCWzGoninGkksm0qIpXs+7e0cHh0q72u6rtaI7toH983Jn2ym7esXPYWCPAy5dhq3bG23WFXcMVvrpd2i94IDwo6T+lif4VRAAYLQEwJQLezHDREtoCDmo87pL1kWfkwhWJpfkJgB6AuO1/M763mhAoGBAIPEGj9plcwOzndeSp6UL3IMb/1BBmuqWyTgZiTIpMYCKUFtLsMEj/a2vv2xZsQDpsz2vmMV63weHiRKn2L0QABzIZeOPYCpz6A96lwfcT0QBLwn+95vhVmclyCiv5GDDtnviag/poYD3ZDPgDihkR/sabNRZY2mJH6RzfcQJqULAoGALkSkqr0bplhfyAA6bO42l64th4YUqwouTEgp7rE36wQ28THj0a88HLU4CeiCR6LQAEGpKk04Vst97C1Q5ZeD5rc4xKINl8K5HUH8SsdMDq3r22xur2qr4kanW4hf2P/ehOeEKGuhSL+ZWeApvt1c0rqH4MQT1/7qR/dO2MikkMg=";
const SAMPLE_PUBLIC: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAgSAdXuZQGLRcl6uSPFCEOionWGXFpJ9EsFUvEZNEjWVa7y/1CZOkNc5CbOKVAspEwUv7U6z9qzTzrCtVTvwEByM4bwLo7L+1Cti6bXLLjUTwheRmMZ3UJzmsABijUCrDLjXA88rskzG2SARGEkViKFN3TM+MFhBbKP1XVUuLik2VmZwTngg3cwwCe08G5mjpE/dfQ32W1wKDB/Z97BuATKakBMUw6BWOnauhD1wllWYKFH3nAIDSkn1+U2oElGgMauHheb7FH74/ixaWCKyLLJklRK7WbkVyx1lUhG7DcXQzzbktwbcVhGOxkTxfUSXr7aAuS+Szexp/kWAqmTWb+wIDAQAB";

const E1: [(&str, &str); 8] = [
    ("pid", "1001"),
    ("type", "alipay"),
    ("out_trade_no", "20160806151343349"),
    ("notify_url", "http://www.pay.com/notify_url.php"),
    ("return_url", "http://www.pay.com/return_url.php"),
    ("name", "VIP会员"),
    ("money", "1.00"),
    ("sign_type", "MD5"),
];

#[test]
fn md5_signs_e1() {
    let string = string_to_sign(&E1, Filter::Build3094);
    assert_eq!(
        string,
        "money=1.00&name=VIP会员&notify_url=http://www.pay.com/notify_url.php&out_trade_no=20160806151343349&pid=1001&return_url=http://www.pay.com/return_url.php&type=alipay"
    );
    assert_eq!(
        md5_sign(&string, KEY).as_str(),
        "427724b6656aa612cfdbe7a2262036a3"
    );
}

#[test]
fn md5_compare_is_exact() {
    let mut params = E1.to_vec();
    params.push(("sign", "427724b6656aa612cfdbe7a2262036a3"));
    assert!(md5_verify(&params, KEY, Filter::Build3094));
    params.pop();
    params.push(("sign", "427724B6656AA612CFDBE7A2262036A3"));
    assert!(
        !md5_verify(&params, KEY, Filter::Build3094),
        "upper case is refused"
    );
    params.pop();
    params.push(("sign", "427724b6656aa612cfdbe7a2262036a"));
    assert!(!md5_verify(&params, KEY, Filter::Build3094));
    params.pop();
    assert!(
        !md5_verify(&params, KEY, Filter::Build3094),
        "no sign: refused"
    );
}

#[test]
fn empty_map_signs_the_key_alone() {
    assert_eq!(
        string_to_sign(&[("sign", "x"), ("a", "")], Filter::Build3094),
        ""
    );
    assert_eq!(md5_sign("", KEY), md5_sign(KEY, ""));
}

#[test]
fn blank_values_by_build() {
    let params = [("a", " "), ("b", "0"), ("c", "\t\r\n"), ("d", "x")];
    assert_eq!(string_to_sign(&params, Filter::Build3094), "b=0&d=x");
    assert_eq!(
        string_to_sign(&params, Filter::Build3065),
        "a= &b=0&c=\t\r\n&d=x"
    );
}

#[test]
fn keys_sort_by_bytes() {
    let params = [
        ("a_b", "1"),
        ("aB", "2"),
        ("a1", "3"),
        ("A", "4"),
        ("a", "5"),
        ("Zeta", "6"),
    ];
    assert_eq!(
        string_to_sign(&params, Filter::Build3094),
        "A=4&Zeta=6&a=5&a1=3&aB=2&a_b=1"
    );
}

#[test]
fn rsa_round_trip_with_the_sample_pair() {
    let signer = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
    let verifier = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
    let signature = signer.sign("a=1&timestamp=1721206072");
    assert!(verifier.verify("a=1&timestamp=1721206072", &signature));
    assert!(!verifier.verify("a=2&timestamp=1721206072", &signature));
    assert!(!verifier.verify("a=1&timestamp=1721206072", "not base64!"));
    assert!(!verifier.verify("a=1&timestamp=1721206072", "AAAA"));
}

#[test]
fn keys_are_read_as_epay_stores_them_or_as_pem() {
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in SAMPLE_PRIVATE.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let from_pem = RsaSigner::from_text(&pem).unwrap();
    let from_body = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
    assert_eq!(from_pem.sign("x=1"), from_body.sign("x=1"));
    assert_eq!(RsaSigner::from_text("").unwrap_err(), KeyError::Empty);
    assert_eq!(
        RsaSigner::from_text("%%%").unwrap_err(),
        KeyError::NotBase64
    );
    assert_eq!(
        RsaSigner::from_text(SAMPLE_PUBLIC).unwrap_err(),
        KeyError::NotPrivateKey
    );
    assert_eq!(
        RsaVerifier::from_text(SAMPLE_PRIVATE).unwrap_err(),
        KeyError::NotPublicKey
    );
}

#[test]
fn debug_never_shows_a_key() {
    let signer = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
    let shown = format!("{signer:?}");
    assert_eq!(shown, "RsaSigner(2048 bits, redacted)");
}

#[test]
fn timestamp_window_is_inclusive() {
    let now = 1_721_206_072;
    assert_eq!(check_timestamp(Some("1721206072"), now), Ok(()));
    assert_eq!(check_timestamp(Some("1721205772"), now), Ok(()));
    assert_eq!(check_timestamp(Some("1721206372"), now), Ok(()));
    assert_eq!(
        check_timestamp(Some("1721205771"), now),
        Err(TimestampError::OutOfWindow { skew: 301 })
    );
    assert_eq!(
        check_timestamp(Some("1721206373"), now),
        Err(TimestampError::OutOfWindow { skew: -301 })
    );
    assert!(matches!(
        check_timestamp(Some("1721206072000"), now),
        Err(TimestampError::OutOfWindow { .. })
    ));
    assert_eq!(check_timestamp(None, now), Err(TimestampError::Missing));
    assert_eq!(check_timestamp(Some(""), now), Err(TimestampError::Missing));
    for bad in [
        "-1",
        "+1721206072",
        " 1721206072",
        "1.7e9",
        "99999999999999999999",
    ] {
        assert_eq!(
            check_timestamp(Some(bad), now),
            Err(TimestampError::NotSeconds),
            "{bad}"
        );
    }
    assert_eq!(
        TimestampError::Missing.epay_message(),
        "时间戳(timestamp)字段不能为空"
    );
}
