//! epay's parameters as the gateway sees them: a form body or query string decoded as PHP fills
//! `$_GET` / `$_POST` (epay.md §2), or a JSON answer's top-level fields as PHP's `json_decode`
//! gives them to a merchant's SDK. The signature is computed over these decoded values.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Input that is not a flat set of epay parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// A JSON value that is an object or an array.
    #[error("field `{0}` is a JSON object or array: epay signs only plain values")]
    Nested(String),
}

/// Which of PHP's maps a text fills: `$_GET` (a query string) or `$_POST` (a form body). They
/// count parameters against `max_input_vars` differently ([`from_wire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Query,
    Body,
}

/// PHP's `max_input_vars` as shipped (epay.md §2): how many parameters the gateway reads.
pub const MAX_INPUT_VARS: usize = 1000;

/// A pasted text, as an operator gives it to `paybridge sign` / `verify` and the diagnosis: a
/// whole URL (or a leading `?`) is skipped to its query string, then read as [`from_wire`]
/// reads a query string. Never for a request: there a literal `?` is part of a value (PHP
/// splits on `&` only).
pub fn from_form(text: &str) -> Result<Vec<(String, String)>, ParamsError> {
    let text = text.trim_end_matches(['\r', '\n']);
    let query = match text.split_once('?') {
        Some((_, query)) => query,
        None => text,
    };
    from_wire(query, Source::Query)
}

/// Decodes `a=1&b=2` as PHP does (a request's query string or form body, epay.md §2): split on
/// `&`, the first `=` separates name and value, `+` and `%XX` decoded in both, a pair without
/// `=` has the value `""`, the last of repeated names wins (in the first one's place), `.` and
/// space in names become `_`. A `?` is an ordinary character (`notify_url=http://h/n?a=1`
/// unencoded is that URL).
///
/// `a[]=…` / `a[k]=…` make PHP an array under `a`, which build 3094 leaves out of the signed
/// string (`isEmpty`) and then carries on: such a parameter is left out here (it replaces an
/// earlier plain `a`, as in PHP), so it is neither signed nor read, and the request goes on
/// as the gateway's does (a field the endpoint needs then reads as absent).
///
/// PHP stops at `max_input_vars` ([`MAX_INPUT_VARS`]), warns, and goes on with what it has read,
/// and so does this, in one pass with a map (a body of 10^4 names costs 10^4 steps, not 10^8
/// compares before the signature is checked). Every `&`-separated piece counts, named or not,
/// repeated or not: `$_GET` (`php_default_treat_data`, `strtok`) skips empty pieces and keeps the
/// first 1000 others; `$_POST` (`add_post_vars`, PHP 5.6 on) counts empty pieces too (not one
/// after a final `&`) and registers a piece before counting it, so it keeps the first 1001.
pub fn from_wire(text: &str, source: Source) -> Result<Vec<(String, String)>, ParamsError> {
    let kept = match source {
        Source::Query => MAX_INPUT_VARS,
        Source::Body => MAX_INPUT_VARS + 1,
    };
    let mut params = Params::default();
    let mut counted = 0;
    let mut pieces = text.split('&').peekable();
    while let Some(piece) = pieces.next() {
        if piece.is_empty() && (source == Source::Query || pieces.peek().is_none()) {
            continue;
        }
        if counted == kept {
            tracing::warn!(
                kept,
                "epay parameters past PHP's max_input_vars left out, as the gateway leaves them"
            );
            break;
        }
        counted += 1;
        params.add(piece);
    }
    Ok(params.into_pairs())
}

/// PHP's array of parameters: each name once, in the place it first took, in one pass.
#[derive(Default)]
struct Params {
    /// Name and value; `None`: an array (left out).
    slots: Vec<(String, Option<String>)>,
    /// Where each name's slot is.
    index: HashMap<String, usize>,
}

