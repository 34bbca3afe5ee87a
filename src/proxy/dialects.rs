//! Which dialect a request is in, where its path does not say it alone: epay's `api.php` (its
//! `act`) and the two paths Jeepay and epay V2 share (`/api/pay/query`, `/api/pay/close`:
//! `pid` and no `mchNo` is epay's; both is refused), and the entry of epay requests.

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::Full;

use super::context::Context;
use super::passthrough;
use super::routing::{self, Facts, Route};
use super::runtime::Runtime;
use crate::dialect::epay::params::from_form;
use crate::dialect::jeepay::dialect::is_form;
use crate::dialect::jeepay::params::is_blank;
use crate::dialect::jeepay::Jeepay;
use crate::dialect::merchant::MerchantDialect;
use crate::dispatch::{Endpoint, EpayEndpoint, OpKind};
use crate::domain::Failure;
use crate::replay::Store;

/// The endpoint `api.php`'s `act` names. epay reads `act` from the query string always
/// (epay.md §2; `act=refund` must be there, its other parameters in the body). An act
/// paybridge does not translate (`orders`, `query`, `settle`) is no endpoint: the path is
/// then passed through as any other.
pub(super) fn api_php(query: Option<&str>) -> Option<EpayEndpoint> {
    let act = form_value(query?.as_bytes(), "act")?;
    EpayEndpoint::api_act(&act)
}

/// The last value of `name` in a form-encoded text (PHP: the last of repeated names wins).
fn form_value(encoded: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(encoded)
        .filter(|(k, _)| k == name)
        .last()
        .map(|(_, v)| v.into_owned())
}

/// A request to a path Jeepay shares with epay V2 is epay's when it carries `pid` and no
/// `mchNo` (as Jeepay would bind it); carrying both, it is refused (no dialect can be chosen
/// safely). epay V2 reads a form POST body only (epay.md §2): a JSON body is Jeepay's.
pub(super) fn shared_path(cx: &Context, kind: OpKind) -> Result<Option<Endpoint>, Failure> {
    let jeepay = Some(Endpoint::Jeepay(kind));
    let Some(epay) = EpayEndpoint::sharing(kind) else {
        return Ok(jeepay);
    };
    let inbound = cx.inbound();
    let form_body =
        (*inbound.method == Method::POST && is_form(inbound.content_type)).then_some(inbound.body);
    let given = |encoded: Option<&[u8]>| {
        encoded
            .and_then(|e| form_value(e, "pid"))
            .is_some_and(|pid| !is_blank(&pid))
    };
    if !given(form_body) && !given(inbound.query.map(str::as_bytes)) {
        return Ok(jeepay);
    }
    // `pid` is given: Jeepay's own reading decides whether an `mchNo` is there too.
    let mch_no_given = Jeepay::read_params(&inbound, jeepay, &[])
        .is_ok_and(|params| Jeepay::identity(&params).mch_no.is_some());
    if mch_no_given {
        return Err(Failure::Invalid {
            kind: "two_dialects",
            words: "参数有误[请求同时含有pid与mchNo，无法确定接口类型]",
        });
    }
    Ok(Some(Endpoint::Epay(epay)))
}

/// An epay request. Until the epay dialect's operations are wired, an epay merchant is routed
/// by its `pid` and passed through; a request routed to be translated is refused (404).
pub(super) async fn epay(
    rt: &Runtime,
    _replay: Option<&Store>,
    cx: &Context,
    endpoint: Endpoint,
) -> Result<Response<Full<Bytes>>, Failure> {
    let inbound = cx.inbound();
    let pid = from_form(std::str::from_utf8(inbound.body).unwrap_or_default())
        .ok()
        .and_then(|params| params.into_iter().find(|(k, _)| k == "pid").map(|(_, v)| v));
    let facts = Facts {
        path: endpoint.path(),
        mch_no: None,
        app_id: None,
        pid: pid.as_deref(),
        headers: &cx.parts.headers,
    };
    match routing::decide(&rt.config.routing, &facts, false).route {
        Route::Passthrough { upstream, .. } => {
            cx.note(|r| {
                r.action = Some("passthrough");
                r.upstream = Some(crate::telemetry::access::UpstreamName::Legacy(
                    upstream.clone(),
                ));
            });
            passthrough::forward(rt, cx, upstream)
                .await
                .map(passthrough::into_response)
        }
        Route::Translate { .. } => Err(Failure::NotFound(cx.parts.uri.path().to_owned())),
    }
}
