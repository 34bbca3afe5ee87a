//! W3C Trace Context (`traceparent`): the caller's trace continues through paybridge into
//! DaxPay; paybridge's own call gets a new parent id. Without a valid caller trace a new one
//! starts, so DaxPay's logs can still be joined with paybridge's.

use http::{HeaderMap, HeaderValue};

pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` to send upstream for a request carrying `headers`.
pub fn child_of(headers: &HeaderMap) -> HeaderValue {
    let inbound = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse);
    let (trace_id, flags) = match inbound {
        Some((trace, flags)) => (trace.to_owned(), flags.to_owned()),
        None => (random_hex::<16>(), "01".to_owned()),
    };
    let value = format!("00-{trace_id}-{}-{flags}", random_hex::<8>());
    HeaderValue::from_str(&value).unwrap_or_else(|_| {
        HeaderValue::from_static("00-00000000000000000000000000000001-0000000000000001-00")
    })
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
fn parse(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then_some((trace, flags))
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() || bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_caller_trace_continues_with_a_new_parent() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let out = child_of(&h);
        let out = out.to_str().unwrap();
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(out.ends_with("-01"));
        assert!(!out.contains("00f067aa0ba902b7"));
    }

    #[test]
    fn an_invalid_or_missing_trace_starts_a_new_one() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        );
        let out = child_of(&h);
        assert!(parse(out.to_str().unwrap()).is_some());
        assert!(!out
            .to_str()
            .unwrap()
            .contains("-00000000000000000000000000000000-"));
        assert!(parse(child_of(&HeaderMap::new()).to_str().unwrap()).is_some());
    }
}
