//! One attempt at one notification: the POST and Jeepay's acknowledgement check (an epay job:
//! the GET of `super::epay`), and the job marked in the outbox (delivered, retried later on its
//! dialect's schedule, or failed for good), by the lease's owner.

use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Full, Limited};

use super::client::HttpsClient;
use super::epay;
use crate::config::NotifyConfig;
use crate::notify::guard::literal_internal;
use crate::notify::now_ms;
use crate::proxy::runtime::Runtime;
use crate::store::{Notification, OrderStore};

/// A merchant's answer is read up to this size (it should be `SUCCESS`).
const MAX_ANSWER: usize = 4096;

/// One attempt: acknowledged → delivered; otherwise retried later, or failed after the last.
pub(crate) async fn deliver(
    client: &HttpsClient,
    store: &OrderStore,
    config: &NotifyConfig,
    owner: &str,
    rt: &Runtime,
    job: Notification,
) {
    let allowed = rt
        .config
        .merchants
        .lookup(&job.mch_no, &job.app_id)
        .is_ok_and(|m| m.may_notify(&job.url));
    let internal = !config.allow_private_targets && literal_internal(&job.url);
    let result = if !allowed {
        Err("the merchant's notify_hosts do not allow this URL (or the app is gone)".to_owned())
    } else if internal {
        Err("the URL names an internal address ([notify] allow_private_targets)".to_owned())
    } else if job.wire.is_epay() {
        let platform = epay::platform_signer(rt);
        match epay::target(&job, platform.as_deref(), now_ms() / 1000) {
            Ok(url) => epay::get(client, &url, epay::timeout(job.wire, config)).await,
            Err(why) => Err(why),
        }
    } else {
        post(client, config, &job).await
    };
    let allowed = allowed && !internal;
    let attempt = job.attempts + 1;
    let recorded = match &result {
        Ok(()) => {
            metrics::counter!("paybridge_notification_attempts_total", "outcome" => "acknowledged")
                .increment(1);
            metrics::counter!("paybridge_notifications_delivered_total").increment(1);
            tracing::info!(
                id = job.id,
                mch_no = job.mch_no.as_str(),
                order_id = job.order_id.as_str(),
                attempt,
                "notification delivered"
            );
            store.mark_delivered(job.id, owner, now_ms()).await
        }
        Err(why) => {
            let outcome = if why.starts_with("answered") {
                "rejected"
            } else {
                "error"
            };
            metrics::counter!("paybridge_notification_attempts_total", "outcome" => outcome)
                .increment(1);
            let next = epay::next_delay(job.wire, attempt, config);
            if let (true, Some(delay)) = (allowed, next) {
                let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                let next = now_ms().saturating_add(delay);
                tracing::info!(
                    id = job.id,
                    mch_no = job.mch_no.as_str(),
                    attempt,
                    why = why.as_str(),
                    "notification not acknowledged: retried later"
                );
                store.mark_retry(job.id, owner, next, why).await
            } else {
                tracing::warn!(
                    id = job.id,
                    mch_no = job.mch_no.as_str(),
                    attempt,
                    why = why.as_str(),
                    "notification failed for good"
                );
                store.mark_failed(job.id, owner, why).await
            }
        }
    };
    if let Err(e) = recorded {
        // The lease expires and the job is taken again: sent twice at worst, never lost.
        tracing::warn!(id = job.id, error = %e, "a notification's outcome could not be recorded");
    }
}

async fn post(
    client: &HttpsClient,
    config: &NotifyConfig,
    job: &Notification,
) -> Result<(), String> {
    let request = Request::post(job.url.as_str())
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .body(Full::new(Bytes::from(job.body.clone())))
        .map_err(|e| format!("unusable URL: {e}"))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("not sent or no answer: {e}"))?;
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("answer unreadable: {e}"))?
            .to_bytes();
        Ok::<Bytes, String>(body)
    };
    let body = tokio::time::timeout(config.timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {} ms", config.timeout.as_millis()))??;
    // Jeepay: "SUCCESS".equalsIgnoreCase(body), the whole body, untrimmed.
    if body.eq_ignore_ascii_case(b"SUCCESS") {
        Ok(())
    } else {
        let shown: String = String::from_utf8_lossy(&body).chars().take(64).collect();
        Err(format!("answered {shown:?}, not SUCCESS"))
    }
}
