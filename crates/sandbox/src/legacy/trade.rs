//! Jeepay's unified order (`/api/pay/unifiedOrder`), refund (`/api/refund/refundOrder`) and
//! refund query (`/api/refund/query`), as much of them as the proxy's fallback tests need
//! (`protocols/lifecycle.md` §2.1–2.3, §4, §5): Jeepay's checks and messages in its order,
//! answers signed like every Jeepay answer (keys alphabetical, null fields left out, `""`
//! written but not signed). Channels are not simulated: a bar-code order is paid at once
//! (state 2), any other stays paying (state 1); a refund succeeds at once (state 2).

use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::params::CloseRq;
use super::{lock, Inner, Refusal};
use crate::config::LegacyOrder;
use crate::sign::jeepay as sign;

pub(super) const UNIFIED_ORDER_PATH: &str = "/api/pay/unifiedOrder";
pub(super) const REFUND_PATH: &str = "/api/refund/refundOrder";
pub(super) const REFUND_QUERY_PATH: &str = "/api/refund/query";

/// A Jeepay refund order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRefund {
    pub refund_order_id: String,
    pub pay_order_id: String,
    pub mch_no: String,
    pub app_id: String,
    pub mch_refund_no: String,
    pub pay_amount: u64,
    pub refund_amount: u64,
    pub currency: String,
    /// 2 success (the only state the sandbox produces).
    pub state: u8,
    pub ext_param: Option<String>,
    /// Epoch milliseconds.
    pub success_time: i64,
    pub created_at: i64,
}

/// Jeepay ids: the prefix and a 19-digit, IdWorker-sized number.
fn next_id(prefix: char) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 4096;
    // A snowflake-like layout: milliseconds, then a sequence.
    format!("{prefix}{}", (millis as u64) * 4096 + seq)
}

/// The wayCodes Jeepay's `t_pay_way` holds (the sandbox has no others).
const WAY_CODES: &[&str] = &[
    "ALI_BAR",
    "ALI_JSAPI",
    "ALI_LITE",
    "ALI_APP",
    "ALI_PC",
    "ALI_WAP",
    "ALI_QR",
    "ALI_OC",
    "WX_BAR",
    "WX_JSAPI",
    "WX_LITE",
    "WX_APP",
    "WX_NATIVE",
    "WX_H5",
    "YSF_BAR",
    "YSF_JSAPI",
    "AUTO_BAR",
    "QR_CASHIER",
];

/// Required `String` / `Long` fields, `@NotBlank` / `@NotNull` style.
fn required<'a>(rq: &'a CloseRq, name: &str) -> Option<&'a str> {
    rq.get(name).filter(|v| !v.chars().all(|c| c <= ' '))
}

/// A `Long` field that must be at least 1; `None` when absent or not a number.
fn positive(rq: &CloseRq, name: &str) -> Option<u64> {
    rq.get(name)?.trim().parse::<u64>().ok()
}

/// An answer `{"code":0,"data":{…},"msg":"SUCCESS","sign":…}`; `data` keys alphabetical.
fn signed_answer(data: &Map<String, Value>, secret: &str) -> String {
    let texts: Vec<(String, String)> = data
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k.clone(), s.clone())),
            other => Some((k.clone(), other.to_string())),
        })
        .collect();
    let fields: Vec<(&str, &str)> = texts
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sign = sign::sign(&fields, secret);
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    format!(r#"{{"code":0,"data":{data},"msg":"SUCCESS","sign":"{sign}"}}"#)
}

