//! The admin listener (its own address, off unless configured): configuration reload and view.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::reload::Reloader;
use crate::route::Gateway;

#[derive(Clone)]
pub struct Admin {
    pub gateway: Gateway,
    pub reloader: Option<Arc<Reloader>>,
}

impl Admin {
    pub async fn handle<B>(self, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (status, content_type, body) = match (req.method(), req.uri().path()) {
            (&Method::POST, "/admin/reload") => match &self.reloader {
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
                    r#"{"reloaded":false,"error":"started without a configuration file"}"#
                        .to_owned(),
                ),
            },
            (&Method::GET, "/admin/config") => (
                StatusCode::OK,
                "text/plain; charset=utf-8",
                self.gateway.config().summary(),
            ),
            (_, "/admin/reload" | "/admin/config") => (
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
}
