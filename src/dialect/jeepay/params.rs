//! Jeepay's request binding, driven by each operation's declared fields.
//!
//! Jeepay reads a JSON object body when `Content-Type` contains `application/json` (and the method
//! is not GET). Otherwise it reads the query string and a form body
//! (`RequestKitBean.reqParam2JSON`). It binds the parameters to the endpoint's request class
//! with fastjson, so only *declared* fields exist afterwards: the rest is ignored, also by
//! signature verification, which serialises the bound object again (canonical names only,
//! `ApiController.getRQByWithMchSign`). A key binds to a declared field by fastjson's smart
//! matching, case, `_` and `-` aside ([`super::fold`], where the rule and its sources are): `mch_no`
//! *is* `mchNo`. Two keys that bind to one field (`mchNo` and `MCHNO`, or one key twice) are
//! refused as unreadable (code 11): Jeepay would keep one of them, by `HashMap` order, and
//! paybridge never guesses which one a legacy gateway takes. Every declared field is bound as
//! text: a JSON number or boolean is bound as its literal text; an object or array is refused
//! (code 11; fastjson would bind its JSON text, in `HashMap` order). A form key `name[sub]` is an
//! object in Jeepay (`reqParam2JSON`): refused when `name` binds to a declared field, and so is a
//! key whose `[` is never closed (Jeepay's `substring` throws on it). The common fields of
//! `AbstractMchAppRQ` come first, then the operation's own ([`super::ops`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::fold::Fields;
use super::scan;
use super::sign;
use crate::domain::Failure;

/// The fields every Jeepay merchant request declares, with the message of its `@NotBlank`.
const COMMON: [(&str, &str); 6] = [
    ("version", "版本号不能为空"),
    ("signType", "签名类型不能为空"),
    ("sign", "签名值不能为空"),
    ("reqTime", "时间戳不能为空"),
    ("mchNo", "商户号不能为空"),
    ("appId", "商户应用ID不能为空"),
];

const SIGN: usize = 2;

/// Declared fields at most (common + an operation's own). A bit each in [`Params::seen`].
pub const MAX_FIELDS: usize = 24;

/// Blank as Jakarta's `@NotBlank` judges it: nothing left after Java's `String.trim()`, which
/// strips every character up to U+0020 (controls included) and nothing else (not U+3000).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c <= ' ')
}

/// A declared string field: JSON strings as they are, numbers as their literal text, booleans as
/// `true`/`false`. Objects and arrays cannot bind to a string field (code 11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            // With serde_json's `arbitrary_precision`, numbers arrive as a map holding their
            // literal text: bind exactly what the client wrote, as Jackson's text binding does.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let number: serde_json::Number =
                    Deserialize::deserialize(de::value::MapAccessDeserializer::new(&mut map))
                        .map_err(|_| {
                            de::Error::custom("an object cannot bind to a string field")
                        })?;
                Ok(Text(Cow::Owned(number.to_string())))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request's declared fields as bound, before any check.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    /// The operation's own declared fields (after the common ones).
    declared: &'static [&'static str],
    values: [Option<Text<'a>>; MAX_FIELDS],
    /// The fields some key has bound to (also to JSON `null`).
    seen: u32,
}

