//! Who is calling, and is it really them: `pid`, then the signature (MD5 or RSA with the V2
//! timestamp) or, on `api.php`, the key in clear, in the gateway's order and words
//! (epay.md §3–§6, build 3094's texts; every refusal of this module is code -3 except the
//! first two).
//!
//! 1. no `pid` at all → `未传入任何参数` (-4; `submit.php`: `你还未配置支付接口商户！`)
//! 2. `intval(pid)` is 0 → `商户ID不能为空`
//! 3. (the caller) no such merchant → `商户不存在！` (`api.php`: `商户ID不存在`)
//! 4. [`verify_signature`] or [`verify_key`].

use subtle::ConstantTimeEq;

use super::request::{EndpointExt, EpayRequest, Version};
use super::sign::{self, Filter, RsaVerifier};
use crate::domain::Failure;

/// Failure kinds this module gives (the failure renderer's code table reads them).
pub mod kind {
    pub const NO_PARAMS: &str = "epay_no_params";
    pub const PID_EMPTY: &str = "epay_pid_empty";
    pub const RSA_ONLY: &str = "epay_rsa_only";
    pub const TIMESTAMP: &str = "epay_timestamp";
    pub const SIGN_MISSING: &str = "epay_sign_missing";
    pub const PUBLIC_KEY: &str = "epay_public_key";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const KEY_WRONG: &str = "epay_key_wrong";
    pub const INTERNAL_SIGN: &str = "epay_internal_sign";
}

/// What a merchant's requests are checked with.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The MD5 key (`key`), also sent in clear to `api.php`.
    pub key: &'a str,
    /// The merchant's RSA public key (V2), when configured.
    pub public_key: Option<&'a RsaVerifier>,
    /// epay's `keytype = 1`: only RSA-signed requests.
    pub rsa_only: bool,
    /// Which values the MD5 string leaves out (build 3094 by default).
    pub filter: Filter,
}

fn refuse(kind: &'static str, words: &'static str) -> Failure {
    Failure::Invalid { kind, words }
}

/// `pid` as the gateway reads it (`intval`): the number the merchant is looked up by. Steps 1
/// and 2; an api.php query signed with `trade_no` is the gateway's internal path, refused first.
pub fn pid(request: &EpayRequest) -> Result<i64, Failure> {
    if request.endpoint == super::request::Endpoint::ApiOrder
        && request.get("sign").is_some()
        && request.get("trade_no").is_some()
    {
        return Err(refuse(kind::INTERNAL_SIGN, "verify sign failed"));
    }
    // `api.php` looks `intval(pid)` up at once: none, or 0, is an unknown merchant there.
    let api_php = request.endpoint.is_api_php();
    let Some(text) = request.get("pid") else {
        if api_php {
            return Err(Failure::UnknownMerchant);
        }
        return Err(refuse(kind::NO_PARAMS, "未传入任何参数"));
    };
    match super::php::intval(text) {
        0 if api_php => Err(Failure::UnknownMerchant),
        0 => Err(refuse(kind::PID_EMPTY, "商户ID不能为空")),
        pid => Ok(pid),
    }
}

/// Step 4 for `submit.php`, `mapi.php` and every V2 route (epay.md §4, §5.6): RSA when
/// `sign_type` is `RSA` (V1 too, as build 3094 accepts it), MD5 otherwise; V2 also checks the
/// timestamp. `now`: Unix seconds.
pub fn verify_signature(
    request: &EpayRequest,
    credentials: &Credentials<'_>,
    now: i64,
) -> Result<(), Failure> {
    let rsa = request.get("sign_type") == Some("RSA");
    if credentials.rsa_only && !rsa {
        return Err(refuse(kind::RSA_ONLY, "该商户只能使用RSA签名类型"));
    }
    if request.version() == Version::V2 {
        sign::check_timestamp(request.get("timestamp"), now)
            .map_err(|e| refuse(kind::TIMESTAMP, e.epay_message()))?;
    }
    if request.get("sign").is_none() {
        return Err(refuse(kind::SIGN_MISSING, "缺少签名参数"));
    }
    let pairs = request.pairs();
    let verified = if rsa {
        let Some(key) = credentials.public_key else {
            return Err(refuse(kind::PUBLIC_KEY, "签名校验失败，商户公钥错误"));
        };
        sign::rsa_verify(&pairs, key)
    } else {
        sign::md5_verify(&pairs, credentials.key, credentials.filter)
    };
    if verified {
        Ok(())
    } else {
        Err(mismatch(request.get("sign_type")))
    }
}

