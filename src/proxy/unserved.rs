//! epay requests at endpoints paybridge does not translate: `api.php` with an `act` other than
//! `order` and `refund` (`query`, `settle`, `orders`, none at all), and V2 methods other than
//! `/api/pay/{submit,create,query,refund,refundquery,close}` (`/api/merchant/info`,
//! `/api/transfer/*`, a misspelt one), and `/api/…` paths that are no route of the gateway's
//! (`/api/pay/a-b`: its `URL Error!`).
//!
//! They are routed by `pid`, as the merchant's other requests are: a merchant whose route
//! passes through reaches its legacy gateway byte for byte (which may serve them); one whose
//! route translates gets the gateway's own answer for a method it lacks (epay.md §6.4 and §7:
//! `{"code":-5,"msg":"No Act!"}`, `{"code":-5,"msg":"接口方法不存在"}`, `{"code":-5,"msg":"URL Error!"}`), never another dialect's
//! bytes. Why not serve `query`/`settle`/`orders`: they report the merchant's balance, settlements
//! and order list at *that* gateway, which paybridge does not hold; made-up figures would be
//! worse than a refusal every epay client already reads as "not available".

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::context::Context;
use super::passthrough;
use super::routing::{self, Facts, Route};
use super::runtime::{reply_answer, Runtime};
use crate::dialect::epay::failure::{no_act, no_method, url_error};
use crate::dialect::epay::Epay;
use crate::dialect::failures::Speaker;
use crate::dialect::merchant::MerchantDialect;
use crate::dispatch::{Endpoint, EpayEndpoint, EPAY_API_PATH};
use crate::domain::Failure;
use crate::telemetry::access::UpstreamName;

/// Which kind of endpoint paybridge does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unserved {
    /// `api.php` with another `act` (or none).
    ApiAct,
    /// `/api/<class>/<method>`, a V2 method paybridge does not have.
    V2Method,
    /// Another `/api/…` path (`/api/pay/a-b`): no route of the gateway's at all.
    UrlError,
}

impl Unserved {
    /// The served endpoint whose reading and failure words this one shares: `api.php`'s (the
    /// query string, plain `json_encode`) or V2's (the form body, `echojson`).
    fn like(self) -> EpayEndpoint {
        match self {
            Unserved::ApiAct => EpayEndpoint::ApiOrder,
            Unserved::V2Method | Unserved::UrlError => EpayEndpoint::V2Query,
        }
    }

    /// The gateway's answer for it.
    fn refusal(self) -> Response<Full<Bytes>> {
        let reply = match self {
            Unserved::ApiAct => no_act(),
            Unserved::V2Method => no_method(),
            Unserved::UrlError => url_error(),
        };
        passthrough::into_response(reply_answer(reply.into()))
    }
}

/// Routes the request by its `pid` and passes it through, or answers the gateway's refusal.
pub(super) async fn serve(
    rt: &Runtime,
    cx: &Context,
    unserved: Unserved,
) -> Result<Response<Full<Bytes>>, Failure> {
    let like = unserved.like();
    cx.note(|r| {
        r.speaker = Some(Speaker {
            endpoint: Endpoint::Epay(like),
            platform_key: rt.config.epay.platform_key.clone(),
        })
    });
    // The map the gateway reads (a body that is no form gives no parameters, so no `pid`).
    let params = cx.params::<Epay>(Some(Endpoint::Epay(like)), &[]).ok();
    let pid = params.as_ref().and_then(|p| Epay::identity(p).pid);
    let facts = Facts {
        path: match unserved {
            Unserved::ApiAct => EPAY_API_PATH,
            Unserved::V2Method | Unserved::UrlError => cx.parts.uri.path(),
        },
        mch_no: None,
        app_id: None,
        pid,
        headers: &cx.parts.headers,
    };
    match routing::decide(&rt.config.routing, &facts, false).route {
        Route::Passthrough { upstream, .. } => {
            cx.note(|r| {
                r.action = Some("passthrough");
                r.upstream = Some(UpstreamName::Legacy(upstream.clone()));
            });
            let answer = passthrough::forward(rt, cx, upstream).await?;
            Ok(passthrough::into_response(answer))
        }
        Route::Translate { .. } => {
            cx.note(|r| {
                r.action = Some("unserved");
                r.code = Some(-5);
            });
            Ok(unserved.refusal())
        }
    }
}
