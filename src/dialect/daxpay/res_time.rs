//! A signed DaxPay success is bound to the time it was given: its `resTime` must be near
//! paybridge's clock. Without the check an old signed success (captured on a plain-HTTP link)
//! could be replayed as the answer to another call, and paybridge would report a close that
//! never happened.
//!
//! `resTime` is the upstream's wall clock `yyyy-MM-dd HH:mm:ss` in its zone (3.x, in the signed
//! envelope) or epoch seconds (2.0, inside the signed `data`). Only successes are checked: a 3.x
//! business error carries `resTime: null` (daxpay.md), and a refusal is never reported as
//! success anyway.

use std::time::Duration;

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::sign::Version;
use crate::domain::AnswerFault;

/// How a success's `resTime` is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResTimeCheck {
    pub now: OffsetDateTime,
    /// The upstream's zone, for the 3.x wall clock.
    pub utc_offset: UtcOffset,
    /// How far `resTime` may be from `now`, either way.
    pub window: Duration,
}

impl ResTimeCheck {
    /// `res_time`: the signed value as rendered for signing (`None`: absent or null).
    pub fn verify(&self, version: Version, res_time: Option<&str>) -> Result<(), AnswerFault> {
        let Some(text) = res_time.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(AnswerFault::Stale(
                "the success carries no resTime".to_owned(),
            ));
        };
        let unreadable = || AnswerFault::Stale(format!("resTime {text:?} is unreadable"));
        let given = match version {
            Version::V3_0 | Version::V3_0Beta => {
                let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
                PrimitiveDateTime::parse(text, &format)
                    .map_err(|_| unreadable())?
                    .assume_offset(self.utc_offset)
            }
            Version::V2_0 => {
                if !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unreadable());
                }
                let secs: i64 = text.parse().map_err(|_| unreadable())?;
                OffsetDateTime::from_unix_timestamp(secs).map_err(|_| unreadable())?
            }
        };
        let off = (self.now - given).unsigned_abs();
        if off > self.window {
            return Err(AnswerFault::Stale(format!(
                "resTime {text:?} is {}s from paybridge's clock (window {}s)",
                off.as_secs(),
                self.window.as_secs()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    fn check() -> ResTimeCheck {
        ResTimeCheck {
            now: datetime!(2025-09-01 04:00:00 UTC),
            utc_offset: offset!(+8),
            window: Duration::from_secs(300),
        }
    }

    #[test]
    fn the_wall_clock_is_read_in_the_upstreams_zone() {
        let c = check();
        assert_eq!(c.verify(Version::V3_0, Some("2025-09-01 12:04:59")), Ok(()));
        assert_eq!(
            c.verify(Version::V3_0Beta, Some("2025-09-01 11:55:00")),
            Ok(())
        );
        for stale in [
            "2025-09-01 11:00:00",
            "2025-09-01 04:00:00",
            "2025-09-01 12:05:01",
        ] {
            assert!(
                matches!(
                    c.verify(Version::V3_0, Some(stale)),
                    Err(AnswerFault::Stale(_))
                ),
                "{stale}"
            );
        }
    }

    #[test]
    fn epoch_seconds_for_2_0() {
        let c = check();
        let now = c.now.unix_timestamp();
        assert_eq!(c.verify(Version::V2_0, Some(&now.to_string())), Ok(())); // 1756699200
        let old = (now - 3600).to_string();
        assert!(c.verify(Version::V2_0, Some(&old)).is_err());
        assert!(c.verify(Version::V2_0, Some("1756699200000")).is_err());
    }

    #[test]
    fn absent_or_unreadable_is_not_believed() {
        let c = check();
        for bad in [
            None,
            Some(""),
            Some("null"),
            Some("2025-09-01T12:00:00"),
            Some("-5"),
        ] {
            assert!(matches!(
                c.verify(Version::V3_0, bad)
                    .or(c.verify(Version::V2_0, bad)),
                Err(AnswerFault::Stale(_))
            ));
        }
    }
}
