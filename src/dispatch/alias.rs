//! Path aliases: what Jeepay's servlet stack makes of a raw request path, so that paybridge
//! names the operation Jeepay's handler would run and never forwards an alias of it raw.
//!
//! Jeepay's payment gateway (`jeepay-payment`) is a Spring Boot application on embedded Tomcat
//! (`spring-boot-starter-web`, no container swapped in, no Spring Security, no path-matching
//! settings, context path `/`). Two lines are deployed:
//!
//! * Jeepay 1.x and 2.x: Spring Boot 2.4.5 / 2.4.8 (`pom.xml`, tags v1.2.0 to v2.4.0), so Spring
//!   Framework 5.3 with `AntPathMatcher` (Boot 2.4's default strategy), on Tomcat 9.0;
//! * Jeepay 3.x: Spring Boot 3.3.7 (`pom.xml`, tag v3.0.0 and later), so Spring Framework 6.1
//!   with `PathPatternParser` (Boot 3's default), on Tomcat 10.1.
//!
//! Each handler is mapped to one literal path (`@RequestMapping("/api/pay/close")`,
//! `@PostMapping("/api/refund/refundOrder")`, … in `jeepay-payment/.../ctrl`).
//!
//! What happens to the raw path, in order (sources read at Tomcat 9.0.46 / 10.1.34 and Spring
//! 5.3.8 / 6.1.16):
//!
//! 1. **Tomcat refuses** (HTTP 400, no servlet runs) a path with an invalid `%` escape or an
//!    encoded `/` (`UDecoder.convert`; `encodedSolidusHandling` defaults to `reject`), or whose
//!    decoded form holds a NUL or a `\` (`CoyoteAdapter.normalize`, `allowBackslash` false), or
//!    climbs above the root with `..`. `rejectSuspiciousURIs` is off by default. Tomcat then
//!    decodes and normalises its own copy (`//`, `/./`, `/../`) to choose the servlet, but
//!    `getRequestURI()` stays the raw path (`Request.getRequestURI`), and that is what Spring
//!    reads: Spring never sees Tomcat's normalised copy.
//! 2. **Spring 5.3** (`UrlPathHelper.getLookupPathForRequest`: the dispatcher servlet is mapped
//!    to `/`, so `skipServletPathDetermination` takes the whole path within the application):
//!    `removeSemicolonContent` deletes every `;…` up to the next `/`, then `decodeRequestString`
//!    percent-decodes (`urlDecode` true), then `getSanitizedPath` replaces every `//` by `/`.
//!    Dot segments stay as they are. `PatternsRequestCondition.getMatchingPattern` then matches
//!    the pattern, or the pattern plus one trailing `/` (`useTrailingSlashMatch` true);
//!    `useSuffixPatternMatch` is false (`RequestMappingHandlerMapping`); `AntPathMatcher` is
//!    case-sensitive (`caseSensitive` true).
//! 3. **Spring 6.1** (`ServletRequestPathUtils.parseAndCache` → `RequestPath.parse` of the raw
//!    URI; `DefaultPathContainer.createFromUrlPath`): the path is split at each `/`, each segment
//!    is decoded with its `;…` parameters set aside (`decodeAndParsePathSegment`); `//` leaves an
//!    empty step, which a literal pattern does not match; dot segments stay. `PathPattern`
//!    matches segment by segment, case-sensitively (`caseSensitive` true), with no trailing
//!    slash (`matchOptionalTrailingSeparator` and `useTrailingSlashMatch` false since 6.0).
//!
//! Every path Spring 6.1 maps to a handler, Spring 5.3 maps to the same one (its segments,
//! parameters removed and decoded, are the pattern's), so the aliases are Spring 5.3's: a path
//! is an alias of `pattern` when Tomcat lets it through and its 5.3 lookup path is `pattern` or
//! `pattern/`. `%63lose`, `close;jsessionid=1`, `/api//pay/close` and `/api/pay/close/` are
//! aliases of `/api/pay/close` (the last two for Jeepay 1.x/2.x only); `/api/pay/./close`,
//! `/api/pay/x/../close`, `/API/pay/close`, `/api/pay/close.json` and `/api/pay%2Fclose` are
//! mapped by neither line.
//!
//! A path that is no alias but *resembles* a translatable path (the same once decoded as often
//! as it takes, parameters, empty and dot segments, case, a `\` for a `/` and a last extension
//! set aside) is one no Jeepay handler runs for, but a legacy gateway behind another server
//! might: paybridge refuses it rather than guess. [`is_plain`] lets the usual path skip all of
//! this with one scan and no allocation.

