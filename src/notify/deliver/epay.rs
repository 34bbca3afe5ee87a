//! One attempt at an epay notification, as the gateway makes it (epay.md §11, `curl_get` and
//! `do_notify` of build 3094): a **GET** of the merchant's `notify_url` with the query appended,
//! epay's headers, at most 5 s, redirects not followed; acknowledged iff the answer's body
//! **contains** `success`, `SUCCESS` or `Success` (the HTTP status does not matter).
//!
//! A V2 order's query is signed again at each attempt with a fresh `timestamp` (SDK2 refuses
//! one older than 300 s) and the platform key, read from the configuration then: the outbox
//! keeps only the unsigned parameters, never the key.
//!
//! The schedule is epay's (`cron.php?do=notify`): attempts at 0, ≈1, ≈3, ≈19 and ≈55 minutes,
//! then given up; the `[notify]` schedule instead when the operator wrote one ([`next_delay`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Full};

use super::client::HttpsClient;
use crate::config::NotifyConfig;
use crate::dialect::epay::notification::{
    acknowledged, http_build_query, notify_target, parse_query, signed_v2,
};
use crate::dialect::epay::sign::RsaSigner;
use crate::proxy::runtime::Runtime;
use crate::store::{Notification, NotificationWire};

/// epay's own limit on one attempt (`CURLOPT_TIMEOUT`, 5 s).
pub(crate) const EPAY_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway's User-Agent (`curl_get`).
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36";

/// How much of an answer is searched for `success` (merchants answer a word; some a page).
const MAX_ANSWER: usize = 64 * 1024;

/// After the n-th failed attempt (n from 1), the next comes this much later: cron.php's
/// `notifytime` steps (1, 2, 16 and 36 minutes); after the 5th attempt, the order is given up.
const EPAY_GAPS: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(2 * 60),
    Duration::from_secs(16 * 60),
    Duration::from_secs(36 * 60),
];

/// The platform key that signs V2 orders' notifications (`[epay] platform_private_key`), read at
/// each attempt so that a reload takes effect and the key is never copied into the outbox.
pub(crate) fn platform_signer(rt: &Runtime) -> Option<Arc<RsaSigner>> {
    rt.config.epay.platform_key.clone()
}

/// When the next attempt comes after `attempt` (from 1) failed; `None`: given up. Jeepay's
/// jobs, and epay's when the operator wrote a `[notify]` schedule (`schedule_set`), retry
/// n × `retry_step` after the n-th, `max_attempts` in all; epay's jobs otherwise follow
/// [`EPAY_GAPS`].
pub(crate) fn next_delay(
    wire: NotificationWire,
    attempt: i64,
    config: &NotifyConfig,
) -> Option<Duration> {
    if !wire.is_epay() || config.schedule_set {
        if attempt >= i64::from(config.max_attempts) {
            return None;
        }
        let n = u32::try_from(attempt.max(1)).unwrap_or(u32::MAX);
        return Some(config.retry_step.saturating_mul(n));
    }
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    EPAY_GAPS.get(index).copied()
}

/// How long one attempt of `wire` may take: epay's 5 s (or `[notify] timeout_ms` if shorter).
pub(crate) fn timeout(wire: NotificationWire, config: &NotifyConfig) -> Duration {
    if wire.is_epay() {
        config.timeout.min(EPAY_TIMEOUT)
    } else {
        config.timeout
    }
}

/// The URL one attempt GETs: V1, the stored query; V2, the stored parameters signed now.
pub(crate) fn target(
    job: &Notification,
    platform: Option<&RsaSigner>,
    now_secs: i64,
) -> Result<String, String> {
    let query = match job.wire {
        NotificationWire::EpayGetResigned => {
            let platform = platform.ok_or_else(|| {
                "no [epay] platform_private_key to sign a V2 order's notification".to_owned()
            })?;
            http_build_query(&signed_v2(parse_query(&job.body), now_secs, platform))
        }
        _ => job.body.clone(),
    };
    Ok(notify_target(&job.url, &query))
}

/// One GET of `url`: `Ok` iff the answer contains epay's acknowledgement.
pub(crate) async fn get(client: &HttpsClient, url: &str, limit: Duration) -> Result<(), String> {
    let request = Request::get(url)
        .header(header::ACCEPT, "*/*")
        .header(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.8")
        .header(header::CONNECTION, "close")
        .header(header::USER_AGENT, USER_AGENT)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("unusable URL: {e}"))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("not sent or no answer: {e}"))?;
        let status = response.status();
        let mut body = response.into_body();
        let mut read = Vec::new();
        while read.len() < MAX_ANSWER {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.map_err(|e| format!("answer unreadable: {e}"))?;
            if let Ok(data) = frame.into_data() {
                let room = MAX_ANSWER - read.len();
                read.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok::<_, String>((status, read))
    };
    let (status, body) = tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| format!("no answer within {} ms", limit.as_millis()))??;
    if acknowledged(&body) {
        Ok(())
    } else {
        let shown: String = String::from_utf8_lossy(&body).chars().take(64).collect();
        Err(format!(
            "answered {shown:?} (HTTP {}), without success/SUCCESS/Success",
            status.as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NotifyConfig {
        NotifyConfig {
            max_attempts: 6,
            retry_step: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(41),
            allow_private_targets: false,
            concurrency: 32,
            per_host_concurrency: 4,
            schedule_set: false,
        }
    }

    #[test]
    fn epay_retries_at_1_3_19_55_minutes_then_gives_up() {
        let c = config();
        let at: Vec<Option<u64>> = (1..=6)
            .map(|n| next_delay(NotificationWire::EpayGet, n, &c).map(|d| d.as_secs()))
            .collect();
        assert_eq!(at, [Some(60), Some(120), Some(960), Some(2160), None, None]);
        let mut when = 0;
        let mut times = vec![0];
        for n in 1..=4 {
            when += next_delay(NotificationWire::EpayGetResigned, n, &c)
                .unwrap()
                .as_secs();
            times.push(when / 60);
        }
        assert_eq!(times, [0, 1, 3, 19, 55], "minutes after the first attempt");
    }

    #[test]
    fn jeepay_keeps_its_schedule_and_a_written_one_applies_to_epay_too() {
        let mut c = config();
        assert_eq!(
            next_delay(NotificationWire::JeepayPost, 2, &c),
            Some(Duration::from_secs(60))
        );
        assert_eq!(next_delay(NotificationWire::JeepayPost, 6, &c), None);
        c.retry_step = Duration::from_millis(50);
        c.max_attempts = 3;
        assert_eq!(
            next_delay(NotificationWire::EpayGet, 2, &c),
            Some(Duration::from_secs(120)),
            "epay's own schedule while none is written"
        );
        c.schedule_set = true;
        assert_eq!(
            next_delay(NotificationWire::EpayGet, 2, &c),
            Some(Duration::from_millis(100))
        );
        assert_eq!(next_delay(NotificationWire::EpayGet, 3, &c), None);
    }

    #[test]
    fn epay_attempts_take_at_most_5_seconds() {
        let c = config();
        assert_eq!(timeout(NotificationWire::EpayGet, &c), EPAY_TIMEOUT);
        assert_eq!(timeout(NotificationWire::JeepayPost, &c), c.timeout);
    }
}
