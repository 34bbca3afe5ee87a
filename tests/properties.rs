//! Property tests of the signing and verification code of both dialects.
//!
//! Jeepay: `sign` / `Signature::matches` over random field maps, and the request path
//! (`Params::read` → `validate` → `verify`) over random close requests, as JSON and as form.
//! DaxPay: `Scheme::sign` / `Scheme::verify` for every version × sign type, the shape of the
//! string to sign, and `read_answer` over signed and tampered answers.
//!
//! Each property runs 256 cases (the `PROPTEST_CASES` environment variable overrides it), so the
//! whole file stays well under ten seconds in a debug build.

use std::borrow::Cow;
use std::str::FromStr;

use paybridge::dialect::daxpay::answer::read_answer;
use paybridge::dialect::daxpay::sign as dsign;
use paybridge::dialect::daxpay::{Answer, Scheme, SignType, Version};
use paybridge::dialect::jeepay::sign as jsign;
use paybridge::dialect::jeepay::Params;
use paybridge::domain::AnswerFault;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Number, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        // Failures are shrunk and printed; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared generators and helpers
// ---------------------------------------------------------------------------------------------

/// Text of any kind: ASCII with the characters that matter to the sign strings (`&`, `=`, `"`,
/// `\`, spaces), CJK, accented and case-special letters (`ß`, `ǅ`, `Σ`), astral characters (which
/// are two UTF-16 units and so sort differently than by code point), and anything printable.
fn text(max: usize) -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '&', '=', '"', '\\', ' ', '%', '+', '中', '文', 'é', 'É', 'ß', 'ǅ', 'Σ', 'σ', 'ς', 'İ',
        'ı', 'ﬀ', '💳', '𝔸', '\u{ff21}',
    ]);
    let one = prop_oneof![
        6 => proptest::char::range(' ', '~'),
        3 => special,
        1 => any::<char>().prop_filter("printable", |c| !c.is_control()),
    ];
    prop::collection::vec(one, 0..=max).prop_map(|chars| chars.into_iter().collect())
}

fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_filter("non-empty", |s| !s.is_empty())
}

/// Field names: real-looking identifiers, names that differ only in case or that sort oddly in
/// Jeepay's whole-entry order (`a`, `a1`, `A`, `B`, `b_c`), and arbitrary non-empty text.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9_]{0,10}",
        2 => prop::sample::select(vec![
            "a", "A", "a1", "A1", "B", "b", "b_c", "key", "KEY", "mchNo", "MchNo", "appId", "中文",
        ])
        .prop_map(str::to_owned),
        1 => non_empty_text(8),
    ]
}

/// Replaces the ASCII alphanumeric character at `at` (modulo their count) with a different digit,
/// or appends a digit when there is none. The result differs from `s` even after removing `"`
/// and `\` and upper-casing, and is never empty.
fn change_one_char(s: &str, at: Index) -> String {
    let positions: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return format!("{s}7");
    }
    let i = positions[at.index(positions.len())];
    let old = s.as_bytes()[i];
    let new = if old.is_ascii_digit() {
        b'0' + (old - b'0' + 1) % 10
    } else {
        b'0'
    };
    let mut out = s.to_owned();
    out.replace_range(i..i + 1, std::str::from_utf8(&[new]).unwrap_or("0"));
    out
}

// ---------------------------------------------------------------------------------------------
// Jeepay: the MD5 signature over field maps
// ---------------------------------------------------------------------------------------------

/// The signature the library computes over `fields`, leaving out what Jeepay leaves out.
fn jeepay_sign(fields: &[(String, String)], secret: &str) -> jsign::Signature {
    let mut signed: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, v)| jsign::signable(k, v))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    jsign::sign(&mut signed, secret)
}

fn jeepay_string(fields: &[(String, String)], secret: &str) -> String {
    let mut signed: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, v)| jsign::signable(k, v))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    jsign::string_to_sign(&mut signed, secret)
}

/// Verification as the server does it: recompute over the received fields, compare.
fn jeepay_verify(fields: &[(String, String)], secret: &str, given: &str) -> bool {
    jeepay_sign(fields, secret).matches(given)
}

