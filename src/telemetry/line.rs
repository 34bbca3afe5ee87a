//! The text log format: tracing-subscriber's default ("full") format, with the access line
//! written by a formatter of its own.
//!
//! The access line is written for every request, and through the generic path it cost about a
//! fifth of a passed-through request's instructions (docs/benchmarks.md, issue 14): every string
//! field escaped char by char through `core::fmt`, the timestamp formatted field by field. This
//! formatter writes the same bytes for it (the tests compare the two) with a byte scan for the
//! common case and the timestamp's date and time of day formatted once per second. Everything
//! else (other events, events inside a span, colours on a terminal) goes to the default format.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The access line's target (`telemetry::access`).
pub const ACCESS_TARGET: &str = "paybridge::access";

/// The text format `serve` logs with: see the module doc.
#[derive(Debug, Default)]
pub struct TextFormat {
    full: Format,
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS_TARGET
            || writer.has_ansi_escapes()
            || ctx.event_scope().is_some()
        {
            return self.full.format_event(ctx, writer, event);
        }
        // The line is built in a buffer of this thread's, with plain byte pushes, and handed
        // to the writer whole: one dynamic call where there were some forty (issue 23).
        let written = LINE.try_with(|cell| {
            let mut line = cell.try_borrow_mut().ok()?;
            line.clear();
            access_line(&mut line, meta, event);
            let result = writer.write_str(&line);
            if line.capacity() > KEPT_CAPACITY {
                *line = String::new();
            }
            Some(result)
        });
        match written {
            Ok(Some(result)) => result,
            // Re-entered (a field's `Debug` that logs) or the thread ending: the default format.
            _ => self.full.format_event(ctx, writer, event),
        }
    }
}

/// A buffer grown past this by an unusually long line is not kept.
const KEPT_CAPACITY: usize = 16 * 1024;

thread_local! {
    /// The access line being written on this thread (its capacity kept between lines).
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The whole access line for `event`, newline included, appended to `line`.
fn access_line(line: &mut String, meta: &tracing::Metadata<'_>, event: &Event<'_>) {
    push_timestamp(line, SystemTime::now());
    line.push_str(level_text(meta.level()));
    line.push(' ');
    line.push_str(meta.target());
    line.push_str(": ");
    event.record(&mut Fields { line, first: true });
    line.push('\n');
}

/// The level as the default format pads it (five characters, then the separating space).
fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        _ => "ERROR",
    }
}

/// Writes fields as the default format's visitor does: `message` bare, others `name=value`
/// with `Debug` values, separated by one space.
struct Fields<'l> {
    line: &'l mut String,
    first: bool,
}

