//! W3C Trace Context (`traceparent`): the caller's trace continues through paybridge into
//! DaxPay; paybridge's own call gets a new parent id. Without a valid caller trace a new one
//! starts, so DaxPay's logs can still be joined with paybridge's.

use http::{HeaderMap, HeaderName, HeaderValue};

pub const TRACEPARENT: &str = "traceparent";

/// [`TRACEPARENT`] as a header name (a `&str` name is parsed again on every lookup).
static TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`: 55 bytes.
const LEN: usize = 55;
const TRACE: std::ops::Range<usize> = 3..35;
const PARENT: std::ops::Range<usize> = 36..52;
const FLAGS: std::ops::Range<usize> = 53..55;

/// The `traceparent` to send upstream for a request carrying `headers`.
///
/// Built on the stack; the header value is its only allocation, and one that later clones of it
/// (the upstream call, its retries) share rather than copy.
pub fn child_of(headers: &HeaderMap) -> HeaderValue {
    let mut out: [u8; LEN] = *b"00-00000000000000000000000000000000-0000000000000000-01";
    let inbound = headers
        .get(&TRACEPARENT_NAME)
        .and_then(|v| v.to_str().ok())
        .and_then(parse);
    match inbound {
        Some((trace, flags)) => {
            out[TRACE].copy_from_slice(trace);
            out[FLAGS].copy_from_slice(flags);
        }
        None => write_random_hex::<16>(&mut out[TRACE]),
    }
    write_random_hex::<8>(&mut out[PARENT]);
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(out)).unwrap_or_else(|_| {
        HeaderValue::from_static("00-00000000000000000000000000000001-0000000000000001-00")
    })
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero: the trace id and
/// the flags.
fn parse(value: &str) -> Option<(&[u8; 32], &[u8; 2])> {
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
    if !valid {
        return None;
    }
    Some((
        trace.as_bytes().try_into().ok()?,
        flags.as_bytes().try_into().ok()?,
    ))
}

/// `N` random bytes as `2 * N` lower-case hex digits into `out`, never all zero.
fn write_random_hex<const N: usize>(out: &mut [u8]) {
    let mut bytes = [0u8; N];
    crate::random::fill(&mut bytes);
    if bytes.iter().all(|b| *b == 0) {
        bytes[N - 1] = 1;
    }
    // `out` is always 2 * N long (see the callers), so this does not fail.
    let _ = hex::encode_to_slice(bytes, out);
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

    #[test]
    fn a_new_trace_is_well_formed_sampled_and_fresh_each_time() {
        let a = child_of(&HeaderMap::new());
        let b = child_of(&HeaderMap::new());
        for v in [&a, &b] {
            let v = v.to_str().unwrap();
            assert_eq!(v.len(), LEN);
            assert!(parse(v).is_some(), "{v}");
            assert!(v.starts_with("00-") && v.ends_with("-01"), "{v}");
        }
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_ne!(a[TRACE], b[TRACE]);
        assert_ne!(a[PARENT], b[PARENT]);
    }

    #[test]
    fn the_callers_flags_are_kept_and_each_call_gets_its_own_parent() {
        let mut h = HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 "),
        );
        let (a, b) = (child_of(&h), child_of(&h));
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        for v in [a, b] {
            assert!(v.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{v}");
            assert!(v.ends_with("-00"), "{v}");
            assert!(parse(v).is_some(), "{v}");
        }
        assert_ne!(a[PARENT], b[PARENT]);
    }

    #[test]
    fn malformed_caller_traces_are_not_continued() {
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            let mut h = HeaderMap::new();
            h.insert(TRACEPARENT, HeaderValue::from_static(bad));
            let out = child_of(&h);
            let out = out.to_str().unwrap();
            assert!(!out.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{bad}");
            assert!(parse(out).is_some() && out.ends_with("-01"), "{bad}");
        }
    }
}
