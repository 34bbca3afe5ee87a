//! Each mistake is made on purpose here, with the wrong string to sign written out by hand and
//! digested directly (not through the code under test), then diagnosed.

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};

use super::*;

const JEEPAY_KEY: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
const DAX_KEY: &str = "dax_secret_Key123";

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn hmac_hex(s: &str, key: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn sm3_hex(s: &str) -> String {
    hex::encode(sm3::Sm3::digest(s.as_bytes()))
}

const JEEPAY: Dialect = Dialect::Jeepay {
    declared_only_close: false,
};

fn dax(version: Version, sign_type: SignType) -> Dialect {
    Dialect::Daxpay { version, sign_type }
}

/// A body: `fields` (a JSON object's inside) plus `"sign":sign`.
fn body(fields: &str, sign: &str) -> String {
    if fields.is_empty() {
        format!(r#"{{"sign":"{sign}"}}"#)
    } else {
        format!(r#"{{{fields},"sign":"{sign}"}}"#)
    }
}

fn causes(body: &str, key: &str, dialect: Dialect) -> Vec<Cause> {
    let d = diagnose(body, key, dialect).unwrap();
    assert!(!d.valid, "expected a mismatch: {d:?}");
    assert!(!d.causes.is_empty());
    d.causes
}

const CLOSE: &str = r#""mchNo":"M1623984572","appId":"60cc09bce4b0f1c0b83761c9","version":"1.0","signType":"MD5","reqTime":"1622016572190""#;
const CLOSE_STRING: &str =
    "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&reqTime=1622016572190&signType=MD5&version=1.0&";

#[test]
fn valid_jeepay_close_request() {
    let fields = format!(r#"{CLOSE},"payOrderId":"P1""#);
    let sign = md5_hex(&format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&payOrderId=P1&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    ))
    .to_uppercase();
    let d = diagnose(&body(&fields, &sign), JEEPAY_KEY, JEEPAY).unwrap();
    assert!(d.valid);
    assert_eq!(d.expected, sign);
    assert_eq!(
        d.lines(),
        [
            "OK: signature valid".to_owned(),
            "string to sign: appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&payOrderId=P1&reqTime=1622016572190&signType=MD5&version=1.0&key=***".to_owned()
        ]
    );
}

#[test]
fn jeepay_request_accepts_lower_case_with_a_note() {
    let sign = md5_hex(&format!("{CLOSE_STRING}key={JEEPAY_KEY}"));
    let d = diagnose(&body(CLOSE, &sign), JEEPAY_KEY, JEEPAY).unwrap();
    assert!(d.valid);
    assert_eq!(d.notes.len(), 1);
    assert!(d.lines()[2].starts_with("note: the digest is not in upper case"));
}

#[test]
fn jeepay_answer_in_lower_case() {
    let sign = md5_hex(&format!("key={JEEPAY_KEY}"));
    let input = format!(r#"{{"code":0,"data":{{}},"msg":"SUCCESS","sign":"{sign}"}}"#);
    assert_eq!(
        causes(&input, JEEPAY_KEY, JEEPAY),
        [Cause::DigestNotUpperCase]
    );
    // The same answer in upper case is valid: the sign covers `data`, not the envelope.
    let upper = input.replace(&sign, &sign.to_uppercase());
    assert!(diagnose(&upper, JEEPAY_KEY, JEEPAY).unwrap().valid);
}

#[test]
fn daxpay_digest_in_upper_case() {
    let s = format!("A=1&KEY={}", DAX_KEY.to_uppercase());
    let input = body(r#""a":"1""#, &hmac_hex(&s, DAX_KEY).to_uppercase());
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V3_0, SignType::HmacSha256)),
        [Cause::DigestNotLowerCase]
    );
}

#[test]
fn jeepay_empty_field_signed() {
    let fields = format!(r#"{CLOSE},"mchOrderNo":"MO1","payOrderId":"""#);
    let wrong = format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&mchOrderNo=MO1&payOrderId=&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    );
    let input = body(&fields, &md5_hex(&wrong).to_uppercase());
    assert_eq!(
        causes(&input, JEEPAY_KEY, JEEPAY),
        [Cause::EmptyFieldsSigned(vec!["payOrderId".to_owned()])]
    );
}

#[test]
fn daxpay_empty_field_left_out() {
    let fields = r#""appId":"A1","clientIp":"","orderNo":"O1","reqTime":"2025-01-16 12:00:00""#;
    let wrong = format!("appId=A1&orderNo=O1&reqTime=2025-01-16 12:00:00&key={DAX_KEY}");
    let input = body(fields, &md5_hex(&wrong));
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V3_0Beta, SignType::Md5)),
        [Cause::EmptyFieldsLeftOut(vec!["clientIp".to_owned()])]
    );
}