use std::borrow::Cow;

/// Whether `raw` holds nothing a servlet stack rewrites or that could disguise a path: it starts
/// with `/` and has no `%`, `;` or `\`, no empty, `.` or `..` segment, no trailing `/`. One pass
/// over the bytes, no allocation; such a path is matched as it is.
pub(super) fn is_plain(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    if bytes.len() == 1 {
        return true;
    }
    let mut segment = 1;
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        match b {
            b'%' | b';' | b'\\' => return false,
            b'/' if is_empty_or_dots(&bytes[segment..i]) => return false,
            b'/' => segment = i + 1,
            _ => {}
        }
    }
    !is_empty_or_dots(&bytes[segment..])
}

fn is_empty_or_dots(segment: &[u8]) -> bool {
    matches!(segment, b"" | b"." | b"..")
}

/// The path Spring MVC 5.3 looks handlers up with (module doc, step 2), or `None` when Tomcat
/// answers 400 before any servlet runs (step 1).
pub(super) fn spring_lookup(raw: &str) -> Option<String> {
    let without_parameters = remove_semicolon_content(raw);
    let decoded = percent_decode(&without_parameters, Escapes::AsTomcat)?;
    if decoded.iter().any(|b| matches!(b, b'\0' | b'\\')) {
        return None;
    }
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    Some(collapse_slashes(&decoded))
}

/// Whether Spring MVC 5.3 maps `lookup` to a handler mapped to `pattern` (a literal path):
/// the pattern itself, or with one trailing slash (`useTrailingSlashMatch`).
pub(super) fn spring_matches(lookup: &str, pattern: &str) -> bool {
    lookup == pattern || lookup.strip_suffix('/') == Some(pattern)
}

/// `UrlPathHelper.removeSemicolonContent`: each `;` and what follows it, up to the next `/`.
fn remove_semicolon_content(raw: &str) -> Cow<'_, str> {
    if !raw.contains(';') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    for (i, piece) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(piece.split(';').next().unwrap_or_default());
    }
    Cow::Owned(out)
}

/// `UrlPathHelper.getSanitizedPath`: every `//` replaced by `/`.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// How a `%` escape that Tomcat refuses is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escapes {
    /// As Tomcat does: an invalid escape or an encoded `/` refuses the whole path.
    AsTomcat,
    /// Leniently, as the loosest server might: an invalid escape stays as it is.
    Lenient,
}