impl Inner {
    /// `UnifiedOrderController`: the answer body.
    pub(super) fn unified_order(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<String, Refusal> {
        const DECLARED: &[&str] = &[
            "wayCode",
            "amount",
            "currency",
            "clientIp",
            "subject",
            "body",
            "notifyUrl",
            "returnUrl",
            "expiredTime",
            "channelExtra",
            "extParam",
            "divisionMode",
        ];
        let (rq, app) =
            self.verified_declaring(method, content_type, query, body, DECLARED, |rq| {
                let mch_order_no = rq
                    .mch_order_no
                    .as_deref()
                    .filter(|v| !v.chars().all(|c| c <= ' '));
                mch_order_no.ok_or("商户订单号不能为空")?;
                required(rq, "wayCode").ok_or("支付方式不能为空")?;
                positive(rq, "amount")
                    .filter(|a| *a >= 1)
                    .ok_or("支付金额不能为空")?;
                required(rq, "currency").ok_or("货币代码不能为空")?;
                required(rq, "subject").ok_or("商品标题不能为空")?;
                required(rq, "body").ok_or("商品描述信息不能为空")?;
                Ok(())
            })?;
        let way_code = rq.get("wayCode").unwrap_or_default();
        if !WAY_CODES.contains(&way_code) {
            return Err(Refusal::Biz("不支持的支付方式"));
        }
        let mch_order_no = rq.mch_order_no.clone().unwrap_or_default();
        let mut orders = lock(&self.orders);
        if orders
            .iter()
            .any(|o| o.mch_no == rq.mch_no && o.mch_order_no == mch_order_no)
        {
            return Err(Refusal::Message(format!("商户订单[{mch_order_no}]已存在")));
        }
        for url in ["notifyUrl", "returnUrl"] {
            let given = rq.get(url).filter(|u| !u.is_empty());
            if given.is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
                return Err(Refusal::Biz(if url == "notifyUrl" {
                    "异步通知地址协议仅支持http:// 或 https:// !"
                } else {
                    "同步通知地址协议仅支持http:// 或 https:// !"
                }));
            }
        }
        let bar = way_code.ends_with("_BAR");
        let pay_order_id = next_id('P');
        orders.push(LegacyOrder {
            pay_order_id: pay_order_id.clone(),
            mch_order_no: mch_order_no.clone(),
            mch_no: rq.mch_no.clone(),
            state: if bar { 2 } else { 1 },
            empty_body: false,
            amount: positive(&rq, "amount").unwrap_or(1),
            refunded: 0,
            way_code: Some(way_code.to_owned()),
        });
        let (data_type, data) = match way_code {
            _ if bar => ("none", String::new()),
            "ALI_JSAPI" | "ALI_LITE" => ("aliapp", format!(r#"{{"alipayTradeNo":"2025{pay_order_id}"}}"#)),
            "ALI_APP" => ("aliapp", format!("app_id=2021000000000000&method=alipay.trade.app.pay&out_trade_no={pay_order_id}&sign=SANDBOX")),
            "ALI_QR" | "ALI_OC" => ("codeUrl", format!("https://qr.alipay.com/bax0{pay_order_id}")),
            "WX_NATIVE" => ("codeUrl", "weixin://wxpay/bizpayurl?pr=sandbox".to_owned()),
            "WX_JSAPI" | "WX_LITE" | "WX_APP" => ("wxapp", format!(r#"{{"appId":"wx8888888888888888","package":"prepay_id=wx{pay_order_id}","signType":"RSA"}}"#)),
            _ => ("payurl", format!("https://openapi.alipay.com/gateway.do?out_trade_no={pay_order_id}&sign=SANDBOX")),
        };
        let mut answer = Map::new();
        answer.insert("mchOrderNo".into(), Value::String(mch_order_no));
        answer.insert("orderState".into(), Value::from(if bar { 2 } else { 1 }));
        answer.insert("payData".into(), Value::String(data));
        answer.insert("payDataType".into(), Value::String(data_type.to_owned()));
        answer.insert("payOrderId".into(), Value::String(pay_order_id));
        Ok(signed_answer(&answer, app.secret.expose()))
    }

    /// `RefundOrderController`: the answer body.
    pub(super) fn refund_order(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<String, Refusal> {
        const DECLARED: &[&str] = &[
            "mchRefundNo",
            "refundAmount",
            "currency",
            "refundReason",
            "clientIp",
            "notifyUrl",
            "channelExtra",
            "extParam",
        ];
        let (rq, app) =
            self.verified_declaring(method, content_type, query, body, DECLARED, |rq| {
                required(rq, "mchRefundNo").ok_or("商户退款单号不能为空")?;
                let amount = rq.get("refundAmount").ok_or("退款金额不能为空")?;
                match amount.trim().parse::<i64>() {
                    Ok(a) if a >= 1 => {}
                    Ok(_) => return Err("退款金额请大于1分"),
                    Err(_) => return Err("退款金额不能为空"),
                }
                required(rq, "currency").ok_or("货币代码不能为空")?;
                required(rq, "refundReason").ok_or("退款原因不能为空")?;
                Ok(())
            })?;
        let pay_order_id = rq.pay_order_id.as_deref().filter(|s| !s.is_empty());
        let mch_order_no = rq.mch_order_no.as_deref().filter(|s| !s.is_empty());
        if pay_order_id.is_none() && mch_order_no.is_none() {
            return Err(Refusal::Biz("mchOrderNo 和 payOrderId不能同时为空"));
        }
        let notify = rq.get("notifyUrl").filter(|u| !u.is_empty());
        if notify.is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
            return Err(Refusal::Biz("异步通知地址协议仅支持http:// 或 https:// !"));
        }
        let amount = positive(&rq, "refundAmount").unwrap_or(0);
        let mch_refund_no = rq.get("mchRefundNo").unwrap_or_default().to_owned();
        let mut orders = lock(&self.orders);
        let mut refunds = lock(&self.refunds);
        let order = orders
            .iter_mut()
            .filter(|o| o.mch_no == rq.mch_no)
            .find(|o| match pay_order_id {
                Some(id) => o.pay_order_id == id,
                None => Some(o.mch_order_no.as_str()) == mch_order_no,
            })
            .ok_or(Refusal::Biz("退款订单不存在"))?;
        if order.state != 2 {
            return Err(Refusal::Biz("订单状态不正确， 无法完成退款"));
        }
        if order.refunded >= order.amount {
            return Err(Refusal::Biz("订单已全额退款，本次申请失败"));
        }
        if amount > order.amount - order.refunded {
            return Err(Refusal::Biz("申请金额超出订单可退款余额，请检查退款金额"));
        }
        if refunds
            .iter()
            .any(|r| r.mch_no == rq.mch_no && r.mch_refund_no == mch_refund_no)
        {
            return Err(Refusal::Message(format!(
                "商户退款订单号[{mch_refund_no}]已存在"
            )));
        }
        order.refunded += amount;
        if order.refunded == order.amount {
            order.state = 5;
        }
        let now = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let refund = LegacyRefund {
            refund_order_id: next_id('R'),
            pay_order_id: order.pay_order_id.clone(),
            mch_no: rq.mch_no.clone(),
            app_id: rq.app_id.clone(),
            mch_refund_no,
            pay_amount: order.amount,
            refund_amount: amount,
            currency: rq.get("currency").unwrap_or("cny").to_owned(),
            state: 2,
            ext_param: rq.get("extParam").map(str::to_owned),
            success_time: now,
            created_at: now,
        };
        let mut answer = Map::new();
        answer.insert(
            "mchRefundNo".into(),
            Value::String(refund.mch_refund_no.clone()),
        );
        answer.insert("payAmount".into(), Value::from(refund.pay_amount));
        answer.insert("refundAmount".into(), Value::from(refund.refund_amount));
        answer.insert(
            "refundOrderId".into(),
            Value::String(refund.refund_order_id.clone()),
        );
        answer.insert("state".into(), Value::from(refund.state));
        refunds.push(refund);
        Ok(signed_answer(&answer, app.secret.expose()))
    }

    /// `QueryRefundOrderController`: the answer body (`QueryRefundOrderRS`).
    pub(super) fn refund_query(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<String, Refusal> {
        const DECLARED: &[&str] = &["mchRefundNo", "refundOrderId"];
        let (rq, app) =
            self.verified_declaring(method, content_type, query, body, DECLARED, |_| Ok(()))?;
        let refund_order_id = rq.get("refundOrderId").filter(|s| !s.is_empty());
        let mch_refund_no = rq.get("mchRefundNo").filter(|s| !s.is_empty());
        if refund_order_id.is_none() && mch_refund_no.is_none() {
            return Err(Refusal::Biz("mchRefundNo 和 refundOrderId不能同时为空"));
        }
        let refunds = lock(&self.refunds);
        let refund = refunds
            .iter()
            .filter(|r| r.mch_no == rq.mch_no)
            .find(|r| match refund_order_id {
                Some(id) => r.refund_order_id == id,
                None => Some(r.mch_refund_no.as_str()) == mch_refund_no,
            })
            .ok_or(Refusal::Biz("订单不存在"))?;
        let mut answer = Map::new();
        answer.insert("appId".into(), Value::String(refund.app_id.clone()));
        answer.insert("createdAt".into(), Value::from(refund.created_at));
        answer.insert("currency".into(), Value::String(refund.currency.clone()));
        if let Some(ext) = &refund.ext_param {
            answer.insert("extParam".into(), Value::String(ext.clone()));
        }
        answer.insert("mchNo".into(), Value::String(refund.mch_no.clone()));
        answer.insert(
            "mchRefundNo".into(),
            Value::String(refund.mch_refund_no.clone()),
        );
        answer.insert("payAmount".into(), Value::from(refund.pay_amount));
        answer.insert(
            "payOrderId".into(),
            Value::String(refund.pay_order_id.clone()),
        );
        answer.insert("refundAmount".into(), Value::from(refund.refund_amount));
        answer.insert(
            "refundOrderId".into(),
            Value::String(refund.refund_order_id.clone()),
        );
        answer.insert("state".into(), Value::from(refund.state));
        answer.insert("successTime".into(), Value::from(refund.success_time));
        Ok(signed_answer(&answer, app.secret.expose()))
    }
}