#[test]
fn jeepay_undeclared_field_signed() {
    let fields = format!(r#"{CLOSE},"payOrderId":"P1","notifyUrl":"https://m.example/n""#);
    let wrong = format!(
        "appId=60cc09bce4b0f1c0b83761c9&mchNo=M1623984572&notifyUrl=https://m.example/n&payOrderId=P1&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    );
    let input = body(&fields, &md5_hex(&wrong).to_uppercase());
    assert_eq!(
        causes(&input, JEEPAY_KEY, JEEPAY),
        [Cause::UndeclaredFieldsSigned(vec!["notifyUrl".to_owned()])]
    );
}

#[test]
fn declared_only_is_forced_by_the_flag() {
    // No signType: not recognisably a close request, so all fields are signed unless forced.
    let fields = r#""appId":"A1","extra":"x","mchNo":"M1","payOrderId":"P1""#;
    let all = format!("appId=A1&extra=x&mchNo=M1&payOrderId=P1&key={JEEPAY_KEY}");
    let input = body(fields, &md5_hex(&all).to_uppercase());
    assert!(diagnose(&input, JEEPAY_KEY, JEEPAY).unwrap().valid);
    let forced = Dialect::Jeepay {
        declared_only_close: true,
    };
    assert_eq!(
        causes(&input, JEEPAY_KEY, forced),
        [Cause::UndeclaredFieldsSigned(vec!["extra".to_owned()])]
    );
}

#[test]
fn jeepay_plain_key_sort() {
    let fields = r#""a":"x","a1":"y""#;
    let wrong = format!("a=x&a1=y&key={JEEPAY_KEY}");
    let input = body(fields, &md5_hex(&wrong).to_uppercase());
    assert_eq!(
        causes(&input, JEEPAY_KEY, JEEPAY),
        [Cause::PlainKeySort {
            first: "a1".to_owned(),
            second: "a".to_owned()
        }]
    );
}

#[test]
fn daxpay_3_0_upper_casing_missing_and_extra() {
    let fields = r#""appId":"A1","orderNo":"o1","reqTime":"2025-08-26 12:00:00""#;
    let plain = format!("appId=A1&orderNo=o1&reqTime=2025-08-26 12:00:00&key={DAX_KEY}");
    let input = body(fields, &hmac_hex(&plain, DAX_KEY));
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V3_0, SignType::HmacSha256)),
        [Cause::NotUpperCased]
    );
    assert!(
        diagnose(
            &input,
            DAX_KEY,
            dax(Version::V3_0Beta, SignType::HmacSha256)
        )
        .unwrap()
        .valid
    );
    let upper = body(fields, &hmac_hex(&plain.to_uppercase(), DAX_KEY));
    assert_eq!(
        causes(&upper, DAX_KEY, dax(Version::V2_0, SignType::HmacSha256)),
        [Cause::UpperCased {
            configured: Version::V2_0
        }]
    );
}

#[test]
fn daxpay_quotes_kept() {
    let fields = r#""code":0,"msg":"say \"hi\" \\ bye""#;
    let wrong = format!("code=0&msg=say \"hi\" \\ bye&key={DAX_KEY}");
    let input = body(fields, &md5_hex(&wrong));
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V2_0, SignType::Md5)),
        [Cause::QuotesKept(vec!["msg".to_owned()])]
    );
}

#[test]
fn daxpay_other_sign_type_and_the_sm3_quirk() {
    let s = format!("CODE=0&MSG=SUCCESS&KEY={}", DAX_KEY.to_uppercase());
    let input = body(r#""code":0,"msg":"success""#, &md5_hex(&s));
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V3_0, SignType::HmacSha256)),
        [Cause::SignType {
            configured: SignType::HmacSha256,
            used: SignType::Md5,
            sm3_is_md5: false
        }]
    );
    let quirk = causes(&input, DAX_KEY, dax(Version::V3_0, SignType::Sm3));
    assert_eq!(
        quirk,
        [Cause::SignType {
            configured: SignType::Sm3,
            used: SignType::Md5,
            sm3_is_md5: true
        }]
    );
    assert!(quirk[0].to_string().contains("set sm3_is_md5"));
    let real_sm3 = body(r#""code":0,"msg":"success""#, &sm3_hex(&s));
    assert!(
        diagnose(&real_sm3, DAX_KEY, dax(Version::V3_0, SignType::Sm3))
            .unwrap()
            .valid
    );
}