impl<'a> Params<'a> {
    /// Nothing bound yet.
    fn unbound(declared: &'static [&'static str]) -> Self {
        Params {
            declared: &declared[..declared.len().min(MAX_FIELDS - COMMON.len())],
            values: Default::default(),
            seen: 0,
        }
    }

    /// Reads the parameters the way Jeepay's `getReqParamJSON` does, binding the common fields
    /// and `declared`. `json` is true when the content type says JSON and the method is not GET.
    pub fn read(
        declared: &'static [&'static str],
        json: bool,
        query: Option<&'a str>,
        body: &'a [u8],
    ) -> Result<Self, Failure> {
        let mut params = Params::unbound(declared);
        let mut names = [""; MAX_FIELDS];
        for (i, name) in names.iter_mut().enumerate().take(params.len()) {
            *name = params.name(i);
        }
        let mut fields = Fields::new(&names[..params.len()]);
        if json {
            // serde would bind a JSON array positionally; Jeepay only takes an object. (An empty
            // body is an empty object to Jeepay, refused by whichever of the six `@NotBlank`
            // checks its validator reports first, which is unspecified: code 11 here instead.)
            if body.trim_ascii_start().first() != Some(&b'{') {
                return Err(Failure::Unreadable("body is not a JSON object".to_owned()));
            }
            // The usual body, strings only, bound by a scan; anything else (or a refusal, so
            // that its words are serde's) is bound by serde below, from the start.
            let scanned = scan::plain_object(body, |key, value| match fields.bind(key) {
                Some(i) => params.set(i, Some(Text(Cow::Borrowed(value)))).is_ok(),
                None => true,
            });
            if scanned {
                return Ok(params);
            }
            return Self::bound_by_serde(declared, &mut fields, body);
        }
        if let Some(q) = query {
            params.absorb(&mut fields, q.as_bytes())?;
        }
        params.absorb(&mut fields, body)?;
        Ok(params)
    }

    /// A JSON body bound by serde_json alone, as before the scan (for the tests that compare
    /// the two).
    #[cfg(test)]
    pub(super) fn read_by_serde(
        declared: &'static [&'static str],
        body: &'a [u8],
    ) -> Result<Self, Failure> {
        let unbound = Params::unbound(declared);
        let names: Vec<_> = (0..unbound.len()).map(|i| unbound.name(i)).collect();
        Self::bound_by_serde(declared, &mut Fields::new(&names), body)
    }

    /// Every field's text as bound, and which fields some key bound (for comparisons).
    #[cfg(test)]
    pub(super) fn bound(&self) -> (u32, Vec<Option<&str>>) {
        let values = (0..self.len())
            .map(|i| self.values[i].as_ref().map(Text::as_str))
            .collect();
        (self.seen, values)
    }

    /// A JSON body bound by serde_json (`fields`: the common and `declared` fields' names).
    fn bound_by_serde(
        declared: &'static [&'static str],
        fields: &mut Fields<'_>,
        body: &'a [u8],
    ) -> Result<Self, Failure> {
        let mut params = Params::unbound(declared);
        let mut de = serde_json::Deserializer::from_slice(body);
        de.deserialize_map(Binder {
            params: &mut params,
            fields,
        })
        .and_then(|()| de.end())
        .map_err(|e| Failure::Unreadable(e.to_string()))?;
        Ok(params)
    }

    /// Binds `value` to field `i`, unless a key bound to it already.
    fn set(&mut self, i: usize, value: Option<Text<'a>>) -> Result<(), String> {
        if self.seen & (1 << i) != 0 {
            return Err(format!("two parameters bind to `{}`", self.name(i)));
        }
        self.seen |= 1 << i;
        self.values[i] = value;
        Ok(())
    }

    fn index(&self, name: &str) -> Option<usize> {
        COMMON.iter().position(|(n, _)| *n == name).or_else(|| {
            let i = self.declared.iter().position(|n| *n == name)?;
            Some(COMMON.len() + i)
        })
    }

    fn name(&self, index: usize) -> &'static str {
        match index.checked_sub(COMMON.len()) {
            None => COMMON[index].0,
            Some(i) => self.declared[i],
        }
    }

    fn len(&self) -> usize {
        COMMON.len() + self.declared.len()
    }

    /// Adds `application/x-www-form-urlencoded` pairs (query string or body).
    fn absorb(&mut self, fields: &mut Fields<'_>, encoded: &'a [u8]) -> Result<(), Failure> {
        for (key, value) in form_urlencoded::parse(encoded) {
            if let Some(open) = key.find('[') {
                // `reqParam2JSON`: `name[sub]` puts an object under `name`.
                let closed = key.find(']').is_some_and(|close| close > open);
                if !closed || fields.bind(&key[..open]).is_some() {
                    return Err(Failure::Unreadable(
                        "a bracketed parameter name cannot bind to a declared field".to_owned(),
                    ));
                }
                continue;
            }
            let Some(i) = fields.bind(&key) else { continue };
            self.set(i, Some(Text(value)))
                .map_err(Failure::Unreadable)?;
        }
        Ok(())
    }

    /// A declared field's text, if it was given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index(name)
            .and_then(|i| self.values[i].as_ref())
            .map(Text::as_str)
    }

    /// Jeepay's `@NotBlank` checks of the common fields, in declaration order, with its own
    /// messages. The operation checks its own fields when it reads the request.
    pub fn validate(&self) -> Result<Request<'_, 'a>, Failure> {
        match self.first_blank() {
            Some(refusal) => Err(refusal),
            None => Ok(Request { params: self }),
        }
    }

    /// The merchant identity (`mchNo`, `appId`) is bound and not blank; otherwise the refusal
    /// Jeepay's validation gives such a request (`@NotBlank`: the first blank common field in
    /// declaration order; with several, Jeepay's choice among them is unspecified).
    pub fn identity_refusal(&self) -> Option<Failure> {
        let blank = |name| is_blank(self.get(name).unwrap_or_default());
        if blank("mchNo") || blank("appId") {
            return self.first_blank();
        }
        None
    }

    fn first_blank(&self) -> Option<Failure> {
        COMMON.iter().enumerate().find_map(|(i, (_, words))| {
            let text = self.values[i].as_ref().map_or("", Text::as_str);
            is_blank(text).then_some(Failure::Invalid {
                kind: "required_field",
                words,
            })
        })
    }
}

