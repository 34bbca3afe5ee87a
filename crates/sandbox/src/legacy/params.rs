//! Jeepay's reading and binding of a close request, written independently of the proxy's own
//! reader (`dialect::jeepay::wire`): a misreading shared by both would pass every test.
//!
//! Jeepay's `RequestKitBean.reqParam2JSON` reads either a JSON object body or the servlet
//! parameters (query string and form body) into a JSON object; `getRQ` then binds that object to
//! the endpoint's request class (`ClosePayOrderRQ`), so only *declared* fields exist afterwards,
//! each a `String`; bean validation checks the `@NotBlank` ones.

use std::borrow::Cow;

use http::Method;
use serde_json::Value;

/// The declared fields of `ClosePayOrderRQ`, as bound text. `None` is Java's `null`: absent,
/// JSON `null`, or (for the form path) never sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Params {
    pub version: Option<String>,
    pub sign_type: Option<String>,
    pub sign: Option<String>,
    pub req_time: Option<String>,
    pub mch_no: Option<String>,
    pub app_id: Option<String>,
    pub mch_order_no: Option<String>,
    pub pay_order_id: Option<String>,
    /// The endpoint's other declared fields (`String` or numbers bound as their text), in
    /// declaration order; `None` as above.
    pub extra: Vec<(&'static str, Option<String>)>,
}