/// A field map (unique names, some values empty) in two orders: sorted by name, and shuffled.
type Fields = Vec<(String, String)>;

fn jeepay_map() -> impl Strategy<Value = (Fields, Fields)> {
    let value = prop_oneof![1 => Just(String::new()), 4 => text(16)];
    prop::collection::btree_map(
        field_name().prop_filter("not sign", |k| k != "sign"),
        value,
        0..8,
    )
    .prop_flat_map(|map| {
        let sorted: Vec<(String, String)> = map.into_iter().collect();
        (Just(sorted.clone()), Just(sorted).prop_shuffle())
    })
}

proptest! {
    #![proptest_config(config())]

    /// Signing then verifying the same map (in any order) with the same secret succeeds, in
    /// either hex case; the signature is 32 upper-case hex digits.
    #[test]
    fn jeepay_sign_then_verify((sorted, shuffled) in jeepay_map(), secret in text(24)) {
        let sig = jeepay_sign(&sorted, &secret);
        let s = sig.as_str();
        prop_assert_eq!(s.len(), 32);
        prop_assert!(s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F')));
        prop_assert!(jeepay_verify(&shuffled, &secret, s));
        prop_assert!(jeepay_verify(&shuffled, &secret, &s.to_ascii_lowercase()));
        let suffix = format!("key={secret}");
        prop_assert!(jeepay_string(&shuffled, &secret).ends_with(&suffix));
    }

    /// Changing one signed (non-empty) value to another non-empty value, or to "", breaks it.
    #[test]
    fn jeepay_tampered_value_fails(
        (sorted, shuffled) in jeepay_map(),
        secret in text(24),
        pick in any::<Index>(),
        replacement in prop_oneof![Just(String::new()), non_empty_text(16)],
    ) {
        let signed: Vec<usize> = (0..shuffled.len()).filter(|&i| !shuffled[i].1.is_empty()).collect();
        prop_assume!(!signed.is_empty());
        let sig = jeepay_sign(&sorted, &secret);
        let mut tampered = shuffled.clone();
        let i = signed[pick.index(signed.len())];
        prop_assume!(tampered[i].1 != replacement);
        tampered[i].1 = replacement;
        // Values may hold `&` and `=`: skip the (vanishing) case where the joined string is equal.
        prop_assume!(jeepay_string(&tampered, &secret) != jeepay_string(&shuffled, &secret));
        prop_assert!(!jeepay_verify(&tampered, &secret, sig.as_str()));
    }

    /// Any other secret breaks it.
    #[test]
    fn jeepay_other_secret_fails((sorted, _) in jeepay_map(), secret in text(24), other in text(24)) {
        prop_assume!(secret != other);
        let sig = jeepay_sign(&sorted, &secret);
        prop_assert!(!jeepay_verify(&sorted, &other, sig.as_str()));
    }

    /// Adding a field whose value is "" (or a `sign` field), or removing one whose value is "",
    /// leaves the signature unchanged.
    #[test]
    fn jeepay_empty_fields_are_not_signed(
        (sorted, mut shuffled) in jeepay_map(),
        secret in text(24),
        extra in field_name(),
        sign_value in text(40),
        at in any::<Index>(),
    ) {
        let sig = jeepay_sign(&sorted, &secret);
        prop_assume!(!shuffled.iter().any(|(k, _)| *k == extra));
        let mut added = shuffled.clone();
        added.insert(at.index(added.len() + 1), (extra, String::new()));
        prop_assert_eq!(jeepay_sign(&added, &secret), sig);
        added.push(("sign".to_owned(), sign_value));
        prop_assert_eq!(jeepay_sign(&added, &secret), sig);
        shuffled.retain(|(_, v)| !v.is_empty());
        prop_assert_eq!(jeepay_sign(&shuffled, &secret), sig);
    }
}

// ---------------------------------------------------------------------------------------------
// Jeepay: the close request path, Params::read → validate → verify
// ---------------------------------------------------------------------------------------------

/// The declared fields of the close request other than `sign`; the first five are required.
const DECLARED: [&str; 7] = [
    "version",
    "signType",
    "reqTime",
    "mchNo",
    "appId",
    "mchOrderNo",
    "payOrderId",
];
const REQUIRED: usize = 5;

#[derive(Debug, Clone)]
struct CloseReq {
    /// One value per `DECLARED` name; `None` is absent.
    values: Vec<Option<String>>,
    /// Send a digits-only `reqTime` as a JSON number (it is signed as its text).
    req_time_as_number: bool,
    /// Undeclared fields, ignored by binding and so by verification.
    extras: Vec<(String, Value)>,
    /// Form encoding: whether each field goes into the query string (else the body).
    in_query: Vec<bool>,
}

fn non_blank(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_filter("non-blank", |s| !s.trim().is_empty())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn close_req() -> impl Strategy<Value = CloseReq> {
    let required = prop::collection::vec(non_blank(20), REQUIRED);
    let req_time = prop_oneof!["[1-9][0-9]{12,15}", non_blank(20)];
    let optional = prop::collection::vec(
        prop_oneof![
            Just(None),
            Just(Some(String::new())),
            non_empty_text(20).prop_map(Some)
        ],
        DECLARED.len() - REQUIRED,
    );
    let extras = prop::collection::vec(
        (
            "[a-z_]{1,10}".prop_filter("undeclared", |k| {
                !DECLARED.contains(&k.as_str()) && k != "sign"
            }),
            json_value(),
        ),
        0..4,
    );
    (
        required,
        req_time,
        optional,
        any::<bool>(),
        extras,
        prop::collection::vec(any::<bool>(), DECLARED.len() + 5),
    )
        .prop_map(
            |(required, req_time, optional, as_number, mut extras, in_query)| {
                let mut values: Vec<Option<String>> = required.into_iter().map(Some).collect();
                values[2] = Some(req_time);
                values.extend(optional);
                let mut seen = std::collections::HashSet::new();
                extras.retain(|(k, _)| seen.insert(k.clone()));
                CloseReq {
                    values,
                    req_time_as_number: as_number,
                    extras,
                    in_query,
                }
            },
        )
}

impl CloseReq {
    fn pairs(&self) -> Vec<(String, String)> {
        DECLARED
            .iter()
            .zip(&self.values)
            .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }

    fn signature(&self, secret: &str) -> String {
        jeepay_sign(&self.pairs(), secret).as_str().to_owned()
    }

    fn json(&self, sign: &str, with_extras: bool) -> Vec<u8> {
        let mut object = Map::new();
        for (k, v) in DECLARED.iter().zip(&self.values) {
            let Some(v) = v else { continue };
            let number = (*k == "reqTime" && self.req_time_as_number)
                .then(|| Number::from_str(v).ok())
                .flatten()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()));
            let value = match number {
                Some(n) => Value::Number(n),
                None => Value::String(v.clone()),
            };
            object.insert((*k).to_owned(), value);
        }
        object.insert("sign".to_owned(), Value::String(sign.to_owned()));
        if with_extras {
            for (k, v) in &self.extras {
                object.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_vec(&Value::Object(object)).expect("a JSON object serialises")
    }

    /// (query string, form body).
    fn form(&self, sign: &str, with_extras: bool) -> (String, String) {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut body = form_urlencoded::Serializer::new(String::new());
        let mut all = self.pairs();
        all.push(("sign".to_owned(), sign.to_owned()));
        if with_extras {
            for (k, v) in &self.extras {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                all.push((k.clone(), text));
            }
        }
        for (i, (k, v)) in all.iter().enumerate() {
            if self.in_query[i % self.in_query.len()] {
                query.append_pair(k, v);
            } else {
                body.append_pair(k, v);
            }
        }
        (query.finish(), body.finish())
    }
}

/// The declared fields of Jeepay's close request beyond the common ones.
const CLOSE_FIELDS: &[&str] = &["mchOrderNo", "payOrderId"];

/// The whole request path: read, check required fields, verify.
fn check_json(body: &[u8], secret: &str) -> Result<bool, String> {
    let params =
        Params::read(CLOSE_FIELDS, true, None, body).map_err(|e| format!("read: {e:?}"))?;
    let request = params.validate().map_err(|e| format!("validate: {e:?}"))?;
    Ok(request.verify(secret))
}

fn check_form(query: &str, body: &str, secret: &str) -> Result<bool, String> {
    let params = Params::read(CLOSE_FIELDS, false, Some(query), body.as_bytes())
        .map_err(|e| format!("read: {e:?}"))?;
    let request = params.validate().map_err(|e| format!("validate: {e:?}"))?;
    Ok(request.verify(secret))
}

/// A different value for declared field `i` that keeps a required field non-blank.
fn tamper_declared(req: &CloseReq, i: usize, at: Index, replacement: &str) -> Option<CloseReq> {
    let mut out = req.clone();
    let old = req.values[i].clone().unwrap_or_default();
    let blank = replacement.trim().is_empty();
    let new = if (i < REQUIRED && blank) || (replacement.is_empty() && old.is_empty()) {
        change_one_char(&old, at)
    } else {
        replacement.to_owned()
    };
    if new == old {
        return None;
    }
    out.values[i] = Some(new);
    // Values may hold `&` and `=`: skip the vanishing case where Jeepay's joined string is equal.
    let before = jeepay_string(&req.pairs(), "s");
    let after = jeepay_string(&out.pairs(), "s");
    (before != after).then_some(out)
}

proptest! {
    #![proptest_config(config())]

    /// A correctly signed close request verifies, whether or not undeclared fields ride along,
    /// as JSON and as query + form body, with the signature in either hex case.
    #[test]
    fn jeepay_request_round_trip(req in close_req(), secret in text(24), lower in any::<bool>()) {
        let mut sign = req.signature(&secret);
        if lower {
            sign = sign.to_ascii_lowercase();
        }
        prop_assert_eq!(check_json(&req.json(&sign, false), &secret), Ok(true));
        prop_assert_eq!(check_json(&req.json(&sign, true), &secret), Ok(true));
        let (query, body) = req.form(&sign, false);
        prop_assert_eq!(check_form(&query, &body, &secret), Ok(true));
        let (query, body) = req.form(&sign, true);
        prop_assert_eq!(check_form(&query, &body, &secret), Ok(true));
    }

    /// Tampering any declared field (its value, or the signature) makes verification fail;
    /// undeclared extra fields do not change that.
    #[test]
    fn jeepay_request_tampered_fails(
        req in close_req(),
        secret in text(24),
        field in 0..=DECLARED.len(),
        at in any::<Index>(),
        replacement in text(20),
        with_extras in any::<bool>(),
    ) {
        let sign = req.signature(&secret);
        let (tampered, sign) = if field == DECLARED.len() {
            // The signature itself: one hex digit replaced by a different one.
            (req.clone(), change_one_char(&sign, at))
        } else {
            let tampered = tamper_declared(&req, field, at, &replacement);
            prop_assume!(tampered.is_some());
            (tampered.unwrap_or_else(|| req.clone()), sign)
        };
        prop_assert_eq!(check_json(&tampered.json(&sign, with_extras), &secret), Ok(false));
        let (query, body) = tampered.form(&sign, with_extras);
        prop_assert_eq!(check_form(&query, &body, &secret), Ok(false));
    }

    /// The right request checked with another secret fails.
    #[test]
    fn jeepay_request_other_secret_fails(req in close_req(), secret in text(24), other in text(24)) {
        prop_assume!(secret != other);
        let sign = req.signature(&secret);
        prop_assert_eq!(check_json(&req.json(&sign, true), &other), Ok(false));
    }
}

// ---------------------------------------------------------------------------------------------
// DaxPay: Scheme::sign / Scheme::verify
// ---------------------------------------------------------------------------------------------

/// Every scheme: 3 versions × 3 sign types, and the 3.0.0 `sm3`-is-MD5 quirk.
fn all_schemes() -> Vec<Scheme> {
    let mut out = Vec::new();
    for version in Version::ALL {
        for sign_type in SignType::ALL {
            out.push(Scheme::new(version, sign_type));
            if sign_type == SignType::Sm3 {
                out.push(Scheme {
                    sm3_is_md5: true,
                    ..Scheme::new(version, sign_type)
                });
            }
        }
    }
    out
}

/// `yyyy-MM-dd HH:mm:ss`-looking or epoch-seconds text, and decimals with trailing zeros.
fn decimal() -> impl Strategy<Value = Value> {
    (any::<i32>(), 0usize..6, 0usize..3).prop_map(|(n, scale, zeros)| {
        let digits = format!("{:0>width$}", n.unsigned_abs(), width = scale + 1);
        let (int, frac) = digits.split_at(digits.len() - scale);
        let sign = if n < 0 { "-" } else { "" };
        let text = if scale == 0 && zeros == 0 {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}{}", "0".repeat(zeros))
        };
        Value::Number(Number::from_str(&text).expect("a decimal literal"))
    })
}

fn dax_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text(16).prop_map(Value::String),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => decimal(),
        1 => Just(Value::Null),
    ]
}