/// A signature that does not verify, in the gateway's words (epay.md §5.6, `api_verify`):
/// `<sign_type>签名校验失败` with the parameter as sent (`md5签名校验失败`), `MD5` when PHP finds
/// it falsy (absent, `""`, `"0"`). Upper- and lower-case spellings keep the `bad_signature` kind
/// (its metrics and logs); any other is carried as sent, code -3 all the same.
fn mismatch(sign_type: Option<&str>) -> Failure {
    let named = match sign_type {
        raw if super::php::empty(raw) => "MD5",
        Some(raw) => raw,
        None => "MD5",
    };
    let words = match named {
        "MD5" => "MD5签名校验失败",
        "RSA" => "RSA签名校验失败",
        "md5" => "md5签名校验失败",
        "rsa" => "rsa签名校验失败",
        other => {
            // Not `bad_signature` to the access log: counted as a signature failure here.
            metrics::counter!("paybridge_signature_failures_total", "reason" => "merchant_request")
                .increment(1);
            return Failure::InDialect {
                code: -3,
                msg: format!("{other}签名校验失败"),
            };
        }
    };
    refuse(kind::BAD_SIGNATURE, words)
}

/// Step 4 for `api.php` (`act=order`, `act=refund`): the key sent in clear, compared exactly
/// (here in constant time); an RSA-only merchant may not use it.
pub fn verify_key(request: &EpayRequest, credentials: &Credentials<'_>) -> Result<(), Failure> {
    let given = request.field("key").as_bytes();
    let expected = credentials.key.as_bytes();
    if given.len() != expected.len() || !bool::from(given.ct_eq(expected)) {
        return Err(refuse(kind::KEY_WRONG, "商户密钥错误"));
    }
    if credentials.rsa_only {
        return Err(refuse(kind::RSA_ONLY, "该商户只能使用RSA签名类型"));
    }
    Ok(())
}