#[test]
fn mistakes_combine() {
    // Upper-case MD5 hex over a 3.0-beta string, checked as 3.0 HMAC: three mistakes at once.
    let s = format!("appId=A1&orderNo=o1&key={DAX_KEY}");
    let input = body(
        r#""appId":"A1","orderNo":"o1""#,
        &md5_hex(&s).to_uppercase(),
    );
    assert_eq!(
        causes(&input, DAX_KEY, dax(Version::V3_0, SignType::HmacSha256)),
        [
            Cause::DigestNotLowerCase,
            Cause::NotUpperCased,
            Cause::SignType {
                configured: SignType::HmacSha256,
                used: SignType::Md5,
                sm3_is_md5: false
            }
        ]
    );
    // Jeepay: an undeclared field that is empty, signed anyway: both mistakes are named.
    let fields = format!(r#"{CLOSE},"extParam":"""#);
    let wrong = format!(
        "appId=60cc09bce4b0f1c0b83761c9&extParam=&mchNo=M1623984572&reqTime=1622016572190&signType=MD5&version=1.0&key={JEEPAY_KEY}"
    );
    let input = body(&fields, &md5_hex(&wrong).to_uppercase());
    assert_eq!(
        causes(&input, JEEPAY_KEY, JEEPAY),
        [
            Cause::EmptyFieldsSigned(vec!["extParam".to_owned()]),
            Cause::UndeclaredFieldsSigned(vec!["extParam".to_owned()])
        ]
    );
}

#[test]
fn wrong_key_only_when_nothing_else_matches() {
    let input = body(CLOSE, &md5_hex(&format!("{CLOSE_STRING}key=other")));
    assert_eq!(causes(&input, JEEPAY_KEY, JEEPAY), [Cause::WrongKey]);
    let dax_input = body(r#""a":"1""#, &hmac_hex("A=1&KEY=OTHER", "other"));
    assert_eq!(
        causes(
            &dax_input,
            DAX_KEY,
            dax(Version::V3_0, SignType::HmacSha256)
        ),
        [Cause::WrongKey]
    );
}

#[test]
fn daxpay_2_0_answer_is_verified_over_data() {
    let s = format!("code=0&msg=success&resTime=1719460801&key={DAX_KEY}");
    let input = format!(
        r#"{{"msg":"success","code":0,"data":{{"code":0,"msg":"success","resTime":1719460801,"sign":"{}"}},"traceId":"t1"}}"#,
        md5_hex(&s)
    );
    let d = diagnose(&input, DAX_KEY, dax(Version::V2_0, SignType::Md5)).unwrap();
    assert!(d.valid, "{d:?}");
    assert_eq!(
        d.string_to_sign,
        "code=0&msg=success&resTime=1719460801&key=***"
    );
}

#[test]
fn the_secret_is_never_in_the_report() {
    // The secret sits in a field value too (and upper-cased in a 3.0 string).
    let input = body(&format!(r#""nonceStr":"{DAX_KEY}""#), "0000");
    let d = diagnose(&input, DAX_KEY, dax(Version::V3_0, SignType::Md5)).unwrap();
    let text = d.lines().join("\n");
    assert!(!text.contains(DAX_KEY) && !text.contains(&DAX_KEY.to_uppercase()));
    assert_eq!(d.string_to_sign, "NONCESTR=***&KEY=***");
}

#[test]
fn bad_input() {
    let k = "k";
    assert!(matches!(
        diagnose("{nope", k, JEEPAY),
        Err(InputError::NotJson(_))
    ));
    assert_eq!(diagnose("[1]", k, JEEPAY), Err(InputError::NotObject));
    assert_eq!(diagnose(r#"{"a":1}"#, k, JEEPAY), Err(InputError::NoSign));
    assert_eq!(
        diagnose(r#"{"sign":1}"#, k, JEEPAY),
        Err(InputError::SignNotString)
    );
    assert_eq!(
        diagnose(r#"{"sign":""}"#, k, JEEPAY),
        Err(InputError::EmptySign)
    );
    assert_eq!(
        diagnose(r#"{"sign":"x"}"#, "", JEEPAY),
        Err(InputError::EmptyKey)
    );
    let unbindable = format!(r#"{{{CLOSE},"payOrderId":{{"a":1}},"sign":"x"}}"#);
    assert_eq!(
        diagnose(&unbindable, k, JEEPAY),
        Err(InputError::Unbindable("payOrderId".to_owned()))
    );
}
