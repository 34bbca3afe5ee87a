//! A callback's body and signature, per version (`protocols/lifecycle.md` §6.2, §10).
//!
//! - 3.0: the hutool JSON of `DaxNoticeResult<Map>`: `{mchNo, appId, code, msg, data, sign,
//!   resTime, traceId}`, nulls omitted. `data` is the query's result re-read as a map: keys in
//!   declaration order on the wire, nulls dropped, decimals stripped. Signed like an answer, but
//!   `data`'s keys sorted case-insensitively inside the signed string (or, with
//!   `callback_sign_order = "declared"`, in declaration order as the SDK's example).
//! - 3.0-beta: `{code, msg, data, sign}`, signed over `code, msg, data` the same way.
//! - 2.0: `super::super::v20::notice` (2.0.8's flat notices).

use std::borrow::Cow;
use std::cmp::Ordering;

use time::{OffsetDateTime, UtcOffset};

use super::super::reply::{trace_id, wall_clock};
use super::super::result::{hutool_escape, signed_json, Member};
use crate::config::{CallbackSignOrder, SandboxApp};
use crate::sign::daxpay::{Scheme, Version};

/// `data` as the callback's signature renders it (before quotes and backslashes go).
pub(crate) fn signed_data(data: &[(&str, Member)], order: CallbackSignOrder) -> String {
    match order {
        CallbackSignOrder::Declared => signed_json(data),
        CallbackSignOrder::Sorted => {
            let mut sorted = data.to_vec();
            sorted.sort_by(|a, b| case_insensitive(a.0, b.0));
            signed_json(&sorted)
        }
    }
}

/// Java's `String.CASE_INSENSITIVE_ORDER`: char by char, upper-cased then lower-cased.
fn case_insensitive(a: &str, b: &str) -> Ordering {
    fn single(mut it: impl Iterator<Item = char>, c: char) -> char {
        match (it.next(), it.next()) {
            (Some(one), None) => one,
            _ => c,
        }
    }
    let fold = |c: char| {
        let upper = single(c.to_uppercase(), c);
        single(upper.to_lowercase(), upper)
    };
    a.chars().map(fold).cmp(b.chars().map(fold))
}

/// A JSON string the way hutool writes it.
fn quoted(s: &str) -> String {
    format!("\"{}\"", hutool_escape(s))
}