/// Step 4 for any endpoint.
pub fn authenticate(
    request: &EpayRequest,
    credentials: &Credentials<'_>,
    now: i64,
) -> Result<(), Failure> {
    if request.endpoint.is_api_php() {
        verify_key(request, credentials)
    } else {
        verify_signature(request, credentials, now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::Endpoint;
    use super::*;

    const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

    fn request(endpoint: Endpoint, params: &[(&str, &str)]) -> EpayRequest {
        EpayRequest::new(
            endpoint,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn signed(endpoint: Endpoint, params: &[(&str, &str)]) -> EpayRequest {
        let mut r = request(endpoint, params);
        let s = sign::md5_sign(&sign::string_to_sign(&r.pairs(), Filter::Build3094), KEY);
        r.params.push(("sign".into(), s.to_string()));
        r.params.push(("sign_type".into(), "MD5".into()));
        r
    }

    fn creds() -> Credentials<'static> {
        Credentials {
            key: KEY,
            public_key: None,
            rsa_only: false,
            filter: Filter::Build3094,
        }
    }

    fn words(result: Result<impl std::fmt::Debug, Failure>) -> &'static str {
        match result {
            Err(Failure::Invalid { words, .. }) => words,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pid_is_read_as_intval() {
        assert_eq!(
            pid(&request(Endpoint::Mapi, &[("pid", "1001abc")])).ok(),
            Some(1001)
        );
        assert_eq!(words(pid(&request(Endpoint::Mapi, &[]))), "未传入任何参数");
        assert_eq!(
            words(pid(&request(Endpoint::Mapi, &[("pid", "abc")]))),
            "商户ID不能为空"
        );
        assert_eq!(
            words(pid(&request(
                Endpoint::ApiOrder,
                &[("pid", "1"), ("trade_no", "1"), ("sign", "x")]
            ))),
            "verify sign failed"
        );
        for params in [&[][..], &[("pid", "0")][..]] {
            assert!(matches!(
                pid(&request(Endpoint::ApiOrder, params)),
                Err(Failure::UnknownMerchant)
            ));
        }
    }

    #[test]
    fn md5_requests_verify_and_refusals_are_epays() {
        let good = signed(Endpoint::Mapi, &[("pid", "1001"), ("money", "1.00")]);
        assert!(verify_signature(&good, &creds(), 0).is_ok());
        let mut bad = good.clone();
        bad.params[1].1 = "2.00".into();
        assert_eq!(
            words(verify_signature(&bad, &creds(), 0)),
            "MD5签名校验失败"
        );
        let unsigned = request(Endpoint::Mapi, &[("pid", "1001")]);
        assert_eq!(
            words(verify_signature(&unsigned, &creds(), 0)),
            "缺少签名参数"
        );
        let mut upper = good.clone();
        let sign = upper.params[2].1.to_uppercase();
        upper.params[2].1 = sign;
        assert_eq!(
            words(verify_signature(&upper, &creds(), 0)),
            "MD5签名校验失败"
        );
        let rsa_only = Credentials {
            rsa_only: true,
            ..creds()
        };
        assert_eq!(
            words(verify_signature(&good, &rsa_only, 0)),
            "该商户只能使用RSA签名类型"
        );
        // The words name the `sign_type` as sent (MD5 when PHP finds it falsy).
        for (sign_type, said) in [
            ("md5", "md5签名校验失败"),
            ("rsa", "rsa签名校验失败"),
            ("", "MD5签名校验失败"),
            ("0", "MD5签名校验失败"),
        ] {
            let mut named = bad.clone();
            named.params[3].1 = sign_type.into();
            assert_eq!(
                words(verify_signature(&named, &creds(), 0)),
                said,
                "{sign_type:?}"
            );
        }
        let mut odd = bad.clone();
        for (sign_type, said) in [("Md5", "Md5签名校验失败"), ("sha<1>", "sha<1>签名校验失败")]
        {
            odd.params[3].1 = sign_type.into();
            assert!(matches!(
                verify_signature(&odd, &creds(), 0),
                Err(Failure::InDialect { code: -3, msg }) if msg == said
            ));
        }
        let mut none = bad.clone();
        none.params.truncate(3);
        assert_eq!(
            words(verify_signature(&none, &creds(), 0)),
            "MD5签名校验失败"
        );
        // A right signature verifies whatever the spelling of MD5 (only `RSA` is RSA).
        let mut lower = good.clone();
        lower.params[3].1 = "md5".into();
        assert!(verify_signature(&lower, &creds(), 0).is_ok());
        let mut rsa = good.clone();
        rsa.params[3].1 = "RSA".into();
        assert_eq!(
            words(verify_signature(&rsa, &creds(), 0)),
            "签名校验失败，商户公钥错误"
        );
    }

    #[test]
    fn v2_checks_the_timestamp_first() {
        let now = 1_721_206_072;
        let fresh = signed(
            Endpoint::V2Query,
            &[("pid", "1001"), ("timestamp", "1721206072")],
        );
        assert!(verify_signature(&fresh, &creds(), now).is_ok());
        assert!(verify_signature(&fresh, &creds(), now + 300).is_ok());
        assert_eq!(
            words(verify_signature(&fresh, &creds(), now + 301)),
            "时间戳字段不正确，请检查服务器时间"
        );
        let none = signed(Endpoint::V2Query, &[("pid", "1001")]);
        assert_eq!(
            words(verify_signature(&none, &creds(), now)),
            "时间戳(timestamp)字段不能为空"
        );
    }

    #[test]
    fn rsa_requests_verify_with_the_merchants_public_key() {
        // E9 of epay.md §15, signed with SDK2's sample key; its public half.
        let vectors = crate::dialect::epay::test_keys::e9();
        let key = RsaVerifier::from_text(vectors.public_key).unwrap();
        let credentials = Credentials {
            public_key: Some(&key),
            ..creds()
        };
        let r = request(Endpoint::V2Create, &vectors.params);
        assert!(verify_signature(&r, &credentials, vectors.timestamp).is_ok());
        let mut tampered = r.clone();
        tampered.params[7].1 = "2.00".into();
        assert_eq!(
            words(verify_signature(&tampered, &credentials, vectors.timestamp)),
            "RSA签名校验失败"
        );
    }

    #[test]
    fn api_php_keys_are_compared_exactly() {
        let r = request(Endpoint::ApiOrder, &[("pid", "1001"), ("key", KEY)]);
        assert!(authenticate(&r, &creds(), 0).is_ok());
        let wrong = request(Endpoint::ApiOrder, &[("pid", "1001"), ("key", &KEY[..31])]);
        assert_eq!(words(authenticate(&wrong, &creds(), 0)), "商户密钥错误");
        let none = request(Endpoint::ApiRefund, &[("pid", "1001")]);
        assert_eq!(words(authenticate(&none, &creds(), 0)), "商户密钥错误");
    }
}