/// Jeepay's code 11 `参数有误[转换异常]`: the parameters cannot be read or bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameters cannot be converted: {0}")]
pub(super) struct Unconvertible(pub Cow<'static, str>);

/// A value before binding: text, or something a `String` field cannot take.
enum Raw {
    Text(String),
    /// A JSON object or array, or a form key like `mchNo[x]` (Jeepay builds an object from it).
    Nested,
}

/// The request after Jeepay's `@NotBlank` checks: required fields are present and not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CloseRq {
    pub version: String,
    pub sign_type: String,
    pub sign: String,
    pub req_time: String,
    pub mch_no: String,
    pub app_id: String,
    pub mch_order_no: Option<String>,
    pub pay_order_id: Option<String>,
    pub extra: Vec<(&'static str, Option<String>)>,
}

impl Params {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "version" => &mut self.version,
            "signType" => &mut self.sign_type,
            "sign" => &mut self.sign,
            "reqTime" => &mut self.req_time,
            "mchNo" => &mut self.mch_no,
            "appId" => &mut self.app_id,
            "mchOrderNo" => &mut self.mch_order_no,
            "payOrderId" => &mut self.pay_order_id,
            _ => {
                return self
                    .extra
                    .iter_mut()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v)
            }
        })
    }

    /// Binds one raw value to its declared field; undeclared names are dropped, as the bean
    /// binding drops them.
    fn bind(&mut self, name: &str, raw: Option<Raw>) -> Result<(), Unconvertible> {
        let Some(slot) = self.slot(name) else {
            return Ok(());
        };
        *slot = match raw {
            None => None,
            Some(Raw::Text(text)) => Some(text),
            Some(Raw::Nested) => {
                return Err(Unconvertible(
                    format!("declared field `{name}` is an object or array").into(),
                ))
            }
        };
        Ok(())
    }

    /// Reads the parameters as `reqParam2JSON` does, then binds them.
    ///
    /// - JSON when `Content-Type` contains `application/json` (lower-cased) and the method is not
    ///   GET. The body is decoded as UTF-8 (malformed bytes replaced), its line breaks removed
    ///   (Jeepay joins `BufferedReader.lines()` with ""), an empty result is an empty object, and
    ///   anything but a JSON object is unconvertible.
    /// - Otherwise the servlet parameters: the query string, then an
    ///   `application/x-www-form-urlencoded` body for POST (Tomcat) and PUT/PATCH/DELETE (Spring's
    ///   form content filter). A repeated parameter binds its last value (what Jeepay's joining
    ///   loop leaves).
    #[cfg(test)]
    pub(super) fn read(
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Params, Unconvertible> {
        Params::read_declaring(method, content_type, query, body, &[])
    }

    /// [`Params::read`] for a request class that declares `extra` fields beyond close's.
    pub(super) fn read_declaring(
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
        extra: &[&'static str],
    ) -> Result<Params, Unconvertible> {
        let mut params = Params {
            extra: extra.iter().map(|k| (*k, None)).collect(),
            ..Params::default()
        };
        let json = content_type.is_some_and(|ct| contains_ignore_case(ct, b"application/json"))
            && !method.as_str().eq_ignore_ascii_case("GET");
        if json {
            let text = String::from_utf8_lossy(body);
            let joined: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            if joined.is_empty() {
                return Ok(params);
            }
            let value: Value = serde_json::from_str(&joined)
                .map_err(|e| Unconvertible(format!("not JSON: {e}").into()))?;
            let Value::Object(object) = value else {
                return Err(Unconvertible("not a JSON object".into()));
            };
            for (name, value) in &object {
                params.bind(name, json_raw(value))?;
            }
            return Ok(params);
        }
        if let Some(query) = query {
            params.absorb_form(query.as_bytes())?;
        }
        if form_body(method, content_type) {
            params.absorb_form(body)?;
        }
        Ok(params)
    }

    fn absorb_form(&mut self, encoded: &[u8]) -> Result<(), Unconvertible> {
        for (name, value) in form_urlencoded::parse(encoded) {
            match name.find('[') {
                // `ps[abc]=1` becomes `{"ps":{"abc":"1"}}` in Jeepay.
                Some(at) => self.bind(&name[..at], Some(Raw::Nested))?,
                None => self.bind(&name, Some(Raw::Text(value.into_owned())))?,
            }
        }
        Ok(())
    }

    /// Jeepay's `@NotBlank` checks with its own messages, in the order of jeepay.md.
    pub(super) fn require(self) -> Result<CloseRq, &'static str> {
        fn required(value: Option<String>, message: &'static str) -> Result<String, &'static str> {
            match value {
                Some(v) if !java_blank(&v) => Ok(v),
                _ => Err(message),
            }
        }
        Ok(CloseRq {
            version: required(self.version, "版本号不能为空")?,
            sign_type: required(self.sign_type, "签名类型不能为空")?,
            sign: required(self.sign, "签名值不能为空")?,
            req_time: required(self.req_time, "时间戳不能为空")?,
            mch_no: required(self.mch_no, "商户号不能为空")?,
            app_id: required(self.app_id, "商户应用ID不能为空")?,
            mch_order_no: self.mch_order_no,
            pay_order_id: self.pay_order_id,
            extra: self.extra,
        })
    }
}

impl CloseRq {
    /// An extra declared field's value, if bound.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// What Jeepay signs: the bound object's non-null fields but `sign`, empty strings dropped
    /// (whitespace-only values stay).
    pub(super) fn signed_fields(&self) -> Vec<(&'static str, &str)> {
        let fields = [
            ("version", Some(self.version.as_str())),
            ("signType", Some(self.sign_type.as_str())),
            ("reqTime", Some(self.req_time.as_str())),
            ("mchNo", Some(self.mch_no.as_str())),
            ("appId", Some(self.app_id.as_str())),
            ("mchOrderNo", self.mch_order_no.as_deref()),
            ("payOrderId", self.pay_order_id.as_deref()),
        ];
        let extra = self.extra.iter().map(|(k, v)| (*k, v.as_deref()));
        fields
            .into_iter()
            .chain(extra)
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
            .collect()
    }
}

/// A JSON value as bound to a `String` field: numbers as the literal text the client wrote,
/// booleans as `true`/`false`; objects and arrays cannot bind.
fn json_raw(value: &Value) -> Option<Raw> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Raw::Text(s.clone())),
        Value::Bool(b) => Some(Raw::Text(b.to_string())),
        Value::Number(n) => Some(Raw::Text(n.to_string())),
        Value::Object(_) | Value::Array(_) => Some(Raw::Nested),
    }
}