impl Params {
    /// One `&`-separated piece; an empty one or one without a name sets nothing (PHP skips it).
    fn add(&mut self, piece: &str) {
        let Some((name, value)) = form_urlencoded::parse(piece.as_bytes()).next() else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let (name, value) = match name.split_once('[') {
            Some((base, _)) => (base.replace(['.', ' '], "_"), None),
            None => (name.replace(['.', ' '], "_"), Some(value.into_owned())),
        };
        match self.index.get(&name) {
            Some(&at) => self.slots[at].1 = value,
            None => {
                self.index.insert(name.clone(), self.slots.len());
                self.slots.push((name, value));
            }
        }
    }

    fn into_pairs(self) -> Vec<(String, String)> {
        self.slots
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
    }
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

    /// `n` pieces `nI=v`, then `tail`.
    fn names(n: usize, tail: &str) -> String {
        let mut text: Vec<String> = (0..n).map(|i| format!("n{i}=v")).collect();
        text.push(tail.to_owned());
        text.join("&")
    }

    fn has(params: &[(String, String)], name: &str) -> bool {
        params.iter().any(|(n, _)| n == name)
    }

    #[test]
    fn a_query_string_keeps_its_first_1000_pieces_as_php_does() {
        let at_cap = from_wire(&names(999, "last=1"), Source::Query).unwrap();
        assert_eq!(at_cap.len(), 1000);
        assert!(has(&at_cap, "last"));
        let over = from_wire(&names(1000, "last=1"), Source::Query).unwrap();
        assert_eq!(over.len(), 1000);
        assert!(!has(&over, "last"));
        // `strtok` skips empty pieces: they do not count.
        let empties = format!("&&{}", names(999, "last=1").replace('&', "&&&"));
        assert!(has(&from_wire(&empties, Source::Query).unwrap(), "last"));
        // Repeats and nameless pieces count, though they add nothing.
        let repeats = format!("{}&last=1", vec!["a=1"; 1000].join("&"));
        assert!(!has(&from_wire(&repeats, Source::Query).unwrap(), "last"));
        let nameless = format!("{}&last=1", vec!["=1"; 1000].join("&"));
        assert!(!has(&from_wire(&nameless, Source::Query).unwrap(), "last"));
    }

    #[test]
    fn a_form_body_keeps_its_first_1001_pieces_as_php_does() {
        // `add_post_vars` registers a piece, then counts it: the 1001st is in.
        let at_cap = from_wire(&names(1000, "last=1"), Source::Body).unwrap();
        assert_eq!(at_cap.len(), 1001);
        assert!(has(&at_cap, "last"));
        let over = from_wire(&names(1001, "last=1"), Source::Body).unwrap();
        assert_eq!(over.len(), 1001);
        assert!(!has(&over, "last"));
        // Empty pieces count in a body, but not the one after a final `&`.
        let empties = format!("{}last=1&", "&".repeat(1000));
        assert_eq!(
            from_wire(&empties, Source::Body).unwrap(),
            [("last".to_owned(), "1".to_owned())]
        );
        let one_more = format!("{}last=1", "&".repeat(1001));
        assert!(from_wire(&one_more, Source::Body).unwrap().is_empty());
    }

    #[test]
    fn ten_thousand_names_are_read_as_php_reads_them() {
        for (source, kept) in [(Source::Query, 1000), (Source::Body, 1001)] {
            let params = from_wire(&names(10_000, "pid=1001"), source).unwrap();
            assert_eq!(params.len(), kept);
            assert_eq!(params[0], ("n0".to_owned(), "v".to_owned()));
            assert!(!has(&params, "pid"));
        }
    }

    #[test]
    fn a_repeated_name_keeps_its_first_place_and_its_last_value() {
        let params = from_wire("a=1&b=2&a=3&c[]=4&b[k]=5&c=6", Source::Body).unwrap();
        assert_eq!(
            params,
            [
                ("a".to_owned(), "3".to_owned()),
                ("c".to_owned(), "6".to_owned()),
            ]
        );
    }

    #[test]
    fn a_request_keeps_a_literal_question_mark_in_its_values() {
        let body = "pid=1001&notify_url=http://h/n?a=1&return_url=http://h/r.php?id=1&name=x";
        assert_eq!(
            from_wire(body, Source::Body).unwrap(),
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
