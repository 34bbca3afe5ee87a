//! epay's parameters as the gateway sees them: a form body or query string decoded as PHP fills
//! `$_GET` / `$_POST` (epay.md §2), or a JSON answer's top-level fields as PHP's `json_decode`
//! gives them to a merchant's SDK. The signature is computed over these decoded values.

use serde_json::{Map, Value};

/// Input that is not a flat set of epay parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// A JSON value that is an object or an array.
    #[error("field `{0}` is a JSON object or array: epay signs only plain values")]
    Nested(String),
}

/// A pasted text, as an operator gives it to `paybridge sign` / `verify` and the diagnosis: a
/// whole URL (or a leading `?`) is skipped to its query string, then read as [`from_wire`].
/// Never for a request: there a literal `?` is part of a value (PHP splits on `&` only).
pub fn from_form(text: &str) -> Result<Vec<(String, String)>, ParamsError> {
    let text = text.trim_end_matches(['\r', '\n']);
    let query = match text.split_once('?') {
        Some((_, query)) => query,
        None => text,
    };
    from_wire(query)
}

/// Decodes `a=1&b=2` as PHP does (a request's query string or form body, epay.md §2): split on
/// `&`, the first `=` separates name and value, `+` and `%XX` decoded in both, a pair without
/// `=` has the value `""`, the last of repeated names wins, `.` and space in names become `_`.
/// A `?` is an ordinary character (`notify_url=http://h/n?a=1` unencoded is that URL).
///
/// `a[]=…` / `a[k]=…` make PHP an array under `a`, which build 3094 leaves out of the signed
/// string (`isEmpty`) and then carries on: such a parameter is left out here (it replaces an
/// earlier plain `a`, as in PHP), so it is neither signed nor read, and the request goes on
/// as the gateway's does (a field the endpoint needs then reads as absent).
pub fn from_wire(query: &str) -> Result<Vec<(String, String)>, ParamsError> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name.is_empty() {
            continue; // PHP skips a pair without a name
        }
        if let Some((base, _)) = name.split_once('[') {
            let base = base.replace(['.', ' '], "_");
            params.retain(|(n, _)| *n != base);
            continue;
        }
        let name = name.replace(['.', ' '], "_");
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value.into_owned(),
            None => params.push((name, value.into_owned())),
        }
    }
    Ok(params)
}

/// A JSON object's fields as PHP strings: strings raw, numbers as written, `true` as `1` and
/// `false` as `""` (PHP's string conversion); `null` left out (epay drops it from the string).
pub fn from_json(object: &Map<String, Value>) -> Result<Vec<(String, String)>, ParamsError> {
    let mut params = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(true) => "1".to_owned(),
            Value::Bool(false) => String::new(),
            Value::Number(n) => n.to_string(),
            Value::Object(_) | Value::Array(_) => return Err(ParamsError::Nested(name.clone())),
        };
        params.push((name.clone(), text));
    }
    Ok(params)
}

/// Borrowed pairs, as the signing functions take them.
pub fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decodes_as_php() {
        let params = from_form("a=1&name=A%26B%3DC%2BD+E&b&a=2&x.y=3&=skip").unwrap();
        assert_eq!(
            params,
            [
                ("a".to_owned(), "2".to_owned()),
                ("name".to_owned(), "A&B=C+D E".to_owned()),
                ("b".to_owned(), String::new()),
                ("x_y".to_owned(), "3".to_owned()),
            ]
        );
        assert_eq!(
            from_form("https://shop.example/n.php?pid=1\n").unwrap(),
            [("pid".to_owned(), "1".to_owned())]
        );
        // Arrays are left out (G3094 signs none), replacing an earlier plain value.
        assert_eq!(
            from_form("a=1&a[]=1&b[k]=2&c=3").unwrap(),
            [("c".to_owned(), "3".to_owned())]
        );
        assert_eq!(
            from_form("a[]=1&a=2").unwrap(),
            [("a".to_owned(), "2".to_owned())]
        );
    }

    #[test]
    fn a_request_keeps_a_literal_question_mark_in_its_values() {
        let body = "pid=1001&notify_url=http://h/n?a=1&return_url=http://h/r.php?id=1&name=x";
        assert_eq!(
            from_wire(body).unwrap(),
            [
                ("pid".to_owned(), "1001".to_owned()),
                ("notify_url".to_owned(), "http://h/n?a=1".to_owned()),
                ("return_url".to_owned(), "http://h/r.php?id=1".to_owned()),
                ("name".to_owned(), "x".to_owned()),
            ]
        );
    }

    #[test]
    fn json_values_as_php_strings() {
        let object: Map<String, Value> =
            serde_json::from_str(r#"{"code":0,"ok":true,"no":false,"n":null,"s":"x"}"#).unwrap();
        let params = from_json(&object).unwrap();
        assert_eq!(
            borrowed(&params),
            [("code", "0"), ("ok", "1"), ("no", ""), ("s", "x")]
        );
        let nested: Map<String, Value> = serde_json::from_str(r#"{"a":{"b":1}}"#).unwrap();
        assert_eq!(
            from_json(&nested).unwrap_err(),
            ParamsError::Nested("a".to_owned())
        );
    }
}
