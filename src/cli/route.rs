//! `paybridge route`: which rule a request would match, why, and what would be sent where.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, DaxTarget, DEFAULT_PATH};
use crate::dialect::merchant::Identity;
use crate::proxy::routing::{self as table, Facts, Route};

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[arg(long, env = "PAYBRIDGE_CONFIG", default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// The request path.
    #[arg(long, default_value = "/api/pay/close")]
    path: String,
    #[arg(long)]
    mch_no: Option<String>,
    #[arg(long)]
    app_id: Option<String>,
    /// An epay merchant's `pid` (epay paths: `/mapi.php`, `/api/pay/create`, ...).
    #[arg(long)]
    pid: Option<String>,
    /// A request header, `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
}

pub fn run(args: RouteArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paybridge route: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let parsed = h.split_once(':').and_then(|(n, v)| {
            Some((
                HeaderName::try_from(n.trim()).ok()?,
                HeaderValue::try_from(v.trim()).ok()?,
            ))
        });
        match parsed {
            Some((n, v)) => {
                headers.append(n, v);
            }
            None => {
                eprintln!("paybridge route: `{h}` is not a header like `name: value`");
                return ExitCode::from(2);
            }
        }
    }
    let identity = Identity {
        mch_no: args.mch_no.as_deref(),
        app_id: args.app_id.as_deref(),
        pid: args.pid.as_deref(),
    };
    super::output::emit(&explain_identity(&config, &args.path, identity, &headers));
    ExitCode::SUCCESS
}

/// The explanation `paybridge route` prints, for a Jeepay merchant.
pub fn explain(
    config: &Config,
    path: &str,
    mch_no: Option<&str>,
    app_id: Option<&str>,
    headers: &HeaderMap,
) -> String {
    let identity = Identity {
        mch_no,
        app_id,
        pid: None,
    };
    explain_identity(config, path, identity, headers)
}

/// The explanation `paybridge route` prints, for the merchant `identity` names (Jeepay's
/// `mchNo`/`appId`, or epay's `pid`).
pub fn explain_identity(
    config: &Config,
    path: &str,
    identity: Identity<'_>,
    headers: &HeaderMap,
) -> String {
    let Identity {
        mch_no,
        app_id,
        pid,
    } = identity;
    // The query is no part of the path routing sees; epay's `api.php` reads its `act` there.
    let (shown, (path, query)) = (
        path,
        path.split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q))),
    );
    let facts = Facts {
        path,
        mch_no,
        app_id,
        pid,
        headers,
    };
    let decision = table::decide(&config.routing, &facts, true);
    let mut out = String::new();
    let rule = match decision.rule {
        Some(i) => format!("rule {i} `{}`", decision.rule_name),
        None => "the default rule".to_owned(),
    };
    match pid {
        Some(pid) => out.push_str(&format!("request: {shown} pid={pid}\n")),
        None => out.push_str(&format!(
            "request: {shown} mchNo={} appId={}\n",
            mch_no.unwrap_or("-"),
            app_id.unwrap_or("-")
        )),
    }
    out.push_str(&format!("matches: {rule}\n"));
    for reason in &decision.reasons {
        out.push_str(&format!("  because {reason}\n"));
    }
    let merchant = match pid {
        Some(pid) => config.merchants.by_pid(pid),
        None => mch_no
            .zip(app_id)
            .and_then(|(m, a)| config.merchants.lookup(m, a).ok()),
    };
    match decision.route {
        Route::Translate { upstream, fallback } => {
            let epay = pid.and_then(|_| crate::proxy::epay_at(path, query));
            let op = match (epay, crate::dispatch::target(path)) {
                (Some(Ok(endpoint)), _) => Some(endpoint.op()),
                (Some(Err(answer)), _) => {
                    out.push_str(&format!(
                        "action: translate, but paybridge does not serve {shown}: the merchant gets the gateway's {answer}\n"
                    ));
                    return out;
                }
                (None, crate::dispatch::Target::Operation(op)) => Some(op),
                (None, crate::dispatch::Target::Epay(endpoint)) => Some(endpoint.op()),
                _ => None,
            };
            let Some(op) = op else {
                out.push_str(&format!(
                    "action: translate, but {path} is not translated: the merchant gets HTTP 404\n"
                ));
                return out;
            };
            let Some(m) = merchant else {
                out.push_str(if pid.is_some() {
                    "action: translate, but no epay merchant is configured for this pid: the merchant gets 商户不存在！\n"
                } else {
                    "action: translate, but no merchant app is configured for this mchNo/appId: the merchant gets 9999 商户或商户应用不存在\n"
                });
                return out;
            };
            let u = upstream.unwrap_or(&m.daxpay.upstream);
            let (call, fixed) = crate::proxy::daxpay_call(op, u.version(), m);
            out.push_str(&format!(
                "action: translate {} → DaxPay {} ({}, {} {}): POST {}{}\n",
                op.as_str(),
                u.name,
                u.base_url,
                u.version(),
                u.scheme.sign_type,
                u.base_url,
                call.path()
            ));
            let fixed: Vec<String> = fixed.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(
                "  as mchNo={} appId={}; payOrderId → orderNo, mchOrderNo → bizOrderNo{}{}\n",
                m.daxpay.mch_no.as_deref().unwrap_or("-"),
                m.daxpay.app_id.as_deref().unwrap_or("-"),
                if fixed.is_empty() { "" } else { "; " },
                fixed.join(", ")
            ));
            match fallback {
                Some(f) if crate::proxy::registry::falls_back(op, m) => out.push_str(&format!(
                    "  fallback: when DaxPay answers 20041 (no such order), the original request goes to legacy {} ({})\n",
                    f.name, f.base_url
                )),
                Some(_) => out.push_str(&format!(
                    "  no fallback for {}: a new order belongs to DaxPay\n",
                    op.as_str()
                )),
                None => {}
            }
        }
        Route::Passthrough {
            upstream,
            fallback,
            shadow,
        } => {
            out.push_str(&format!(
                "action: pass through → legacy {}: {}{} unchanged (body, method, query, end-to-end headers)\n",
                upstream.name, upstream.base_url, shown
            ));
            let dax = |t: &DaxTarget| match (t, merchant) {
                (DaxTarget::Named(u), _) => format!("{} ({})", u.name, u.base_url),
                (DaxTarget::MerchantIdentity, Some(m)) => format!(
                    "{} ({})",
                    m.daxpay.upstream.name, m.daxpay.upstream.base_url
                ),
                (DaxTarget::MerchantIdentity, None) => {
                    "the merchant's DaxPay upstream (no merchant app configured!)".to_owned()
                }
            };
            if let Some(f) = fallback {
                out.push_str(&format!("  fallback: when the legacy gateway answers 订单不存在, translate to DaxPay {}\n", dax(f)));
            }
            if let Some(s) = shadow {
                out.push_str(&format!(
                    "  shadow: builds and logs the DaxPay request for {} without sending it\n",
                    dax(s)
                ));
            }
        }
    }
    out
}