/// Binds a JSON object's members to the declared fields they fold onto, skipping the rest; two
/// members binding to one field are refused, like any ambiguous signed input.
struct Binder<'p, 'f, 'a> {
    params: &'p mut Params<'a>,
    fields: &'p mut Fields<'f>,
}

impl<'de: 'a, 'a> Visitor<'de> for Binder<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(i) = self.fields.bind(&key.0) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value::<Option<Text<'de>>>()?;
            self.params.set(i, value).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Binder<'_, '_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// An object key, borrowed unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A request whose common fields are present. Absent optional fields read as "".
#[derive(Debug)]
pub struct Request<'p, 'a> {
    params: &'p Params<'a>,
}

impl Request<'_, '_> {
    fn common(&self, i: usize) -> &str {
        self.params.values[i].as_ref().map_or("", Text::as_str)
    }

    pub fn version(&self) -> &str {
        self.common(0)
    }
    pub fn sign_type(&self) -> &str {
        self.common(1)
    }
    pub fn sign(&self) -> &str {
        self.common(SIGN)
    }
    pub fn req_time(&self) -> &str {
        self.common(3)
    }
    pub fn mch_no(&self) -> &str {
        self.common(4)
    }
    pub fn app_id(&self) -> &str {
        self.common(5)
    }

    /// A declared field's text, "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }

    /// Jeepay signs the bound request object: declared fields only, empty ones left out.
    pub fn verify(&self, secret: &str) -> bool {
        let mut fields: [(&str, &str); MAX_FIELDS] = [("", ""); MAX_FIELDS];
        let mut n = 0;
        for i in 0..self.params.len() {
            let value = self.params.values[i].as_ref().map_or("", Text::as_str);
            let name = self.params.name(i);
            if i != SIGN && sign::signable(name, value) {
                fields[n] = (name, value);
                n += 1;
            }
        }
        sign::sign(&mut fields[..n], secret).matches(self.sign())
    }

