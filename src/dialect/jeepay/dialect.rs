//! Jeepay as a [`MerchantDialect`]: parameters read as its servlet stack reads them, the app
//! found by (`mchNo`, `appId`), the MD5 signature over the declared fields, the `reqTime`
//! window; every [`JeepayOp`] is a `MerchantOp<Jeepay>`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

use super::envelope::{Reply, JSON_UTF8};
use super::ops::JeepayOp;
use super::params::{is_blank, Params, Request};
use crate::config::{Config, LookupError, Merchant};
use crate::dialect::merchant::{Answer, Checked, Identity, Inbound, MerchantDialect, MerchantOp};
use crate::dispatch::{Dialect, Endpoint, OpKind};
use crate::domain::Failure;

/// The Jeepay merchant dialect.
#[derive(Debug, Clone, Copy)]
pub struct Jeepay;

impl MerchantDialect for Jeepay {
    type Params<'a> = Params<'a>;
    type Verified<'p> = Request<'p, 'p>;
    type Answering = ();

    fn read_params<'a>(
        inbound: &Inbound<'a>,
        _endpoint: Option<Endpoint>,
        declared: &'static [&'static str],
    ) -> Result<Params<'a>, Failure> {
        let (json, query, body) = servlet_view(inbound);
        Params::read(declared, json, query, body)
    }

    fn identity<'p>(params: &'p Params<'_>) -> Identity<'p> {
        let given = |text: Option<&'p str>| text.filter(|s| !is_blank(s));
        Identity {
            mch_no: given(params.get("mchNo")),
            app_id: given(params.get("appId")),
            pid: None,
        }
    }

    fn identity_refusal(params: &Params<'_>) -> Option<Failure> {
        params.identity_refusal()
    }

    /// A clean Jeepay "order does not exist": HTTP 200, `{"code":9999,"msg":"订单不存在"}`.
    fn says_no_such_order(status: http::StatusCode, body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Verdict<'a> {
            code: i64,
            #[serde(borrow)]
            msg: Option<std::borrow::Cow<'a, str>>,
        }
        status == http::StatusCode::OK
            && serde_json::from_slice::<Verdict<'_>>(body).is_ok_and(|v| {
                // A refund of an unknown order is `退款订单不存在` (sic) in Jeepay.
                v.code == super::failure::code::BUSINESS
                    && matches!(v.msg.as_deref(), Some("订单不存在" | "退款订单不存在"))
            })
    }

    fn verify<'p, 'a: 'p>(
        params: &'p Params<'a>,
        endpoint: Endpoint,
        config: &Config,
    ) -> Result<Checked<Request<'p, 'p>, ()>, Failure> {
        let request = params.validate()?;
        if !request.sign_type_supported() {
            return Err(Failure::UnsupportedSignType(request.sign_type().to_owned()));
        }
        let merchant = config
            .merchants
            .lookup(request.mch_no(), request.app_id())
            .map_err(|e| match e {
                LookupError::Unknown => Failure::UnknownMerchant,
                LookupError::AppOfAnotherMerchant => Failure::AppOfAnotherMerchant,
            })?;
        // An app of another dialect is no Jeepay app (its key signs that dialect's requests).
        if merchant.dialect != Dialect::Jeepay {
            return Err(Failure::UnknownMerchant);
        }
        if !request.verify(merchant.secret.expose()) {
            return Err(Failure::BadSignature);
        }
        let fresh_until = match merchant.req_time_window {
            Some(window) => Some(check_req_time(request.req_time(), window)? + window),
            None => None,
        };
        // The path is not signed: without the merchant's opt-in, a captured close is no cancel.
        if endpoint == Endpoint::Jeepay(OpKind::Cancel) && !merchant.allow_cancel {
            return Err(Failure::CancelNotAllowed);
        }
        // A verified signature is an MD5 digest in hex.
        if request.sign().len() != 32 {
            return Err(Failure::BadSignature);
        }
        Ok(Checked {
            replay_id: Some(request.sign().to_owned()),
            merchant: merchant.clone(),
            fresh_until,
            answering: (),
            request,
        })
    }
}

