//! The delivery worker: posts due notifications to merchants until each is acknowledged
//! (`SUCCESS`, any case, not trimmed: Jeepay's check), on Jeepay's schedule (the n-th retry
//! n × 30 s after the previous attempt, 6 attempts, 20 s each; `[notify]`).
//!
//! Jobs live in the order store's outbox. A worker leases the jobs it takes, so several
//! instances on one PostgreSQL never send one at the same time; a worker that dies leaves its
//! lease to expire, and the job is sent again by whichever instance takes it next (a merchant
//! may see a notification twice, as with Jeepay, never zero times). A merchant whose
//! `notify_hosts` no longer allow the URL is not posted to.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;

use super::guard::{literal_internal, PublicOnly};
use super::now_ms;
use crate::config::NotifyConfig;
use crate::proxy::runtime::Runtime;
use crate::store::{Notification, OrderStore};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>, Full<Bytes>>;

/// Jobs one worker sends at once.
const BATCH: i64 = 16;
/// A merchant's answer is read up to this size (it should be `SUCCESS`).
const MAX_ANSWER: usize = 4096;
/// How often the outbox's gauges are brought up to date.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// Starts the worker on the runtime `current` holds (a reload swaps it; the worker follows).
pub fn spawn(current: Arc<ArcSwap<Runtime>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(current))
}

async fn run(current: Arc<ArcSwap<Runtime>>) {
    let owner = format!(
        "{}-{}",
        std::process::id(),
        super::token().unwrap_or_else(|| now_ms().to_string())
    );
    let mut client = client_for(current.load().config.notify.allow_private_targets);
    let mut allow_private = current.load().config.notify.allow_private_targets;
    let mut stats_at = tokio::time::Instant::now();
    loop {
        let rt = current.load_full();
        let config = rt.config.notify.clone();
        if config.allow_private_targets != allow_private {
            allow_private = config.allow_private_targets;
            client = client_for(allow_private);
        }
        let woken = super::waker().notified();
        if let Some(store) = rt.orders.clone() {
            if stats_at.elapsed() >= STATS_EVERY {
                stats_at = tokio::time::Instant::now();
                publish_stats(&store).await;
            }
            let lease = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
            match store
                .claim_due_notifications(&owner, now_ms(), lease, BATCH)
                .await
            {
                Ok(jobs) if !jobs.is_empty() => {
                    let mut sending = JoinSet::new();
                    for job in jobs {
                        let (client, store, config, owner, rt) = (
                            client.clone(),
                            store.clone(),
                            config.clone(),
                            owner.clone(),
                            rt.clone(),
                        );
                        sending.spawn(async move {
                            deliver(&client, &store, &config, &owner, &rt, job).await
                        });
                    }
                    while sending.join_next().await.is_some() {}
                    // More may be due: look again at once.
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the outbox cannot be read: notifications wait")
                }
            }
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// A client that connects only where [`PublicOnly`] allows (names), never following redirects
/// (hyper's client does not).
fn client_for(allow_private: bool) -> HttpsClient {
    let mut http = HttpConnector::new_with_resolver(PublicOnly {
        allow_internal: allow_private,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::upstream::tls_config(&[]))
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(https)
}

/// One attempt: acknowledged → delivered; otherwise retried later, or failed after the last.
async fn deliver(
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
            if !allowed || attempt >= i64::from(config.max_attempts) {
                tracing::warn!(
                    id = job.id,
                    mch_no = job.mch_no.as_str(),
                    attempt,
                    why = why.as_str(),
                    "notification failed for good"
                );
                store.mark_failed(job.id, owner, why).await
            } else {
                let step = i64::try_from(config.retry_step.as_millis()).unwrap_or(i64::MAX);
                let next = now_ms().saturating_add(step.saturating_mul(attempt));
                tracing::info!(
                    id = job.id,
                    mch_no = job.mch_no.as_str(),
                    attempt,
                    why = why.as_str(),
                    "notification not acknowledged: retried later"
                );
                store.mark_retry(job.id, owner, next, why).await
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

async fn publish_stats(store: &OrderStore) {
    match store.outbox_stats().await {
        Ok(stats) => {
            metrics::gauge!("paybridge_notifications_pending").set(stats.pending as f64);
            metrics::gauge!("paybridge_notifications_failed").set(stats.failed as f64);
            let age = stats
                .oldest_pending_created_at_ms
                .map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
            metrics::gauge!("paybridge_notifications_oldest_pending_age_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "outbox statistics unavailable"),
    }
}