    /// Only `MD5` exists in this dialect (compared case-insensitively).
    pub fn sign_type_supported(&self) -> bool {
        self.sign_type().eq_ignore_ascii_case("MD5")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSE: &[&str] = &["mchOrderNo", "payOrderId"];

    #[test]
    fn json_numbers_and_booleans_bind_as_text() {
        let p = Params::read(
            CLOSE,
            true,
            None,
            br#"{"reqTime":1622016572190,"version":1.0,"mchNo":true,"x":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(p.get("reqTime"), Some("1622016572190"));
        assert_eq!(p.get("version"), Some("1.0"));
        assert_eq!(p.get("mchNo"), Some("true"));
        assert_eq!(p.get("x"), None);
    }

    #[test]
    fn objects_do_not_bind_to_declared_fields() {
        let err = Params::read(CLOSE, true, None, br#"{"mchNo":{"a":1}}"#).unwrap_err();
        assert!(matches!(err, Failure::Unreadable(_)));
        assert!(Params::read(CLOSE, true, None, b"[1]").is_err());
        assert!(Params::read(CLOSE, true, None, br#"["1.0","MD5"]"#).is_err());
        assert!(Params::read(CLOSE, true, None, b" ").is_err());
        assert!(Params::read(CLOSE, true, None, b"").is_err());
        assert!(Params::read(CLOSE, true, None, br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn renamed_keys_bind_to_their_declared_field() {
        for key in ["mch_no", "MchNo", "MCHNO", "mch-no", "mchno"] {
            let body = format!(r#"{{"{key}":"M1","app_id":"A","PAY_ORDER_ID":"P"}}"#);
            let p = Params::read(CLOSE, true, None, body.as_bytes()).unwrap();
            assert_eq!(p.get("mchNo"), Some("M1"), "{key}");
            assert_eq!(p.get("appId"), Some("A"));
            assert_eq!(p.get("payOrderId"), Some("P"));
            let form = format!("{key}=M1&app-id=A");
            let p = Params::read(CLOSE, false, None, form.as_bytes()).unwrap();
            assert_eq!(p.get("mchNo"), Some("M1"), "{key}");
            let p = Params::read(CLOSE, false, Some(&form), b"").unwrap();
            assert_eq!(p.get("appId"), Some("A"), "{key}");
        }
        // Only the canonical names are looked up afterwards.
        let p = Params::read(CLOSE, true, None, br#"{"mch_no":"M1"}"#).unwrap();
        assert_eq!(p.get("mch_no"), None);
    }

    #[test]
    fn two_keys_binding_to_one_field_are_refused() {
        for body in [
            r#"{"mchNo":"M1","mch_no":"M2"}"#,
            r#"{"MCHNO":"M1","mchNo":"M1"}"#,
            r#"{"mch-no":null,"MchNo":"M2"}"#,
            r#"{"sign":"a","SIGN":"a"}"#,
        ] {
            let err = Params::read(CLOSE, true, None, body.as_bytes()).unwrap_err();
            assert!(matches!(err, Failure::Unreadable(_)), "{body}");
        }
        assert!(Params::read(CLOSE, false, Some("mchNo=M1"), b"MCH_NO=M2").is_err());
        assert!(Params::read(CLOSE, false, None, b"mchNo=M1&mchno=M1").is_err());
    }

    #[test]
    fn bracketed_form_keys_are_objects_in_jeepay() {
        for form in ["mchNo[a]=1", "mch_no[]=1", "x[=1", "x]y[=1"] {
            let err = Params::read(CLOSE, false, None, form.as_bytes()).unwrap_err();
            assert!(matches!(err, Failure::Unreadable(_)), "{form}");
        }
        let p = Params::read(CLOSE, false, None, b"ps[abc]=1&mchNo=M1").unwrap();
        assert_eq!(p.get("mchNo"), Some("M1"));
    }

    #[test]
    fn the_identity_is_refused_as_jeepays_validation_refuses_it() {
        let refusal = |body: &str| {
            Params::read(CLOSE, true, None, body.as_bytes())
                .unwrap()
                .identity_refusal()
        };
        let full = r#""version":"1.0","signType":"MD5","sign":"S","reqTime":"1""#;
        assert!(refusal(&format!(r#"{{{full},"mchNo":"M","appId":"A"}}"#)).is_none());
        // Java's trim strips controls, not U+3000.
        for (identity, words) in [
            (r#""appId":"A""#, "商户号不能为空"),
            (r#""mchNo":" \t\u0001","appId":"A""#, "商户号不能为空"),
            (r#""mchNo":"M""#, "商户应用ID不能为空"),
            (r#""mchNo":"M","appId":null"#, "商户应用ID不能为空"),
        ] {
            let got = refusal(&format!("{{{full},{identity}}}"));
            assert!(
                matches!(got, Some(Failure::Invalid { words: w, .. }) if w == words),
                "{identity}: {got:?}"
            );
        }
        assert!(refusal(&format!(r#"{{{full},"mchNo":"\u3000","appId":"A"}}"#)).is_none());
        // Missing more than the identity: the first in declaration order.
        assert!(matches!(
            refusal(r#"{"appId":"A"}"#),
            Some(Failure::Invalid {
                words: "版本号不能为空",
                ..
            })
        ));
        assert!(refusal(r#"{"mchNo":"M","appId":"A"}"#).is_none());
    }

    #[test]
    fn declared_members_twice_are_refused_undeclared_ones_ignored() {
        assert!(Params::read(CLOSE, true, None, br#"{"appId":"a","appId":"b"}"#).is_err());
        assert!(Params::read(CLOSE, true, None, br#"{"x":1,"x":2,"mchNo":null}"#).is_ok());
        assert!(Params::read(CLOSE, true, None, br#"{"mchNo":null,"mchNo":"b"}"#).is_err());
    }

    #[test]
    fn form_and_query_merge_and_refuse_duplicates() {
        let p = Params::read(CLOSE, false, Some("mchNo=M1&x=1"), b"appId=A%201&sign=s").unwrap();
        assert_eq!(p.get("mchNo"), Some("M1"));
        assert_eq!(p.get("appId"), Some("A 1"));
        assert!(Params::read(CLOSE, false, Some("mchNo=M1"), b"mchNo=M2").is_err());
    }

    #[test]
    fn only_declared_fields_are_signed() {
        let body = br#"{"version":"1.0","signType":"MD5","reqTime":"1","mchNo":"M","appId":"A","mchOrderNo":"O","extra":"x","sign":"S"}"#;
        let params = Params::read(CLOSE, true, None, body).unwrap();
        let req = params.validate().unwrap();
        let mut fields = [
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", "1"),
            ("mchNo", "M"),
            ("appId", "A"),
            ("mchOrderNo", "O"),
        ];
        let expected = sign::sign(&mut fields, "k");
        let body = String::from_utf8_lossy(body).replace("\"S\"", &format!("\"{expected}\""));
        let params2 = Params::read(CLOSE, true, None, body.as_bytes()).unwrap();
        let req2 = params2.validate().unwrap();
        assert!(req2.verify("k"));
        assert!(!req.verify("k"));
    }

    #[test]
    fn the_common_fields_are_required_in_order() {
        let err = Params::read(CLOSE, true, None, br#"{"version":" "}"#)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            Failure::Invalid {
                words: "版本号不能为空",
                ..
            }
        ));
    }
}
