//! The admin listener (its own address, off unless configured): configuration reload and view,
//! Prometheus metrics, liveness and readiness. With `[admin] token`, every route but `/healthz`
//! and `/readyz` requires `Authorization: Bearer <token>` (compared in constant time); without
//! one (allowed on a loopback address only) none does.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::proxy::Gateway;
use crate::reload::Reloader;

/// An upstream counts as reachable when it answered within this long (else it is probed).
const RECENT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Admin {
    pub gateway: Gateway,
    pub reloader: Option<Arc<Reloader>>,
    /// Set when shutdown begins: no longer ready for new traffic.
    pub draining: Arc<AtomicBool>,
    /// The order store's last readiness probe, reused for a moment (one probe at a time).
    pub store_readiness: crate::store::probe::Readiness,
}

impl Admin {
    pub async fn handle<B>(self, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
        let open = matches!(req.uri().path(), "/healthz" | "/readyz");
        if !open && !self.authorized(&req) {
            let mut response = Response::new(Full::new(Bytes::from_static(
                br#"{"error":"unauthorized"}"#,
            )));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return Ok(response);
        }
        let path = req.uri().path();
        if path == "/admin/notifications" || path.starts_with("/admin/notifications/") {
            return Ok(json(self.notifications(&req).await));
        }
        let (status, content_type, body) = match (req.method(), path) {
            (&Method::POST, "/admin/reload") => self.reload(),
            (&Method::GET, "/admin/config") => (
                StatusCode::OK,
                "text/plain; charset=utf-8",
                self.gateway.config().summary(),
            ),
            (&Method::GET, "/metrics") => match crate::telemetry::metrics() {
                Some(handle) => (StatusCode::OK, "text/plain; version=0.0.4", handle.render()),
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "metrics recorder not installed\n".to_owned(),
                ),
            },
            (&Method::GET, "/healthz") => (
                StatusCode::OK,
                "application/json",
                r#"{"status":"alive"}"#.to_owned(),
            ),
            (&Method::GET, "/readyz") => self.ready().await,
            (_, "/admin/reload" | "/admin/config" | "/metrics" | "/healthz" | "/readyz") => (
                StatusCode::METHOD_NOT_ALLOWED,
                "application/json",
                r#"{"error":"method not allowed"}"#.to_owned(),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "application/json",
                r#"{"error":"not found"}"#.to_owned(),
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        Ok(response)
    }

    /// The outbox: listed, or one notification sent again.
    async fn notifications<B>(&self, req: &Request<B>) -> (StatusCode, String) {
        let orders = self.gateway.orders();
        let path = req.uri().path();
        match (req.method(), path.strip_prefix("/admin/notifications")) {
            (&Method::GET, Some("")) => crate::notify::admin::list(orders, req.uri().query()).await,
            (&Method::POST, Some(rest)) => match rest
                .strip_prefix('/')
                .and_then(|r| r.strip_suffix("/resend"))
            {
                Some(id) => crate::notify::admin::resend(orders, id).await,
                None => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()),
            },
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":"method not allowed"}"#.to_owned(),
            ),
        }
    }

    /// No token configured, or the request carries it as `Bearer` (the current configuration's:
    /// a reload that changes the token applies at once).
    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let config = self.gateway.config();
        let Some(token) = config.admin_token.as_ref() else {
            return true;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .is_some_and(|(scheme, given)| {
                scheme.eq_ignore_ascii_case("bearer") && token.matches(given.trim().as_bytes())
            })
    }

    fn reload(&self) -> (StatusCode, &'static str, String) {
        match &self.reloader {
            Some(reloader) => match reloader.reload("admin") {
                Ok(()) => (
                    StatusCode::OK,
                    "application/json",
                    r#"{"reloaded":true}"#.to_owned(),
                ),
                Err(e) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "application/json",
                    serde_json::json!({"reloaded": false, "error": e.to_string()}).to_string(),
                ),
            },
            None => (
                StatusCode::CONFLICT,
                "application/json",
                r#"{"reloaded":false,"error":"started without a configuration file"}"#.to_owned(),
            ),
        }
    }

    /// Ready: configuration loaded (always, once serving), not draining, the order store usable
    /// (probed at most every couple of seconds) and every upstream reached recently (or
    /// reachable now). Without the order store every pay and refund would be refused: a load
    /// balancer must send them elsewhere.
    async fn ready(&self) -> (StatusCode, &'static str, String) {
        let draining = self.draining.load(Ordering::Relaxed);
        let orders = self.gateway.orders();
        let store = self.store_readiness.check(orders.as_ref());
        let upstreams = self.gateway.upstream_health();
        // Concurrently: one slow upstream does not add to another's time.
        let checks: Vec<_> = upstreams
            .iter()
            .cloned()
            .map(|u| tokio::spawn(async move { u.reachable(RECENT).await }))
            .collect();
        // The upstreams are probed meanwhile.
        let store = store.await;
        let mut reachable = Vec::with_capacity(checks.len());
        for check in checks {
            reachable.push(check.await.unwrap_or(false));
        }
        let all_up = reachable.iter().all(|ok| *ok);
        let detail: serde_json::Map<String, serde_json::Value> = upstreams
            .iter()
            .zip(&reachable)
            .map(|(u, ok)| {
                (
                    u.name.clone(),
                    serde_json::Value::from(if *ok { "reachable" } else { "unreachable" }),
                )
            })
            .collect();
        let ready = all_up && !draining && store.is_ok();
        let body = serde_json::json!({
            "ready": ready,
            "configuration": "loaded",
            "draining": draining,
            "order_store": match &store {
                Ok(()) => "usable".to_owned(),
                Err(reason) => reason.clone(),
            },
            "upstreams": detail,
        });
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, "application/json", body.to_string())
    }
}

fn json((status, body): (StatusCode, String)) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
