//! The operator's view of the outbox, on the admin listener: `GET /admin/notifications`
//! (`?status=pending|failed|delivered`, `&limit=N`, newest first up to 500) and
//! `POST /admin/notifications/<id>/resend` (a failed or pending one, due at once).

use http::StatusCode;
use serde_json::json;

use super::now_ms;
use crate::store::{Notification, NotificationKind, NotificationStatus, OrderStore};

/// The admin answer: status and JSON body.
pub type Answer = (StatusCode, String);

pub async fn list(store: Option<OrderStore>, query: Option<&str>) -> Answer {
    let Some(store) = store else {
        return unavailable();
    };
    let mut status = NotificationStatus::Pending;
    let mut limit = 100;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (&*key, &*value) {
            ("status", "pending") => status = NotificationStatus::Pending,
            ("status", "failed") => status = NotificationStatus::Failed,
            ("status", "delivered") => status = NotificationStatus::Delivered,
            ("limit", n) => match n.parse::<i64>() {
                Ok(n @ 1..=500) => limit = n,
                _ => return bad("limit must be 1 to 500"),
            },
            _ => return bad("query: status=pending|failed|delivered, limit=1..500"),
        }
    }
    match store.notifications(status, limit).await {
        Ok(jobs) => (
            StatusCode::OK,
            json!({ "notifications": jobs.iter().map(view).collect::<Vec<_>>() }).to_string(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "outbox unreadable for the admin listing");
            unavailable()
        }
    }
}

pub async fn resend(store: Option<OrderStore>, id: &str) -> Answer {
    let Some(store) = store else {
        return unavailable();
    };
    let Ok(id) = id.parse::<i64>() else {
        return bad("the id is a number");
    };
    match store.resend_notification(id, now_ms()).await {
        Ok(true) => {
            tracing::info!(id, "notification queued again by an operator");
            super::wake();
            (
                StatusCode::OK,
                json!({ "id": id, "status": "pending" }).to_string(),
            )
        }
        Ok(false) => (
            StatusCode::NOT_FOUND,
            json!({ "error": "no pending or failed notification with this id" }).to_string(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "outbox unavailable for a resend");
            unavailable()
        }
    }
}

fn view(n: &Notification) -> serde_json::Value {
    json!({
        "id": n.id,
        "kind": match n.kind { NotificationKind::Pay => "pay", NotificationKind::Refund => "refund" },
        "mchNo": n.mch_no,
        "appId": n.app_id,
        "orderId": n.order_id,
        "state": n.state,
        "url": n.url,
        "wire": n.wire.as_str(),
        "status": match n.status {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Failed => "failed",
        },
        "attempts": n.attempts,
        "nextAttemptAtMs": n.next_attempt_at_ms,
        "lastError": n.last_error,
        "createdAtMs": n.created_at_ms,
        "deliveredAtMs": n.delivered_at_ms,
    })
}

fn bad(why: &str) -> Answer {
    (StatusCode::BAD_REQUEST, json!({ "error": why }).to_string())
}

fn unavailable() -> Answer {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "error": "order store unavailable" }).to_string(),
    )
}