fn dax_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(field_name(), dax_value(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

/// The signed fields of `map`, owned, in reverse order (the library sorts them itself).
fn dax_fields(map: &Map<String, Value>) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = dsign::fields_of(map)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_owned()))
        .collect();
    fields.reverse();
    fields
}

fn borrowed(fields: &[(String, String)]) -> Vec<(&str, Cow<'_, str>)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())))
        .collect()
}

fn dax_sign(scheme: &Scheme, fields: &[(String, String)], secret: &str) -> String {
    scheme.sign(&mut borrowed(fields), secret)
}

fn dax_verify(scheme: &Scheme, fields: &[(String, String)], secret: &str, given: &str) -> bool {
    scheme.verify(&mut borrowed(fields), secret, given)
}

proptest! {
    #![proptest_config(config())]

    /// For every scheme, sign then verify round-trips; the signature is lower-case hex of the
    /// digest's length, and the upper-cased signature is refused (DaxPay compares exactly).
    /// Null fields are left out, so adding one changes nothing.
    #[test]
    fn daxpay_sign_then_verify(map in dax_map(), secret in text(24), extra in field_name()) {
        let fields = dax_fields(&map);
        let mut with_null = map.clone();
        with_null.entry(extra).or_insert(Value::Null);
        for scheme in all_schemes() {
            let sig = dax_sign(&scheme, &fields, &secret);
            let len = match scheme.sign_type {
                SignType::Md5 => 32,
                SignType::Sm3 if scheme.sm3_is_md5 => 32,
                SignType::Sm3 | SignType::HmacSha256 => 64,
            };
            prop_assert_eq!(sig.len(), len, "{:?}", scheme);
            prop_assert!(sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            prop_assert!(dax_verify(&scheme, &fields, &secret, &sig), "{:?}", scheme);
            if sig.bytes().any(|b| b.is_ascii_alphabetic()) {
                prop_assert!(!dax_verify(&scheme, &fields, &secret, &sig.to_ascii_uppercase()));
            }
            let null_fields = dax_fields(&with_null);
            prop_assert!(dax_verify(&scheme, &null_fields, &secret, &sig), "{:?}", scheme);
        }
    }

    /// Changing one field value (an alphanumeric character to a different digit, so the change
    /// survives quote/backslash removal and upper-casing), or the secret, breaks verification.
    #[test]
    fn daxpay_tampering_fails(
        map in dax_map(),
        secret in text(24),
        pick in any::<Index>(),
        at in any::<Index>(),
    ) {
        let fields = dax_fields(&map);
        let other_secret = change_one_char(&secret, at);
        for scheme in all_schemes() {
            let sig = dax_sign(&scheme, &fields, &secret);
            prop_assert!(!dax_verify(&scheme, &fields, &other_secret, &sig), "{:?}", scheme);
            if !fields.is_empty() {
                let mut tampered = fields.clone();
                let i = pick.index(tampered.len());
                tampered[i].1 = change_one_char(&tampered[i].1, at);
                prop_assert!(!dax_verify(&scheme, &tampered, &secret, &sig), "{:?}", scheme);
            }
        }
    }

    /// DaxPay's documented quirks: `"` and `\` in values and keys are not signed, and for 3.0
    /// letter case is not signed (the whole string, secret included, is upper-cased) except by
    /// HMAC's key.
    #[test]
    fn daxpay_quotes_and_3_0_case_are_not_signed(
        map in dax_map(),
        secret in text(24),
        pick in any::<Index>(),
        at in any::<Index>(),
        junk in prop::sample::select(vec!["\"", "\\", "\"\\\""]),
    ) {
        let fields = dax_fields(&map);
        prop_assume!(!fields.is_empty());
        let i = pick.index(fields.len());
        let mut quoted = fields.clone();
        let value = &quoted[i].1;
        let cut = value.char_indices().map(|(p, _)| p).chain([value.len()]).nth(at.index(value.chars().count() + 1)).unwrap_or(0);
        quoted[i].1.insert_str(cut, junk);
        let mut cased = fields.clone();
        cased[i].1 = cased[i].1.to_lowercase();
        for scheme in all_schemes() {
            let sig = dax_sign(&scheme, &fields, &secret);
            prop_assert!(dax_verify(&scheme, &quoted, &secret, &sig), "{:?}", scheme);
            if scheme.version == Version::V3_0 {
                // Lower-casing may not be undone by upper-casing (e.g. `İ`): compare the strings.
                let same = dsign::string_to_sign(Version::V3_0, &mut borrowed(&cased), &secret)
                    == dsign::string_to_sign(Version::V3_0, &mut borrowed(&fields), &secret);
                prop_assert_eq!(dax_verify(&scheme, &cased, &secret, &sig), same, "{:?}", scheme);
                if scheme.sign_type != SignType::HmacSha256 {
                    let lower = secret.to_lowercase();
                    if lower.to_uppercase() == secret.to_uppercase() {
                        prop_assert!(dax_verify(&scheme, &fields, &lower, &sig), "{:?}", scheme);
                    }
                }
            }
        }
    }

    /// The string to sign is `payload&key=<secret>`: the payload holds no `"` or `\`, is sorted
    /// `k=v` joined by `&`; for 3.0 the whole string is upper-case (secret included).
    #[test]
    fn daxpay_string_to_sign_shape(map in dax_map(), secret in text(24)) {
        let fields = dax_fields(&map);
        for version in Version::ALL {
            let s = dsign::string_to_sign(version, &mut borrowed(&fields), &secret);
            let payload = dsign::payload(&mut borrowed(&fields));
            let (payload, suffix) = if version == Version::V3_0 {
                (payload.to_uppercase(), format!("&KEY={}", secret.to_uppercase()))
            } else {
                (payload, format!("&key={secret}"))
            };
            prop_assert_eq!(&s, &format!("{payload}{suffix}"));
            prop_assert!(!payload.contains(['"', '\\']), "{:?}", payload);
            if version == Version::V3_0 {
                prop_assert_eq!(&s, &s.to_uppercase());
            }
            // Each field appears as `key=value` (stripped), in Java (UTF-16) key order.
            let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let stripped = |t: &str| t.replace(['"', '\\'], "");
            let expected: Vec<String> = keys
                .iter()
                .map(|k| {
                    let v = &fields.iter().find(|(fk, _)| fk == k).map(|(_, v)| v.clone()).unwrap_or_default();
                    format!("{}={}", stripped(k), stripped(v))
                })
                .collect();
            let expected = expected.join("&");
            let expected = if version == Version::V3_0 { expected.to_uppercase() } else { expected };
            prop_assert_eq!(payload, expected);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DaxPay: read_answer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct AnswerParts {
    code: i64,
    msg: Option<String>,
    /// 3.x: wall-clock text; 2.0: epoch seconds (as a JSON number).
    res_time: Option<String>,
    trace_id: Option<String>,
}

fn answer_parts() -> impl Strategy<Value = AnswerParts> {
    let code = prop_oneof![
        3 => Just(0i64),
        2 => prop::sample::select(vec![1i64, 10506, 20041, 20043, 20044, 20052, 20080]),
        1 => any::<i64>(),
    ];
    (
        code,
        prop::option::of(text(16)),
        any::<bool>(),
        0i64..4_000_000_000,
        prop::option::of("[0-9a-f]{8,32}"),
    )
        .prop_map(|(code, msg, has_time, seconds, trace_id)| AnswerParts {
            code,
            msg,
            res_time: has_time.then(|| seconds.to_string()),
            trace_id,
        })
}

impl AnswerParts {
    fn res_time_value(&self, version: Version) -> Option<Value> {
        let t = self.res_time.as_ref()?;
        Some(match version {
            Version::V2_0 => Value::from(t.parse::<i64>().expect("digits")),
            _ => {
                // A wall-clock time whose digits come from the number.
                let d = format!("{t:0>14}");
                Value::String(format!(
                    "{}-{}-{} {}:{}:{}",
                    &d[0..4],
                    &d[4..6],
                    &d[6..8],
                    &d[8..10],
                    &d[10..12],
                    &d[12..14]
                ))
            }
        })
    }

    /// The fields DaxPay signs: code, msg, resTime (+ traceId and data in 3.x), nulls left out.
    fn signed_fields(&self, version: Version, data: &Value) -> Vec<(String, String)> {
        let mut fields = vec![("code".to_owned(), self.code.to_string())];
        if let Some(m) = &self.msg {
            fields.push(("msg".to_owned(), m.clone()));
        }
        if let Some(t) = self.res_time_value(version) {
            let text = dsign::render(&t).map(Cow::into_owned).unwrap_or_default();
            fields.push(("resTime".to_owned(), text));
        }
        if version != Version::V2_0 {
            if let Some(t) = &self.trace_id {
                fields.push(("traceId".to_owned(), t.clone()));
            }
            if let Some(d) = dsign::render(data) {
                fields.push(("data".to_owned(), d.into_owned()));
            }
        }
        fields
    }

    /// The answer body, `sign` as given (None: absent), `data` (3.x) as given.
    fn body(
        &self,
        version: Version,
        sign: Option<&str>,
        data: &Value,
        envelope_code: i64,
    ) -> Vec<u8> {
        let sign = sign.map_or(Value::Null, |s| Value::String(s.to_owned()));
        let msg = self.msg.clone().map_or(Value::Null, Value::String);
        let res_time = self.res_time_value(version).unwrap_or(Value::Null);
        let trace_id = self.trace_id.clone().map_or(Value::Null, Value::String);
        let value = match version {
            Version::V2_0 => serde_json::json!({
                "msg": "success",
                "code": envelope_code,
                "data": { "code": self.code, "msg": msg, "resTime": res_time, "sign": sign },
                "traceId": trace_id,
            }),
            _ => serde_json::json!({
                "code": self.code,
                "msg": msg,
                "data": data,
                "sign": sign,
                "resTime": res_time,
                "traceId": trace_id,
            }),
        };
        serde_json::to_vec(&value).expect("JSON serialises")
    }
}

#[derive(Debug, Clone)]
enum Tamper {
    Code(i64),
    Msg,
    ResTime,
    /// 3.x only: traceId is signed on the envelope (2.0 signs inside `data`, without it).
    TraceId,
    /// 3.x only: a non-null `data` that was not signed.
    Data,
    Secret,
    SignDigit,
    SignUpperCase,
    SignTruncated,
    SignDropped,
    /// 2.0 only: the (unsigned) envelope says failure.
    EnvelopeCode(i64),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<i64>().prop_map(Tamper::Code),
        Just(Tamper::Msg),
        Just(Tamper::ResTime),
        Just(Tamper::TraceId),
        Just(Tamper::Data),
        Just(Tamper::Secret),
        Just(Tamper::SignDigit),
        Just(Tamper::SignUpperCase),
        Just(Tamper::SignTruncated),
        Just(Tamper::SignDropped),
        any::<i64>().prop_map(Tamper::EnvelopeCode),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// A correctly signed answer is `Done` exactly when its code is 0, else a signed refusal.
    #[test]
    fn daxpay_signed_answer_reads_back(parts in answer_parts(), secret in text(24)) {
        for scheme in all_schemes() {
            let v = scheme.version;
            let sig = dax_sign(&scheme, &parts.signed_fields(v, &Value::Null), &secret);
            let body = parts.body(v, Some(&sig), &Value::Null, 0);
            let got = read_answer(&scheme, &secret, &body);
            if parts.code == 0 {
                let done = matches!(
                    &got,
                    Ok(Answer::Done { trace_id, .. }) if *trace_id == parts.trace_id
                );
                prop_assert!(done, "{:?}: {:?}", scheme, got);
            } else {
                let ok = matches!(
                    &got,
                    Ok(Answer::Refused { code, signed: true, .. }) if *code == parts.code
                );
                prop_assert!(ok, "{:?}: {:?}", scheme, got);
            }
        }
    }

    /// No tampering of a signed answer ever reads as `Done`. Signed-content tampering is a bad
    /// signature; a dropped signature is an unsigned success (refused) or an unsigned error.
    #[test]
    fn daxpay_tampered_answer_is_never_done(
        parts in answer_parts(),
        secret in text(24),
        tamper in tamper(),
        at in any::<Index>(),
    ) {
        for scheme in all_schemes() {
            let v = scheme.version;
            let sig = dax_sign(&scheme, &parts.signed_fields(v, &Value::Null), &secret);
            let mut p = parts.clone();
            let mut sign = Some(sig.clone());
            let mut data = Value::Null;
            let mut envelope_code = 0;
            let mut check_secret = secret.clone();
            match &tamper {
                Tamper::Code(c) => p.code = if *c == p.code { c.wrapping_add(1) } else { *c },
                Tamper::Msg => p.msg = Some(change_one_char(p.msg.as_deref().unwrap_or(""), at)),
                Tamper::ResTime => {
                    p.res_time = Some(change_one_char(p.res_time.as_deref().unwrap_or("1"), at))
                }
                Tamper::TraceId if v != Version::V2_0 => {
                    p.trace_id = Some(change_one_char(p.trace_id.as_deref().unwrap_or(""), at))
                }
                Tamper::Data if v != Version::V2_0 => data = serde_json::json!({ "x": 1 }),
                Tamper::TraceId | Tamper::Data => {
                    p.code = p.code.wrapping_add(1);
                }
                Tamper::Secret => check_secret = change_one_char(&secret, at),
                Tamper::SignDigit => sign = Some(change_one_char(&sig, at)),
                Tamper::SignUpperCase => {
                    prop_assume!(sig.bytes().any(|b| b.is_ascii_alphabetic()));
                    sign = Some(sig.to_ascii_uppercase());
                }
                Tamper::SignTruncated => sign = Some(sig[..sig.len() - 1].to_owned()),
                Tamper::SignDropped => sign = None,
                Tamper::EnvelopeCode(c) if v == Version::V2_0 => {
                    envelope_code = if *c == 0 { 1 } else { *c };
                }
                // 3.x has no separate envelope: the signed code itself changes.
                Tamper::EnvelopeCode(c) => {
                    p.code = if *c == p.code { c.wrapping_add(1) } else { *c };
                }
            }
            let body = p.body(v, sign.as_deref(), &data, envelope_code);
            let got = read_answer(&scheme, &check_secret, &body);
            let done = matches!(got, Ok(Answer::Done { .. }));
            prop_assert!(!done, "{:?} {:?}: {:?}", scheme, tamper, got);
            match &tamper {
                Tamper::SignDropped => {
                    let expected_unsigned = if p.code == 0 {
                        matches!(got, Err(AnswerFault::UnsignedSuccess))
                    } else {
                        matches!(got, Ok(Answer::Refused { signed: false, .. }))
                    };
                    prop_assert!(expected_unsigned, "{:?}: {:?}", scheme, got);
                }
                Tamper::EnvelopeCode(_) if v == Version::V2_0 => {
                    let unsigned = matches!(got, Ok(Answer::Refused { signed: false, .. }));
                    prop_assert!(unsigned, "{:?}: {:?}", scheme, got);
                }
                _ => prop_assert_eq!(&got, &Err(AnswerFault::BadSignature), "{:?}", scheme),
            }
        }
    }
}
