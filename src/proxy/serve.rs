//! A request whose dialect is known, routed and carried out: its parameters read as the dialect
//! reads them, the route decided by the identity they name, then translated through the
//! pipeline or passed through (shadowed, or translated instead on a verified "order does not
//! exist", when the route says so). Generic over the merchant dialect.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::context::Context;
use super::routing::{self, Facts, Route};
use super::runtime::{Routed, Runtime};
use super::{call, passthrough, registry};
use crate::config::{DaxTarget, LegacyUpstream};
use crate::dialect::merchant::{MerchantDialect, MerchantOp};
use crate::dispatch::Endpoint;
use crate::domain::ops::{Close, Pay, PayQuery, Refund, RefundQuery};
use crate::domain::Failure;
use crate::replay::Store;
use crate::telemetry::access::SharedText;

/// Serves a request in dialect `D` that came in at `endpoint` (`None`: a path that is no
/// operation, routed by its identity and passed through, or refused).
pub(super) async fn serve<D: MerchantDialect>(
    rt: &Runtime,
    replay: Option<&Store>,
    cx: &Context,
    endpoint: Option<Endpoint>,
) -> Result<Response<Full<Bytes>>, Failure>
where
    Close: MerchantOp<D>,
    Pay: MerchantOp<D>,
    PayQuery: MerchantOp<D>,
    Refund: MerchantOp<D>,
    RefundQuery: MerchantOp<D>,
{
    // Routing sees the operation's own path, whatever alias the request used.
    let path = match endpoint {
        Some(endpoint) => endpoint.path(),
        None => cx.parts.uri.path(),
    };
    // Read with the operation's declared fields, so that a translation reuses them. A route
    // never depends on a parse that failed: on a path the routing may translate, paybridge
    // answers an unreadable request itself (it could be a migrated merchant's, whose route
    // the unread identity would have chosen). Elsewhere it matches no merchant condition
    // and the chosen (legacy) route reports it.
    // Keys bind as the dialect binds them (Jeepay: `mch_no` is `mchNo`), so the route follows
    // the identity its gateway would read; a request whose identity cannot be bound (missing,
    // blank, two keys for it) is likewise answered by paybridge there, in the dialect's words,
    // never routed by default.
    let declared = endpoint.map_or(&[][..], |e| registry::fields::<D>(e.op()));
    let params = match cx.params::<D>(endpoint, declared) {
        Ok(params) => Some(params),
        Err(unreadable) if routing::may_translate(&rt.config.routing, path) => {
            return Err(unreadable)
        }
        Err(_) => None,
    };
    if let Some(refusal) = params.as_ref().and_then(|p| D::identity_refusal(p)) {
        if routing::may_translate(&rt.config.routing, cx.parts.uri.path()) {
            return Err(refusal);
        }
    }
    let identity = params.as_ref().map(|p| D::identity(p)).unwrap_or_default();
    let facts = Facts {
        path,
        mch_no: identity.mch_no,
        app_id: identity.app_id,
        pid: identity.pid,
        headers: &cx.parts.headers,
    };
    let decision = routing::decide(&rt.config.routing, &facts, false);
    if let Some(named) = identity.mch_no.or(identity.pid) {
        cx.note(|r| r.mch_no = Some(SharedText::within(&cx.body, named)));
    }
    let routed = Routed {
        cx,
        rule: decision.rule_name,
    };
    match decision.route {
        Route::Translate { upstream, fallback } => {
            let endpoint =
                endpoint.ok_or_else(|| Failure::NotFound(cx.parts.uri.path().to_owned()))?;
            let job = call::Job {
                rt,
                replay,
                routed: &routed,
                endpoint,
                op: endpoint.op(),
                upstream,
            };
            // Not boxed here: each operation's pipeline is boxed in its own arm (the registry).
            registry::translate::<D>(&job, params.as_ref(), fallback).await
        }
        Route::Passthrough {
            upstream,
            fallback,
            shadow,
        } => {
            let through = Through {
                upstream,
                fallback,
                shadow,
            };
            Box::pin(passed_through::<D>(
                rt,
                replay,
                &routed,
                endpoint,
                params.as_ref(),
                through,
            ))
            .await
        }
    }
}

/// A passthrough route: the legacy gateway, and what may follow it.
struct Through<'r> {
    upstream: &'r Arc<LegacyUpstream>,
    fallback: Option<&'r DaxTarget>,
    shadow: Option<&'r DaxTarget>,
}

/// A request passed through unchanged (shadowed first when asked), translated once instead
/// when the legacy gateway says the order does not exist and a fallback is configured (that
/// translation claims and records in the replay store like any other).
async fn passed_through<D: MerchantDialect>(
    rt: &Runtime,
    replay: Option<&Store>,
    routed: &Routed<'_>,
    endpoint: Option<Endpoint>,
    params: Option<&D::Params<'_>>,
    through: Through<'_>,
) -> Result<Response<Full<Bytes>>, Failure>
where
    Close: MerchantOp<D>,
    Pay: MerchantOp<D>,
    PayQuery: MerchantOp<D>,
    Refund: MerchantOp<D>,
    RefundQuery: MerchantOp<D>,
{
    let cx = routed.cx;
    let upstream = through.upstream;
    cx.note(|r| {
        r.action = Some("passthrough");
        r.upstream = Some(crate::telemetry::access::UpstreamName::Legacy(
            upstream.clone(),
        ));
    });
    if let (Some(target), Some(endpoint)) = (through.shadow, endpoint) {
        let job = call::Job {
            rt,
            replay: None,
            routed,
            endpoint,
            op: endpoint.op(),
            upstream: target.upstream(),
        };
        registry::shadow::<D>(&job, params);
    }
    let answer = passthrough::forward(rt, cx, upstream).await?;
    let fallback = through
        .fallback
        .zip(endpoint)
        .map(|(target, endpoint)| call::Job {
            rt,
            replay,
            routed,
            endpoint,
            op: endpoint.op(),
            upstream: target.upstream(),
        });
    match fallback {
        Some(job) if D::says_no_such_order(answer.status, &answer.body) => {
            Box::pin(registry::fallback::<D>(&job, params, answer)).await
        }
        _ => Ok(passthrough::into_response(answer)),
    }
}
