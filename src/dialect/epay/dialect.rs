//! epay as a [`MerchantDialect`]: parameters read from the one map the gateway reads for the
//! endpoint (epay.md §2), the merchant found by `pid`, the MD5 or RSA signature (V2 with its
//! timestamp) or `api.php`'s key in clear; and every domain operation a `MerchantOp<Epay>`
//! (`ops/<op>.rs` hold the wire forms; this file only plugs them in).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::answer::{EpayReply, Signing};
use super::auth::{self, Credentials};
use super::cashier;
use super::ops::{self, NamedOrder};
use super::params::{from_wire, Source};
use super::request::{Endpoint, EpayRequest};
use super::sign::{Filter, RsaSigner};
use super::trade_no::now_secs;
use super::ways::EpayWays;
use crate::config::{Config, Merchant};
use crate::dialect::jeepay::dialect::is_form;
use crate::dialect::merchant::{
    Answer, Checked, Identity, Inbound, MerchantDialect, MerchantOp, OrderFacts,
};
use crate::dispatch::{Dialect, Endpoint as AnyEndpoint, OpKind};
use crate::domain::ops::{
    Close, Closed, Paid, Pay, PayQuery, Refund, RefundQuery, RefundRecord, Refunded,
};
use crate::domain::order::{OrderRef, PayOrder};
use crate::domain::Failure;

/// The epay merchant dialect.
#[derive(Debug, Clone, Copy)]
pub struct Epay;

/// A verified epay request, as the operations read it. `Debug` shows the request as
/// [`EpayRequest`]'s does: never `key` nor `sign`.
#[derive(Debug)]
pub struct Verified<'p> {
    pub request: &'p EpayRequest,
    /// `intval(pid)`.
    pub pid: i64,
    /// Unix seconds when it was verified (new numbers are dated so).
    pub now: i64,
}

/// What an epay answer needs beyond the outcome: where the request came in, the key V2 answers
/// are signed with, and what the request said that the answer repeats.
#[derive(Debug, Clone)]
pub struct Answering {
    pub endpoint: Endpoint,
    pub platform_key: Option<Arc<RsaSigner>>,
    pub pid: i64,
    /// The `trade_no` the request named its order by, if it did.
    pub trade_no: Option<String>,
    /// A refund's `money` as posted, trimmed (the gateway echoes it so).
    pub money_text: String,
    /// What the order store keeps of the named order in epay's terms (`learnt`).
    pub facts: Option<OrderFacts>,
    /// A pay request asked for a URL only (`device=jump`, V2 `method=jump`).
    pub jump: bool,
    /// A refund request's number is paybridge's own (`ops::refund::generates_number`).
    pub refund_number_generated: bool,
}

impl Answering {
    /// V2's signing, with a fresh timestamp.
    fn signing(&self) -> Option<Signing<'_>> {
        self.platform_key.as_deref().map(|platform_key| Signing {
            platform_key,
            now: now_secs(),
        })
    }
}

/// The epay endpoint of a request the gateway routed here.
fn epay_endpoint(endpoint: Option<AnyEndpoint>) -> Option<Endpoint> {
    match endpoint {
        Some(AnyEndpoint::Epay(e)) => Some(e),
        _ => None,
    }
}

/// The text PHP would decode into `$_GET` / `$_POST` (`source`); a body that is no form gives
/// no parameters.
fn form_params(text: Option<&str>, source: Source) -> Result<Vec<(String, String)>, Failure> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => from_wire(text, source).map_err(|e| Failure::Unreadable(e.to_string())),
    }
}

impl MerchantDialect for Epay {
    type Params<'a> = EpayRequest;
    type Verified<'p> = Verified<'p>;
    type Answering = Answering;

