//! Passthrough: the merchant's request forwarded unchanged to a legacy Jeepay gateway, and its
//! answer returned unchanged, status and body.
//!
//! One exception: a request that reached a translated operation by an alias of its path
//! (`/api/pay/%63lose`, `/api/pay/close;x=1`, `/api/pay/close/`; `dispatch::target`) goes to
//! the gateway under the operation's own path, query unchanged. The raw alias is never
//! forwarded: a legacy gateway behind another server might map it to something else, or to
//! the same handler by a route paybridge did not choose.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, Uri};
use http_body_util::Full;

use super::context::Context;
use super::runtime::Runtime;
use crate::config::LegacyUpstream;
use crate::dispatch::Endpoint;
use crate::domain::Failure;
use crate::upstream::Answered;

pub(super) async fn forward(
    rt: &Runtime,
    cx: &Context,
    upstream: &Arc<LegacyUpstream>,
) -> Result<Answered, Failure> {
    let client = rt
        .upstreams
        .legacy(&upstream.name)
        .ok_or(Failure::Internal)?;
    let p = &cx.parts;
    let uri = forwarded_uri(&p.uri, cx.endpoint.map(Endpoint::path))?;
    Ok(client
        .forward(&p.method, &uri, &p.headers, cx.body.clone(), cx.peer)
        .await?)
}

/// The request's URI as the gateway gets it: unchanged, unless its path is an alias of the
/// operation's own path, which then replaces it (the query stays as it came).
fn forwarded_uri<'u>(uri: &'u Uri, path: Option<&'static str>) -> Result<Cow<'u, Uri>, Failure> {
    let canonical = match path {
        Some(path) if uri.path() != path => path,
        _ => return Ok(Cow::Borrowed(uri)),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical.to_owned(),
    };
    // The query came in a valid URI and the path is a constant: this cannot fail.
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path_and_query.parse().map_err(|_| Failure::Internal)?);
    Uri::from_parts(parts)
        .map(Cow::Owned)
        .map_err(|_| Failure::Internal)
}

pub(super) fn into_response(answer: Answered) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_forwarded_under_the_operations_path_and_nothing_else_changes() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let forwarded = |raw: &str, op| forwarded_uri(&uri(raw), op).unwrap().to_string();
        assert_eq!(
            forwarded(
                "/api/pay/%63lose;x=1?a=%2F&b",
                Some(crate::domain::OpKind::Close.path())
            ),
            "/api/pay/close?a=%2F&b"
        );
        assert_eq!(
            forwarded(
                "/api/refund/refundOrder/",
                Some(crate::domain::OpKind::Refund.path())
            ),
            "/api/refund/refundOrder"
        );
        let exact = uri("/api/pay/close?x=1");
        assert!(matches!(
            forwarded_uri(&exact, Some(crate::domain::OpKind::Close.path())),
            Ok(Cow::Borrowed(_))
        ));
        let other = uri("/api/pay/aliBarOrder;a=%2f?q=%zz");
        assert!(matches!(forwarded_uri(&other, None), Ok(Cow::Borrowed(u)) if *u == other));
    }
}