impl Fields<'_> {
    /// The separator and `name=` (nothing for `message`), before a value.
    fn name(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.line.push(' ');
        }
        let name = field.name();
        if name != "message" {
            // `r#type`-style names are written without their prefix.
            self.line.push_str(name.strip_prefix("r#").unwrap_or(name));
            self.line.push('=');
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        if field.name() == "message" {
            self.line.push_str(value);
        } else {
            push_quoted(self.line, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        // Writing to a `String` cannot fail.
        let _ = write!(self.line, "{value:?}");
    }
}

/// `value` as `{:?}` writes it: quoted, escaped. Text of printable ASCII without `"` or `\`
/// (request ids, merchant numbers, upstream names) needs no escaping and is copied whole; any
/// other text goes through `Debug`, so the escaping is the standard library's, byte for byte.
fn push_quoted(line: &mut String, value: &str) {
    // Folded without short-circuit so that the compiler can check many bytes at once.
    let escaped = value.bytes().fold(false, |escaped, b| {
        escaped | !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\')
    });
    if escaped {
        let _ = write!(line, "{value:?}");
    } else {
        line.push('"');
        line.push_str(value);
        line.push('"');
    }
}

thread_local! {
    /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS.` text.
    static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
}

/// `time` as tracing-subscriber's `SystemTime` timer writes it (`2026-12-01T09:22:29.123456Z`),
/// then a space.
fn push_timestamp(line: &mut String, time: SystemTime) {
    let Ok(since) = time.duration_since(UNIX_EPOCH) else {
        line.push_str("<unknown time> ");
        return;
    };
    let (secs, micros) = (since.as_secs(), since.subsec_micros());
    let prefix = SECOND
        .try_with(|cell| {
            let (cached, text) = cell.get();
            if cached == secs {
                return text;
            }
            let text = date_time_prefix(secs);
            cell.set((secs, text));
            text
        })
        .unwrap_or_else(|_| date_time_prefix(secs));
    let mut tail = [b'0', b'0', b'0', b'0', b'0', b'0', b'Z', b' '];
    let mut rest = micros;
    for digit in tail[..6].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Both are ASCII digits and separators written above.
    for part in [&prefix[..], &tail[..]] {
        line.push_str(std::str::from_utf8(part).unwrap_or("?"));
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` for `secs` since the epoch, UTC (years 1970–9999; later ones do not
/// occur in a log line).
fn date_time_prefix(secs: u64) -> [u8; 20] {
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.min(9999));
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day % 3600 / 60);
    put(17, 2, of_day % 60);
    out
}

/// Year, month, day of the day `days` after 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn dates_are_the_calendars() {
        // Each checked with `date -u -d @SECS +%FT%T`.
        for (secs, text) in [
            (0, "1970-01-01T00:00:00."),
            (951_782_400, "2000-02-29T00:00:00."),
            (951_868_799, "2000-02-29T23:59:59."),
            (1_709_251_199, "2024-02-29T23:59:59."),
            (1_735_689_599, "2024-12-31T23:59:59."),
            (1_795_987_349, "2026-11-29T21:22:29."),
            (4_107_542_400, "2100-03-01T00:00:00."),
            (253_402_300_799, "9999-12-31T23:59:59."),
        ] {
            assert_eq!(std::str::from_utf8(&date_time_prefix(secs)).unwrap(), text);
        }
    }

    #[test]
    fn timestamps_carry_microseconds_zero_padded() {
        let mut text = String::new();
        let time = UNIX_EPOCH + Duration::new(951_782_400, 1_234_567);
        push_timestamp(&mut text, time);
        assert_eq!(text, "2000-02-29T00:00:00.001234Z ");
        text.clear();
        // The cached second is reused, with the new microseconds.
        let time = UNIX_EPOCH + Duration::new(951_782_400, 999_999_999);
        push_timestamp(&mut text, time);
        assert_eq!(text, "2000-02-29T00:00:00.999999Z ");
    }

    /// Lines written by a subscriber, collected.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What `emit` logs, through the default format and through [`TextFormat`], each line
    /// without its timestamp (the only part that may differ: the clock moved).
    fn both(emit: impl Fn()) -> (String, String) {
        let run = |fast: bool| {
            let lines = Lines::default();
            let out = lines.clone();
            let builder = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(Level::TRACE)
                .with_writer(move || out.clone());
            if fast {
                tracing::subscriber::with_default(
                    builder.event_format(TextFormat::default()).finish(),
                    &emit,
                );
            } else {
                tracing::subscriber::with_default(builder.finish(), &emit);
            }
            let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| {
                    let (time, rest) = l.split_once(' ').unwrap();
                    assert_eq!(time.len(), 27, "{l}");
                    assert!(time.ends_with('Z'), "{l}");
                    format!("{rest}\n")
                })
                .collect::<String>()
        };
        (run(false), run(true))
    }

    #[test]
    fn the_access_line_is_the_default_formats_byte_for_byte() {
        let awkward = [
            "r-1",
            "M1623984572",
            "",
            "quote \" and \\ backslash",
            "new\nline\r\t",
            "forged\" key=value",
            "订单不存在",
            "e\u{301}\u{200b}\u{7f}\u{1b}[31m",
            "~ !#$%&'()*+,-./:;<=>?@[]^_`{|}",
        ];
        for value in awkward {
            let (default, fast) = both(|| {
                tracing::info!(
                    target: "paybridge::access",
                    request_id = value,
                    method = "POST",
                    fallback = true,
                    code = %-20041,
                    status = 200u16,
                    latency_us = 1234u64,
                    delta = -5i64,
                    r#type = value,
                    debugged = ?value,
                    "request"
                );
            });
            assert_eq!(fast, default, "{value:?}");
            assert!(
                default.starts_with(" INFO paybridge::access: request "),
                "{default}"
            );
        }
    }

    #[test]
    fn other_events_and_spans_keep_the_default_format() {
        let (default, fast) = both(|| {
            tracing::warn!(target: "paybridge::other", a = "x\"y", "something \u{1b} happened");
            let span = tracing::info_span!("request", id = 7);
            let _entered = span.enter();
            tracing::info!(target: "paybridge::access", request_id = "r", "request");
        });
        assert_eq!(fast, default);
        assert!(
            default.contains("request{id=7}: paybridge::access"),
            "{default}"
        );
    }
}