/// The bytes of `text` with its `%XX` escapes decoded; `None` when `escapes` refuses it.
fn percent_decode(text: &str, escapes: Escapes) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)? << 4) | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (b'%', Some(b'/')) if escapes == Escapes::AsTomcat => return None,
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'%', None) if escapes == Escapes::AsTomcat => return None,
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(out)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The segments of `raw` read as loosely as any server might: decoded until nothing changes
/// (a few rounds), `\` taken for `/`, `;` parameters dropped, empty and `.` segments dropped,
/// `..` resolved (never above the root). Compared case-insensitively by [`same_loosely`].
pub(super) fn loose_segments(raw: &str) -> Vec<String> {
    let mut text = raw.to_owned();
    for _ in 0..4 {
        let decoded = percent_decode(&text, Escapes::Lenient).unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    let mut segments: Vec<String> = Vec::new();
    for segment in text.split(['/', '\\']) {
        match segment.split(';').next().unwrap_or_default() {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            kept => segments.push(kept.to_owned()),
        }
    }
    segments
}

/// Whether `segments` (a path's, without the leading `/`) name `canonical` loosely: the same
/// segments ignoring ASCII case, the last one perhaps with an extension (`close.json`).
pub(super) fn same_loosely<'s>(
    segments: impl Iterator<Item = &'s str> + Clone,
    canonical: &str,
) -> bool {
    let mut seen = segments;
    let mut wanted = canonical.trim_start_matches('/').split('/').peekable();
    loop {
        match (seen.next(), wanted.next()) {
            (None, None) => return true,
            (Some(s), Some(w)) => {
                let last = wanted.peek().is_none() && seen.clone().next().is_none();
                let extended = last
                    && s.get(..w.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(w))
                    && s.as_bytes().get(w.len()) == Some(&b'.');
                if !(s.eq_ignore_ascii_case(w) || extended) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Whether `segments` start with those of `prefix`, ignoring ASCII case.
pub(super) fn under_loosely<'s>(mut segments: impl Iterator<Item = &'s str>, prefix: &str) -> bool {
    prefix
        .trim_matches('/')
        .split('/')
        .all(|p| segments.next().is_some_and(|s| s.eq_ignore_ascii_case(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_told_in_one_scan() {
        for plain in [
            "/",
            "/api/pay/close",
            "/API/pay/close",
            "/a.b/c-d_e",
            "/x..y",
        ] {
            assert!(is_plain(plain), "{plain}");
        }
        for not in [
            "",
            "*",
            "/api/pay/%63lose",
            "/api/pay/close;x",
            "/api\\pay",
            "/api//pay",
            "//api",
            "/api/./pay",
            "/api/../pay",
            "/api/pay/.",
            "/api/pay/..",
            "/api/pay/close/",
        ] {
            assert!(!is_plain(not), "{not}");
        }
    }

    fn lookup(raw: &str) -> Option<String> {
        spring_lookup(raw)
    }

    #[test]
    fn spring_decodes_drops_parameters_and_collapses_slashes() {
        let close = Some("/api/pay/close".to_owned());
        assert_eq!(lookup("/api/pay/%63lose"), close);
        assert_eq!(lookup("/api/pay/%63%6C%6f%73%65"), close);
        assert_eq!(lookup("/api/pay/close;jsessionid=1"), close);
        assert_eq!(lookup("/api;a=b/pay;c/close;d;e"), close);
        assert_eq!(lookup("/api//pay///close"), close);
        assert_eq!(lookup("//api/pay/close"), close);
        // A parameter alone leaves an empty segment, which collapses.
        assert_eq!(lookup("/api/pay/;x/close"), close);
        // Parameters go before decoding: an encoded `;` stays.
        assert_eq!(
            lookup("/api/pay/close%3Bx").as_deref(),
            Some("/api/pay/close;x")
        );
        // Dot segments stay, case stays.
        assert_eq!(
            lookup("/api/pay/./close").as_deref(),
            Some("/api/pay/./close")
        );
        assert_eq!(lookup("/API/pay/close").as_deref(), Some("/API/pay/close"));
    }

    #[test]
    fn tomcat_refuses_before_spring() {
        for refused in [
            "/api/pay%2Fclose",
            "/api/pay%2fclose",
            "/api/pay/%zzclose",
            "/api/pay/close%6",
            "/api/pay/close%",
            "/api/pay%5Cclose",
            "/api/pay/close%00",
        ] {
            assert_eq!(lookup(refused), None, "{refused}");
        }
        // Stripped with its parameter before decoding: no longer there to refuse.
        assert_eq!(
            lookup("/api/pay/close;%zz").as_deref(),
            Some("/api/pay/close")
        );
    }

    #[test]
    fn the_trailing_slash_matches_and_nothing_else() {
        assert!(spring_matches("/api/pay/close", "/api/pay/close"));
        assert!(spring_matches("/api/pay/close/", "/api/pay/close"));
        for other in [
            "/api/pay/close//",
            "/api/pay/close.json",
            "/API/pay/close",
            "/api/pay/closed",
        ] {
            assert!(!spring_matches(other, "/api/pay/close"), "{other}");
        }
    }

    fn resembles(raw: &str, canonical: &str) -> bool {
        let segments = loose_segments(raw);
        same_loosely(segments.iter().map(String::as_str), canonical)
    }

    #[test]
    fn resemblance_sees_through_every_disguise() {
        for disguised in [
            "/api/pay/close",
            "/API/Pay/CLOSE",
            "/api/pay/./close",
            "/api/pay/x/../close",
            "/../api/pay/close",
            "/api/pay/close/.",
            "/api\\pay\\close",
            "/api/pay%2Fclose",
            "/api/pay/%2563lose",
            "/api/pay/close%3Bx",
            "/api/pay/close.json",
            "/api/pay/CLOSE.",
            "//api//pay//close//",
        ] {
            assert!(resembles(disguised, "/api/pay/close"), "{disguised}");
        }
        for other in [
            "/api/pay/closed",
            "/api/pay/close/x",
            "/api/pay",
            "/api/pay/aliBarOrder",
            "/api/pay/close.json/x",
            "/api/pay/clos",
        ] {
            assert!(!resembles(other, "/api/pay/close"), "{other}");
        }
    }

    #[test]
    fn prefixes_are_matched_by_whole_segments() {
        let under = |raw: &str| under_loosely(raw[1..].split('/'), "/daxpay/notify/");
        assert!(under("/daxpay/notify/abc"));
        assert!(under("/DaxPay/Notify"));
        assert!(!under("/daxpay/notifyx/abc"));
        assert!(!under("/daxpay"));
    }
}