    /// The one map the gateway reads (epay.md §2): `submit.php` and `/api/pay/submit` the query
    /// string when it has `pid`, else the form body; `api.php?act=order` the query string; every
    /// other endpoint the form body only (build 3094's `mapi.php` is POST-only). Multipart
    /// bodies are not read.
    fn read_params<'a>(
        inbound: &Inbound<'a>,
        endpoint: Option<AnyEndpoint>,
        _declared: &'static [&'static str],
    ) -> Result<EpayRequest, Failure> {
        let endpoint = epay_endpoint(endpoint).unwrap_or(Endpoint::Mapi);
        let body = (*inbound.method == http::Method::POST && is_form(inbound.content_type))
            .then(|| std::str::from_utf8(inbound.body).ok())
            .flatten();
        let query = form_params(inbound.query, Source::Query)?;
        let mut params = match endpoint {
            Endpoint::ApiOrder => query,
            Endpoint::Submit | Endpoint::V2Submit if query.iter().any(|(k, _)| k == "pid") => query,
            _ => form_params(body, Source::Body)?,
        };
        // A page's payer's pick on paybridge's cashier: out of the merchant's parameters, as
        // the gateway takes its own `__defend` out before verifying (`cashier.rs`).
        let payer_type = match endpoint.is_page() {
            true => params
                .iter()
                .position(|(k, _)| k == cashier::PAYER_TYPE)
                .map(|at| params.remove(at).1),
            false => None,
        };
        let mut request = EpayRequest::new(endpoint, params);
        request.payer_type = payer_type;
        request.peer = inbound.peer;
        request.user_agent = inbound.user_agent.map(str::to_owned);
        Ok(request)
    }

    /// `pid` as `verify` looks the merchant up (`intval`: `1001abc` is 1001), so that routing
    /// and verification agree.
    fn identity<'p>(params: &'p EpayRequest) -> Identity<'p> {
        Identity {
            mch_no: None,
            app_id: None,
            pid: params.pid.as_deref(),
        }
    }

    /// epay's "order does not exist": HTTP 200, `code` -1 and `订单号不存在` (query) or
    /// `当前订单不存在！` (refund, close), whichever way the JSON spells the Chinese.
    fn says_no_such_order(status: http::StatusCode, body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Verdict {
            code: serde_json::Value,
            msg: Option<String>,
        }
        status == http::StatusCode::OK
            && serde_json::from_slice::<Verdict>(body).is_ok_and(|v| {
                let code = v.code.as_i64().or_else(|| v.code.as_str()?.parse().ok());
                code == Some(-1)
                    && matches!(v.msg.as_deref(), Some("订单号不存在" | "当前订单不存在！"))
            })
    }

    /// An epay answer of the endpoint's version (`legacy_answer`): JSON with one of epay's codes;
    /// a V2 success signed as V2 signs.
    fn answers_in_dialect(endpoint: AnyEndpoint, status: http::StatusCode, body: &[u8]) -> bool {
        epay_endpoint(Some(endpoint))
            .is_some_and(|endpoint| super::legacy_answer::is_epay(endpoint, status, body))
    }

    /// The order's `trade_no`, `type`, numbers and refunds so far, for the answer.
    fn learnt(answering: &mut Answering, facts: OrderFacts) {
        answering.facts = Some(facts);
    }

    fn verify<'p, 'a: 'p>(
        params: &'p EpayRequest,
        endpoint: AnyEndpoint,
        config: &Config,
    ) -> Result<Checked<Verified<'p>, Answering>, Failure> {
        let endpoint = epay_endpoint(Some(endpoint)).unwrap_or(params.endpoint);
        let pid = auth::pid(params)?;
        let merchant = config
            .merchants
            .by_pid(params.pid.as_deref().unwrap_or_default())
            .filter(|m| m.dialect == Dialect::Epay)
            .ok_or(Failure::UnknownMerchant)?;
        let epay = merchant.epay.as_ref().ok_or(Failure::UnknownMerchant)?;
        let credentials = Credentials {
            key: merchant.secret.expose(),
            public_key: epay.public_key.as_deref(),
            rsa_only: false,
            filter: Filter::Build3094,
        };
        let now = now_secs();
        auth::authenticate(params, &credentials, now)?;
        let platform_key = config.epay.platform_key.clone();
        // Nothing could sign a V2 answer: refused before anything is done.
        if endpoint.is_v2() && platform_key.is_none() {
            return Err(Failure::Invalid {
                kind: "epay_no_platform_key",
                words: "系统异常[平台RSA密钥未配置，V2接口不可用]",
            });
        }
        let sign = params.given("sign").map(str::to_owned);
        // V2 requests are claimed for replay by their signature (its timestamp makes each one
        // unique). V1 has none: a byte-identical re-submit of `submit.php` / `mapi.php` is normal
        // traffic that the gateway answers afresh (the same `trade_no` while unpaid, refused once
        // paid: the order store's repeat rule does that), and `api.php` is not signed at all (a
        // re-sent refund refunds again, as at the gateway).
        let replay_id = if endpoint.is_v2() { sign } else { None };
        let fresh_until = endpoint
            .is_v2()
            .then(|| params.get("timestamp")?.parse::<u64>().ok())
            .flatten()
            .map(|ts| {
                UNIX_EPOCH + Duration::from_secs(ts + super::sign::TIMESTAMP_WINDOW_SECS as u64)
            });
        let trade_no = NamedOrder::read(params).ok().and_then(|n| match n {
            NamedOrder::TradeNo(t) => Some(t),
            NamedOrder::OutTradeNo(_) => None,
        });
        let money_text = params
            .field("money")
            .trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
            .to_owned();
        Ok(Checked {
            request: Verified {
                request: params,
                pid,
                now,
            },
            merchant: merchant.clone(),
            replay_id,
            fresh_until,
            answering: Answering {
                endpoint,
                platform_key,
                pid,
                trade_no,
                money_text,
                facts: None,
                jump: ops::pay::asks_for_jump(params),
                refund_number_generated: ops::refund::generates_number(params),
            },
        })
    }
}

fn into_answer(reply: EpayReply) -> Answer {
    reply.into()
}