/// `{"k":v,...}` from members whose values are JSON already.
fn object(members: &[(&str, String)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// What the sandbox sends for one callback: the body, and whether the receiver must answer
/// exactly `SUCCESS` (2.0) rather than `SUCCESS` in any case (3.x).
pub(crate) struct Built {
    pub body: String,
    pub exact_ack: bool,
}

/// The callback body for `data` (the query's `PayOrderResult` / `RefundOrderResult`).
pub(crate) fn build(
    scheme: Scheme,
    app: &SandboxApp,
    data: &[(&'static str, Member)],
    now: OffsetDateTime,
    offset: UtcOffset,
) -> Built {
    let secret = app.secret.expose();
    let order = app.callback_sign_order;
    match scheme.version {
        Version::V3_0 => {
            let res_time = wall_clock(now, offset);
            let trace = trace_id();
            let mut top: Vec<(&str, Cow<'_, str>)> = Vec::new();
            if let Some(mch_no) = &app.mch_no {
                top.push(("mchNo", Cow::Borrowed(mch_no)));
            }
            if let Some(app_id) = &app.app_id {
                top.push(("appId", Cow::Borrowed(app_id)));
            }
            let sign = sign_3x(scheme, secret, top.clone(), data, order, &res_time, &trace);
            let mut wire: Vec<(&str, String)> = top.iter().map(|(k, v)| (*k, quoted(v))).collect();
            wire.extend([
                ("code", "0".to_owned()),
                ("msg", quoted("success")),
                ("data", signed_json(data)),
                ("sign", quoted(&sign)),
                ("resTime", quoted(&res_time)),
                ("traceId", quoted(&trace)),
            ]);
            Built {
                body: object(&wire),
                exact_ack: false,
            }
        }
        Version::V3_0Beta => {
            let signed = signed_data(data, order);
            let sign = scheme.sign(
                &[
                    ("code", Cow::Borrowed("0")),
                    ("msg", Cow::Borrowed("success")),
                    ("data", Cow::Borrowed(signed.as_str())),
                ],
                secret,
            );
            let wire = [
                ("code", "0".to_owned()),
                ("msg", quoted("success")),
                ("data", signed_json(data)),
                ("sign", quoted(&sign)),
            ];
            Built {
                body: object(&wire),
                exact_ack: false,
            }
        }
        Version::V2_0 => Built {
            body: super::super::v20::notice::body(scheme, secret, now, data),
            exact_ack: true,
        },
    }
}

/// The 3.0 signature: `top` (identity, plus `noticeType` for subscriptions), `code` 0, `msg`,
/// `data` in `order`, `resTime`, `traceId`.
pub(crate) fn sign_3x<'a>(
    scheme: Scheme,
    secret: &str,
    mut top: Vec<(&'a str, Cow<'a, str>)>,
    data: &[(&str, Member)],
    order: CallbackSignOrder,
    res_time: &'a str,
    trace_id: &'a str,
) -> String {
    let signed = signed_data(data, order);
    top.extend([
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        ("data", Cow::Owned(signed)),
        ("resTime", Cow::Borrowed(res_time)),
        ("traceId", Cow::Borrowed(trace_id)),
    ]);
    scheme.sign(&top, secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::daxpay::SignType;

    /// §10's callback vector: the SDK's example notice (`NoticeTest.java`), HMAC, secret
    /// `123456`: `fa7d74df…` with `data` sorted (the server), `91ba428d…` declared (the SDK).
    #[test]
    fn the_sdk_example_notice_verifies_sorted_and_declared() {
        let text = |s: &str| Member::Text(s.to_owned());
        let data = vec![
            ("bizOrderNo", text("20250221230917")),
            ("orderNo", text("DEV_P2025022123091870000001")),
            ("title", text("扫码支付")),
            ("allocation", Member::Bool(false)),
            ("autoAllocation", Member::Bool(false)),
            ("channel", text("ali_pay")),
            ("method", text("barcode")),
            ("amount", Member::Decimal("0.01".to_owned())),
            ("refundableBalance", Member::Decimal("0.01".to_owned())),
            ("status", text("close")),
            ("refundStatus", text("no_refund")),
            ("closeTime", text("2025-02-21 23:40:00")),
            ("expiredTime", text("2025-02-21 23:39:18")),
            ("errorMsg", text("支付失败: 支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款，如再次收款失败，请联系管理员处理。[SOUNDWAVE_PARSER_FAIL]")),
        ];
        let top = || {
            vec![
                ("noticeType", Cow::Borrowed("pay")),
                ("mchNo", Cow::Borrowed("M1723635576766")),
                ("appId", Cow::Borrowed("M8088873888246277")),
            ]
        };
        let scheme = Scheme::new(Version::V3_0, SignType::HmacSha256);
        let sign = |order| {
            sign_3x(
                scheme,
                "123456",
                top(),
                &data,
                order,
                "2025-04-10 23:45:42",
                "BgSPIlOLsRBx",
            )
        };
        assert_eq!(
            sign(CallbackSignOrder::Sorted),
            "fa7d74df8d2e004745106543cb097c608613e50a84e9baf4d0cee665f596fb1b"
        );
        assert_eq!(
            sign(CallbackSignOrder::Declared),
            "91ba428dc3a6ca17051d1835c8d24703cf2e10434acb337b0a43cc081f7fe45c"
        );
        assert!(signed_data(&data, CallbackSignOrder::Sorted).starts_with(
            r#"{"allocation":false,"amount":0.01,"autoAllocation":false,"bizOrderNo""#
        ));
    }

    #[test]
    fn case_insensitive_order_is_javas() {
        assert_eq!(
            case_insensitive("orderNo", "OrderAmount"),
            Ordering::Greater
        );
        assert_eq!(case_insensitive("a", "B"), Ordering::Less);
        assert_eq!(case_insensitive("ab", "AB"), Ordering::Equal);
        assert_eq!(case_insensitive("ab", "abc"), Ordering::Less);
    }
}