/// Whether the servlet container reads the body as form parameters.
fn form_body(method: &Method, content_type: Option<&[u8]>) -> bool {
    let method_reads_body = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
        .iter()
        .any(|m| m == method);
    let Some(content_type) = content_type else {
        return false;
    };
    let mime = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    method_reads_body && mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Hibernate's `@NotBlank`: blank when Java's `trim()` leaves nothing, i.e. every character is at
/// most U+0020 (control characters count, U+3000 does not).
fn java_blank(value: &str) -> bool {
    value.chars().all(|c| c <= ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");

    #[test]
    fn json_numbers_and_booleans_bind_as_written() {
        let body =
            br#"{"reqTime":1622016572190,"version":1.50,"sign":true,"mchNo":null,"x":{"y":1}}"#;
        let p = Params::read(&Method::POST, JSON, None, body).expect("binds");
        assert_eq!(p.req_time.as_deref(), Some("1622016572190"));
        assert_eq!(p.version.as_deref(), Some("1.50"));
        assert_eq!(p.sign.as_deref(), Some("true"));
        assert_eq!(p.mch_no, None);
    }

    #[test]
    fn json_line_breaks_are_removed_before_parsing() {
        let body = b"{\"mchNo\":\"M\r\n1\",\n\"appId\":\"A1\"}";
        let p = Params::read(&Method::POST, JSON, None, body).expect("binds");
        assert_eq!(p.mch_no.as_deref(), Some("M1"));
        let p = Params::read(&Method::POST, JSON, None, b"\r\n").expect("empty is {}");
        assert_eq!(p, Params::default());
    }

    #[test]
    fn non_objects_and_nested_declared_fields_are_unconvertible() {
        for body in [
            &b"[1]"[..],
            b"\"x\"",
            b"null",
            b"{",
            b" ",
            br#"{"mchNo":{"a":1}}"#,
        ] {
            assert!(
                Params::read(&Method::POST, JSON, None, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let form = Some(&b"application/x-www-form-urlencoded"[..]);
        assert!(Params::read(&Method::POST, form, None, b"mchNo[a]=1").is_err());
        assert!(Params::read(&Method::POST, form, None, b"other[a]=1").is_ok());
    }

    #[test]
    fn get_with_a_json_content_type_reads_the_query_string() {
        let p = Params::read(&Method::GET, JSON, Some("mchNo=M1&appId=A%201"), b"{}").expect("ok");
        assert_eq!(p.mch_no.as_deref(), Some("M1"));
        assert_eq!(p.app_id.as_deref(), Some("A 1"));
    }

    #[test]
    fn form_bodies_are_read_for_body_methods_and_the_form_type_only() {
        let form = Some(&b"Application/X-WWW-Form-Urlencoded; charset=UTF-8"[..]);
        let p = Params::read(
            &Method::PUT,
            form,
            Some("mchNo=Q&mchNo=Q2"),
            b"appId=A1&mchNo=B",
        )
        .expect("ok");
        assert_eq!(p.mch_no.as_deref(), Some("B"));
        assert_eq!(p.app_id.as_deref(), Some("A1"));
        let p = Params::read(&Method::GET, form, None, b"appId=A1").expect("ok");
        assert_eq!(p.app_id, None);
        let p = Params::read(&Method::POST, Some(b"text/plain"), None, b"appId=A1").expect("ok");
        assert_eq!(p.app_id, None);
        let p = Params::read(&Method::POST, None, Some("mchNo=Q&mchNo=Q2"), b"").expect("ok");
        assert_eq!(p.mch_no.as_deref(), Some("Q2"));
    }

    #[test]
    fn blank_is_java_trim_blank() {
        assert!(java_blank(""));
        assert!(java_blank(" \t\u{1}"));
        assert!(!java_blank("\u{3000}"));
        assert!(!java_blank(" a "));
    }
}
