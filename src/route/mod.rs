//! The gateway service: dispatches a merchant request by path to its handler.
//!
//! Errors are returned as [`GatewayError`], not rendered here: the
//! [`crate::middleware::dialect_errors`] layer renders them in the caller's dialect.

mod close;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full, Limited};

use crate::config::Config;
use crate::error::GatewayError;
use crate::operation::Endpoint;
use crate::upstream::Upstreams;

/// Jeepay answers with this content type.
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request path's tower service. Cheap to clone: the state is shared.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    config: Arc<Config>,
    upstreams: Upstreams,
}

impl Gateway {
    pub fn new(config: Arc<Config>) -> Self {
        let upstreams = Upstreams::new(config.upstreams.values());
        Gateway {
            shared: Arc::new(Shared { config, upstreams }),
        }
    }
}

impl<B> tower::Service<Request<B>> for Gateway
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = GatewayError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, GatewayError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { shared.handle(req).await })
    }
}

impl Shared {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, GatewayError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let endpoint = Endpoint::from_path(req.uri().path())
            .ok_or_else(|| GatewayError::NotFound(req.uri().path().to_owned()))?;
        // Jeepay maps its endpoints for every method; HEAD, OPTIONS, TRACE and CONNECT make
        // no sense for a signed, state-changing call.
        if ![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
        .contains(req.method())
        {
            return Err(GatewayError::MethodNotAllowed(req.method().to_string()));
        }
        let (parts, body) = req.into_parts();
        let body = read_body(body, self.config.server.max_body_bytes).await?;
        let inbound = Inbound::new(&parts, &body);
        let reply = match endpoint {
            Endpoint::Close | Endpoint::Cancel => {
                close::translate(self, endpoint, &parts, inbound).await?
            }
        };
        let mut response = Response::new(Full::new(Bytes::from(reply.to_json())));
        response.headers_mut().insert(CONTENT_TYPE, JSON_UTF8);
        Ok(response)
    }
}

/// The parameters of a merchant request, located as Jeepay locates them.
pub(crate) struct Inbound<'a> {
    /// `Content-Type` contains `application/json` and the method is not GET.
    pub json: bool,
    pub query: Option<&'a str>,
    /// The body when it holds parameters (JSON, or a form), else empty.
    pub body: &'a [u8],
}

impl<'a> Inbound<'a> {
    fn new(parts: &'a http::request::Parts, body: &'a Bytes) -> Self {
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let json = content_type.contains("application/json") && parts.method != Method::GET;
        // A servlet container reads parameters from a body only when it is a form.
        let form = content_type.contains("application/x-www-form-urlencoded");
        Inbound {
            json,
            query: parts.uri.query(),
            body: if json || form { body } else { &[] },
        }
    }
}

async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, GatewayError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Err(e) => Err(GatewayError::Conversion(format!(
            "body could not be read: {e}"
        ))),
    }
}
