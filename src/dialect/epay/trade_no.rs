//! epay's numbers and times: the 19-digit `trade_no` / `refund_no` (`date("YmdHis")` in UTC+8 and
//! five digits, epay.md §9) and the `YYYY-MM-DD HH:MM:SS` UTC+8 times of its answers (§2).
//!
//! The gateway draws the five digits with `rand(11111, 99999)` and relies on its database's
//! unique key; paybridge draws a random start once per process and counts from it, so one
//! instance never repeats a number within a second (up to 88,889 numbers a second). Across
//! instances the order store's unique key has the last word.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use time::{OffsetDateTime, UtcOffset};

/// The gateway's zone: PHP `Asia/Shanghai`, MySQL `+8:00`.
const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("+08:00 is a valid offset"),
};

/// The five-digit suffixes run over 11111..=99999, as `rand(11111, 99999)`.
const SUFFIX_LOW: u32 = 11_111;
const SUFFIX_SPAN: u32 = 99_999 - 11_111 + 1;

fn counter() -> &'static AtomicU32 {
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    COUNTER.get_or_init(|| {
        let mut seed = [0u8; 4];
        // Without the OS's randomness the numbers are still unique per process.
        let _ = getrandom::fill(&mut seed);
        AtomicU32::new(u32::from_le_bytes(seed) % SUFFIX_SPAN)
    })
}

fn china_time(unix_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(CHINA)
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A new epay-style number for `unix_secs`: `YYYYMMDDhhmmss` (UTC+8) and five digits.
pub fn generate(unix_secs: i64) -> String {
    let t = china_time(unix_secs);
    let suffix = SUFFIX_LOW + counter().fetch_add(1, Ordering::Relaxed) % SUFFIX_SPAN;
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{suffix}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Whether `text` has the shape of an epay number (19 ASCII digits).
pub fn looks_like(text: &str) -> bool {
    text.len() == 19 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC+8 for Unix milliseconds (`addtime`, `endtime`).
pub fn time_text(unix_ms: i64) -> String {
    let t = china_time(unix_ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_nineteen_digits_of_china_time() {
        // 2024-07-17 09:27:52 UTC = 17:27:52 in UTC+8.
        let number = generate(1_721_208_472);
        assert!(looks_like(&number), "{number}");
        assert!(number.starts_with("20240717172752"), "{number}");
        let suffix: u32 = number[14..].parse().unwrap();
        assert!((11_111..=99_999).contains(&suffix));
    }

    #[test]
    fn one_process_never_repeats_a_number_within_a_second() {
        let numbers: std::collections::HashSet<String> =
            (0..20_000).map(|_| generate(1_721_208_472)).collect();
        assert_eq!(numbers.len(), 20_000);
    }

    #[test]
    fn times_are_written_in_utc_plus_8() {
        assert_eq!(time_text(1_721_208_472_999), "2024-07-17 17:27:52");
        assert_eq!(time_text(0), "1970-01-01 08:00:00");
        assert!(!looks_like("2024071717275212"));
        assert!(!looks_like("20240717172752123a4"));
    }
}