/// The `trade_no` the request names its order by (the pipeline finds the order for it).
fn named_trade_no(request: &Verified<'_>) -> Option<String> {
    match NamedOrder::read(request.request) {
        Ok(NamedOrder::TradeNo(t)) => Some(t),
        _ => None,
    }
}

impl MerchantOp<Epay> for Pay {
    const FIELDS: &'static [&'static str] = &[];

    fn read(request: &Verified<'_>, _kind: OpKind, merchant: &Merchant) -> Result<Pay, Failure> {
        let ways = merchant
            .epay
            .as_ref()
            .map_or_else(EpayWays::default, |e| EpayWays::new(&e.way_codes));
        ops::pay::read(request.request, merchant, &ways, request.now)
    }

    fn sample(kind: OpKind, merchant: &Merchant) -> Pay {
        <Pay as crate::dialect::jeepay::ops::JeepayOp>::sample(kind, merchant)
    }

    fn answer(&self, paid: &Paid, answering: &Answering, _merchant: &Merchant) -> Answer {
        into_answer(ops::pay::answer(
            self,
            paid,
            answering.endpoint,
            answering.jump,
            answering.signing(),
        ))
    }
}

impl MerchantOp<Epay> for PayQuery {
    const FIELDS: &'static [&'static str] = &[];

    fn read(request: &Verified<'_>, _kind: OpKind, _merchant: &Merchant) -> Result<Self, Failure> {
        ops::pay_query::read(request.request)
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> PayQuery {
        PayQuery {
            order: OrderRef::default(),
        }
    }

    fn trade_no(request: &Verified<'_>) -> Option<String> {
        named_trade_no(request)
    }

    fn answer(&self, order: &PayOrder, answering: &Answering, _merchant: &Merchant) -> Answer {
        into_answer(ops::pay_query::answer(
            order,
            &ops::facts_of(
                order,
                answering.trade_no.as_deref(),
                answering.facts.as_ref(),
            ),
            answering.endpoint,
            answering.pid,
            answering.signing(),
        ))
    }
}

impl MerchantOp<Epay> for Refund {
    const FIELDS: &'static [&'static str] = &[];

    fn read(request: &Verified<'_>, _kind: OpKind, merchant: &Merchant) -> Result<Self, Failure> {
        ops::refund::read(request.request, merchant, request.now)
    }

    fn sample(kind: OpKind, merchant: &Merchant) -> Refund {
        <Refund as crate::dialect::jeepay::ops::JeepayOp>::sample(kind, merchant)
    }

    fn trade_no(request: &Verified<'_>) -> Option<String> {
        named_trade_no(request)
    }

    fn answer(&self, refunded: &Refunded, answering: &Answering, merchant: &Merchant) -> Answer {
        let facts = answering.facts.as_ref();
        let out_trade_no = facts.map(|f| f.out_trade_no.as_str()).or_else(|| {
            self.order
                .biz_order_no
                .as_deref()
                .map(|n| ops::unprefixed(n, merchant))
        });
        let trade_no = facts
            .map(|f| f.trade_no.as_str())
            .or(answering.trade_no.as_deref());
        into_answer(ops::refund::answer(
            self,
            refunded,
            &ops::refund::Echo {
                endpoint: answering.endpoint,
                pid: answering.pid,
                money_text: &answering.money_text,
                trade_no,
                out_trade_no,
                number_generated: answering.refund_number_generated,
            },
            answering.signing(),
        ))
    }
}

impl MerchantOp<Epay> for RefundQuery {
    const FIELDS: &'static [&'static str] = &[];

    fn read(request: &Verified<'_>, _kind: OpKind, merchant: &Merchant) -> Result<Self, Failure> {
        ops::refund_query::read(request.request, merchant)
    }

    fn sample(kind: OpKind, merchant: &Merchant) -> RefundQuery {
        <RefundQuery as crate::dialect::jeepay::ops::JeepayOp>::sample(kind, merchant)
    }

    fn answer(&self, record: &RefundRecord, answering: &Answering, merchant: &Merchant) -> Answer {
        let facts = answering.facts.as_ref();
        into_answer(ops::refund_query::answer(
            answering.pid,
            merchant,
            record,
            facts.map(|f| f.trade_no.as_str()),
            facts.map(|f| f.out_trade_no.as_str()),
            answering.signing(),
        ))
    }
}

impl MerchantOp<Epay> for Close {
    const FIELDS: &'static [&'static str] = &[];

    fn read(request: &Verified<'_>, _kind: OpKind, _merchant: &Merchant) -> Result<Self, Failure> {
        ops::close::read(request.request)
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> Close {
        Close {
            order: OrderRef::default(),
            cancel: false,
        }
    }

    fn trade_no(request: &Verified<'_>) -> Option<String> {
        named_trade_no(request)
    }

    fn answer(&self, _closed: &Closed, answering: &Answering, _merchant: &Merchant) -> Answer {
        into_answer(ops::close::answer(answering.signing()))
    }
}

#[cfg(test)]
#[path = "dialect_tests.rs"]
mod tests;
