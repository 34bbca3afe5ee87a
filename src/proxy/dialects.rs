//! Which dialect a request is in, where its path does not say it alone: epay's `api.php` (its
//! `act`), the two paths Jeepay and epay V2 share (`/api/pay/query`, `/api/pay/close`: `pid`
//! and no `mchNo` is epay's; both is refused), and other `/api/…` paths (epay V2 methods
//! paybridge does not serve, or paths the gateway answers `URL Error!`, when a form body
//! carries `pid` and no `mchNo`).

use http::Method;

use super::context::Context;
use super::unserved::Unserved;
use crate::dialect::jeepay::dialect::is_form;
use crate::dialect::jeepay::params::is_blank;
use crate::dialect::jeepay::Jeepay;
use crate::dialect::merchant::MerchantDialect;
use crate::dispatch::{Endpoint, EpayEndpoint, OpKind};
use crate::domain::Failure;

/// What `api.php`'s `act` names. epay reads `act` from the query string always (epay.md §2;
/// `act=refund` must be there, its other parameters in the body). An act paybridge does not
/// translate (`orders`, `query`, `settle`, another, none) is still epay's: `proxy::unserved`
/// routes it by `pid` (passed through, or refused with the gateway's `No Act!`).
pub(super) fn api_php(query: Option<&str>) -> Result<EpayEndpoint, Unserved> {
    query
        .and_then(|query| form_value(query.as_bytes(), "act"))
        .and_then(|act| EpayEndpoint::api_act(&act))
        .ok_or(Unserved::ApiAct)
}

/// Whether a request to a path that is no endpoint is an epay V2 call paybridge does not
/// serve, and which: under `/api/` (the gateway rewrites every such path to its `api.php`) with
/// `pid` in a form body (V2 reads `$_POST` only) and no `mchNo` as Jeepay would bind it. A
/// path of two word names (`/api/<class>/<method>`) is a method paybridge lacks; any other
/// (`/api/pay/a-b`, `/api/pay`) is the gateway's `URL Error!` (`ApiHelper::load_api`'s
/// pattern, epay.md §7). Any other request keeps Jeepay's handling. A JSON body (every Jeepay
/// SDK's) costs no parse.
pub(super) fn unserved_v2(cx: &Context) -> Option<Unserved> {
    let path = cx.parts.uri.path();
    if !path.starts_with("/api/") {
        return None;
    }
    let inbound = cx.inbound();
    let form_body =
        (*inbound.method == Method::POST && is_form(inbound.content_type)).then_some(inbound.body);
    let pid_given = form_body
        .and_then(|body| form_value(body, "pid"))
        .is_some_and(|pid| !is_blank(&pid));
    let epays = pid_given
        && !Jeepay::read_params(&inbound, None, &[])
            .is_ok_and(|params| Jeepay::identity(&params).mch_no.is_some());
    match (epays, is_v2_route(path)) {
        (false, _) => None,
        (true, true) => Some(Unserved::V2Method),
        (true, false) => Some(Unserved::UrlError),
    }
}

/// What the server does with an epay request (one carrying `pid`) at `path` with `query`, as
/// `paybridge route` explains it: `None` when the path alone decides (`dispatch::target`);
/// else the endpoint it translates (`api.php` by its `act`), or the gateway's answer it gives a
/// translated merchant for an endpoint paybridge does not serve (`proxy::unserved`).
pub fn epay_at(path: &str, query: Option<&str>) -> Option<Result<EpayEndpoint, &'static str>> {
    match crate::dispatch::target(path) {
        crate::dispatch::Target::EpayApi => {
            Some(api_php(query).map_err(|_| r#"{"code":-5,"msg":"No Act!"}"#))
        }
        crate::dispatch::Target::Other if path.starts_with("/api/") => {
            Some(Err(match is_v2_route(path) {
                true => r#"{"code":-5,"msg":"接口方法不存在"}"#,
                false => r#"{"code":-5,"msg":"URL Error!"}"#,
            }))
        }
        _ => None,
    }
}

/// `/api/<class>/<method>`, each name two or more ASCII letters, digits or `_` (the gateway's
/// pattern lets the first character be anything; a path with other characters is no request
/// an epay client makes).
fn is_v2_route(path: &str) -> bool {
    let word = |name: &str| {
        name.len() >= 2 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    path.strip_prefix("/api/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(class, method)| word(class) && word(method))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_php_names_its_endpoint_by_act_from_the_query_string() {
        assert_eq!(api_php(Some("act=order&pid=1")), Ok(EpayEndpoint::ApiOrder));
        assert_eq!(
            api_php(Some("act=x&act=refund")),
            Ok(EpayEndpoint::ApiRefund)
        );
        for query in [
            Some("act=query"),
            Some("act=settle"),
            Some("act="),
            Some("pid=1"),
            None,
        ] {
            assert_eq!(api_php(query), Err(Unserved::ApiAct), "{query:?}");
        }
    }

    #[test]
    fn v2_routes_are_two_word_names_under_api() {
        for yes in ["/api/pay/foo", "/api/merchant/info", "/api/transfer/submit"] {
            assert!(is_v2_route(yes), "{yes}");
        }
        for no in [
            "/api/pay/x",
            "/api/pay",
            "/api/pay/a/b",
            "/api/pay/a-b",
            "/submit.php",
            "/api//x",
        ] {
            assert!(!is_v2_route(no), "{no}");
        }
    }
}