impl<T: JeepayOp> MerchantOp<Jeepay> for T {
    const FIELDS: &'static [&'static str] = <T as JeepayOp>::FIELDS;

    fn read(request: &Request<'_, '_>, kind: OpKind, merchant: &Merchant) -> Result<Self, Failure> {
        <T as JeepayOp>::read(request, kind, merchant)
    }

    fn sample(kind: OpKind, merchant: &Merchant) -> Self {
        <T as JeepayOp>::sample(kind, merchant)
    }

    /// `{code,data,msg,sign}`, `data` signed with the app's key.
    fn answer(&self, outcome: &Self::Outcome, _answering: &(), m: &Merchant) -> Answer {
        let data = self.data(outcome, m);
        let body = Reply::success(
            m.success.code,
            m.success.msg.clone(),
            data,
            m.secret.expose(),
        )
        .to_bytes();
        Answer {
            status: http::StatusCode::OK,
            content_type: JSON_UTF8,
            body,
            code: Some(m.success.code),
        }
    }
}

/// Where Jeepay finds the parameters: (JSON?, query, parameter body).
pub fn servlet_view<'a>(inbound: &Inbound<'a>) -> (bool, Option<&'a str>, &'a [u8]) {
    let content_type = inbound.content_type;
    let body_method = *inbound.method != http::Method::GET;
    let json = contains_ignore_case(content_type, "application/json") && body_method;
    // A servlet container reads parameters from a body only when its media type is the form
    // type itself (parameters such as `;charset=UTF-8` aside), and only on a body method
    // (Tomcat's POST, Spring's form filter's PUT, PATCH and DELETE): a type that merely
    // mentions the form type (`text/plain; x=application/x-www-form-urlencoded`) is no form.
    let form = is_form(content_type) && body_method;
    let body: &[u8] = if json || form { inbound.body } else { &[] };
    (json, inbound.query, body)
}

/// The media type (before any `;` parameter) is `application/x-www-form-urlencoded`, in any case.
pub fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Jeepay SDKs send epoch seconds, milliseconds or microseconds (10, 13 or 16 digits). A
/// `reqTime` within `window` of now is the time the request says it was sent.
fn check_req_time(req_time: &str, window: Duration) -> Result<SystemTime, Failure> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i128);
    let digits = req_time.trim();
    let value: Option<i128> = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten();
    let sent_ms = match (digits.len(), value) {
        (10, Some(v)) => v * 1000,
        (13, Some(v)) => v,
        (16, Some(v)) => v / 1000,
        _ => return Err(Failure::ReqTimeUnreadable(req_time.to_owned())),
    };
    if (now_ms - sent_ms).unsigned_abs() > window.as_millis() {
        let server = OffsetDateTime::from_unix_timestamp_nanos(now_ms * 1_000_000)
            .map(|t| crate::dialect::daxpay::envelope::wall_clock(t, time::UtcOffset::UTC))
            .unwrap_or_default();
        return Err(Failure::ReqTimeOutside {
            window_secs: window.as_secs(),
            server_time: format!("{server} UTC ({now_ms})"),
        });
    }
    // Digits only, at most 16 of them: a few centuries' worth of milliseconds.
    Ok(UNIX_EPOCH + Duration::from_millis(u64::try_from(sent_ms).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_time_accepts_seconds_millis_and_micros() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let w = Duration::from_secs(300);
        assert!(check_req_time(&now.as_secs().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_millis().to_string(), w).is_ok());
        assert!(check_req_time(&now.as_micros().to_string(), w).is_ok());
        let old = (now.as_millis() - 301_000).to_string();
        let err = check_req_time(&old, w).unwrap_err();
        assert!(
            matches!(
                err,
                Failure::ReqTimeOutside {
                    window_secs: 300,
                    ..
                }
            ),
            "{err}"
        );
        assert!(check_req_time("20190723141000", w).is_err());
        assert!(check_req_time("12345678901x3", w).is_err());
    }

    #[test]
    fn only_the_form_type_itself_is_a_form() {
        for ct in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
            " application/x-www-form-urlencoded ; charset=utf-8",
        ] {
            assert!(is_form(ct), "{ct}");
        }
        for ct in [
            "text/plain; x=application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded-not",
            "multipart/form-data",
            "",
        ] {
            assert!(!is_form(ct), "{ct}");
        }
    }
}
