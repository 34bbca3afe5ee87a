//! `POST /unipay/pay`: DaxPay's `PayService`, `PayAssistService` and the Alipay / WeChat pay
//! strategies, as `protocols/lifecycle.md` §2.4–2.6 reads them, with fake channel answers.
//!
//! Steps, in DaxPay's order (bean validation and signature already passed):
//! 1. `expiredTime` in the past: 10506 `支付超时时间设置有误, 请检查!`;
//! 2. an order with the same `bizOrderNo` in the app: `checkOrder` (20044, a `wait` order is
//!    reused);
//! 3. the channel's strategy: none → 20030 `不支持的能力: <channel>` (unknown channels too, as
//!    `PaymentStrategyFactory` answers them); an unknown method → 20030 `该支付方式不存在`;
//!    the channel's own checks (10506);
//! 4. the order is created `progress` with `refundableBalance = amount`;
//! 5. the "channel": [`CHANNEL_FAIL`] as title or authCode fails it (the order stays
//!    `progress` with `errorMsg`, 20045 `支付失败: <msg>`), and so does a WeChat H5 (`wap`) pay
//!    without `clientIp` (`微信V3手机网站支付失败: …`, WeChat needs the payer's IP); a barcode is
//!    paid at once.

use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::params::{java_len, yuan_to_fen, AmountError, Declared, Kind, Params, Val};
use super::result::{wall_clock_at, Member, Typed};
use super::state::{lookup, Entry, OrderKey, Orders, Refusal};
use crate::config::SandboxOrder;
use crate::order::{Amount, OrderStatus, RefundStatus};
use crate::sign::daxpay::Version;

/// A title or authCode with this value makes the sandbox's channel refuse the payment.
pub const CHANNEL_FAIL: &str = "SANDBOX_CHANNEL_FAIL";

/// The error message the failing channel gives.
const CHANNEL_FAIL_MSG: &str = "沙箱通道模拟失败";

/// What the sandbox's WeChat says to an H5 pay without the payer's IP (WeChat's own words are
/// not in the documents; DaxPay's prefix is `WechatPayV3Service`'s).
const NO_PAYER_IP_MSG: &str = "沙箱通道: 缺少用户终端IP(scene_info.payer_client_ip)";

/// `PayParam`'s own fields, per 3.x version (3.0-beta carries openId / authCode inside
/// `extraParam`).
pub(super) fn declared(version: Version) -> Declared {
    match version {
        Version::V3_0 => &[
            ("bizOrderNo", Kind::Text),
            ("title", Kind::Text),
            ("description", Kind::Text),
            ("allocation", Kind::Bool),
            ("autoAllocation", Kind::Bool),
            ("expiredTime", Kind::Time),
            ("channel", Kind::Text),
            ("method", Kind::Text),
            ("otherMethod", Kind::Text),
            ("limitPay", Kind::Text),
            ("amount", Kind::Decimal),
            ("openId", Kind::Text),
            ("authCode", Kind::Text),
            ("terminalNo", Kind::Text),
            ("extraParam", Kind::Text),
            ("attach", Kind::Text),
            ("returnUrl", Kind::Text),
            ("quitUrl", Kind::Text),
            ("notifyUrl", Kind::Text),
        ],
        Version::V3_0Beta => &[
            ("bizOrderNo", Kind::Text),
            ("title", Kind::Text),
            ("description", Kind::Text),
            ("allocation", Kind::Bool),
            ("autoAllocation", Kind::Bool),
            ("expiredTime", Kind::Time),
            ("channel", Kind::Text),
            ("method", Kind::Text),
            ("amount", Kind::Decimal),
            ("extraParam", Kind::Text),
            ("attach", Kind::Text),
            ("returnUrl", Kind::Text),
            ("quitUrl", Kind::Text),
            ("notifyUrl", Kind::Text),
        ],
        // 2.0.8 is read by `super::v20`.
        Version::V2_0 => &[],
    }
}

/// `PayParam`'s bean validation: the first violation in declaration order.
pub(super) fn validate(p: &Params, version: Version) -> Result<(), String> {
    let code_max = if version == Version::V3_0 { 32 } else { 20 };
    required(p, "bizOrderNo", "商户订单号不可为空")?;
    at_most(p, "bizOrderNo", 100, "商户订单号不可超过100位")?;
    required(p, "title", "支付标题不可为空")?;
    at_most(p, "title", 100, "支付标题不可超过100位")?;
    at_most(p, "description", 500, "支付描述不可超过500位")?;
    required(p, "channel", "支付通道编码不可为空")?;
    at_most(
        p,
        "channel",
        code_max,
        &format!("支付通道编码不可超过{code_max}位"),
    )?;
    required(p, "method", "支付方式不可为空")?;
    at_most(
        p,
        "method",
        code_max,
        &format!("支付方式编码不可超过{code_max}位"),
    )?;
    at_most(p, "otherMethod", 128, "支付方式编码不可超过128位")?;
    at_most(p, "limitPay", 128, "限制用户支付类型不能超过128位")?;
    amount(p, "amount", "支付金额不可为空")?;
    at_most(p, "openId", 128, "用户标识不可超过128位")?;
    at_most(p, "authCode", 128, "付款码不可超过128位")?;
    at_most(p, "terminalNo", 128, "终端设备编码不可超过128位")?;
    at_most(p, "extraParam", 2048, "支付扩展参数不可超过2048位")?;
    at_most(p, "attach", 500, "商户扩展参数不可超过500位")?;
    at_most(p, "returnUrl", 200, "同步通知URL不可超过200位")?;
    at_most(p, "quitUrl", 200, "退出地址不可超过200位")?;
    at_most(p, "notifyUrl", 200, "异步通知地址不可超过200位")
}

pub(super) fn required(p: &Params, name: &str, msg: &str) -> Result<(), String> {
    p.filled(name).map(|_| ()).ok_or_else(|| msg.to_owned())
}

pub(super) fn at_most(p: &Params, name: &str, max: usize, msg: &str) -> Result<(), String> {
    match p.text(name) {
        Some(v) if java_len(v) > max => Err(msg.to_owned()),
        _ => Ok(()),
    }
}

/// `@NotNull @DecimalMin("0.01") @Digits(8, 2)`: yuan.
pub(super) fn amount(p: &Params, name: &str, missing: &str) -> Result<(), String> {
    match p.get(name) {
        None => Err(missing.to_owned()),
        Some(Val::Decimal(d)) => match yuan_to_fen(d) {
            Ok(_) => Ok(()),
            Err(AmountError::BelowMinimum) => Err("支付金额不可小于0.01元".to_owned()),
            Err(AmountError::Digits) => Err("支付金额精度到分, 且要小于一亿元".to_owned()),
        },
        Some(_) => Err("支付金额不可小于0.01元".to_owned()),
    }
}

/// The validated amount (0 only if validation was skipped).
pub(super) fn amount_of(p: &Params, name: &str) -> Amount {
    match p.get(name) {
        Some(Val::Decimal(d)) => Amount::from_fen(yuan_to_fen(d).unwrap_or(0)),
        _ => Amount::ZERO,
    }
}

/// A `ValidationFailedException` raised inside the handler: 10506, prefixed.
pub(super) fn invalid(_version: Version, detail: &str) -> Refusal {
    Refusal::Trade {
        code: 10506,
        msg: format!("验证参数错误\n{detail}"),
    }
}

pub(super) fn refused(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal::Trade {
        code,
        msg: msg.into(),
    }
}

/// The two channel families the open-source 3.0.0 tree has pay strategies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Ali,
    Wechat,
}

fn strategy(channel: &str) -> Result<Family, Refusal> {
    match channel {
        "ali_pay" | "alipay_isv" => Ok(Family::Ali),
        "wechat_pay" | "wechat_pay_isv" => Ok(Family::Wechat),
        other => Err(refused(20030, format!("不支持的能力: {other}"))),
    }
}

/// `PayMethodEnum` per version.
fn method_exists(version: Version, method: &str) -> bool {
    let base = ["wap", "app", "web", "qrcode", "barcode", "jsapi"].contains(&method);
    match version {
        Version::V3_0 => base || method == "other",
        Version::V3_0Beta | Version::V2_0 => base,
    }
}

/// openId / authCode: fields in 3.0, inside `extraParam` before.
fn extra(p: &Params, version: Version, key: &str) -> Option<String> {
    if version == Version::V3_0 {
        return p.filled(key).map(str::to_owned);
    }
    let object = match p.get("extraParam") {
        Some(Val::Text(t)) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => m,
            _ => return None,
        },
        _ => return None,
    };
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

impl Orders {
    /// A DaxPay trade number: `prefix` + `yyyyMMddHHmmss` + machine `01` + 6 digits.
    pub(super) fn trade_no(&self, prefix: char, now: OffsetDateTime) -> (String, u64) {
        let seq = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = wall_clock_at(now, self.utc_offset);
        let no = format!(
            "{prefix}{:04}{:02}{:02}{:02}{:02}{:02}01{:06}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            seq % 1_000_000
        );
        (no, seq)
    }

    /// Steps 1 to 5 of the module docs; `Ok` is the `PayResult`.
    pub(super) fn pay(
        &self,
        p: &Params,
        app_id: Option<&str>,
        version: Version,
        now: OffsetDateTime,
    ) -> Result<Typed, Refusal> {
        let wall = wall_clock_at(now, self.utc_offset);
        let expired_time = p.time("expiredTime");
        if expired_time.is_some_and(|t| t < wall) {
            return Err(invalid(version, "支付超时时间设置有误, 请检查!"));
        }
        let biz_order_no = p.text("bizOrderNo").unwrap_or_default();
        let channel = p.text("channel").unwrap_or_default();
        let method = p.text("method").unwrap_or_default();
        let auth_code = extra(p, version, "authCode");
        let mut table = self.lock();
        let reused = match lookup(&mut table, OrderKey::BizOrderNo(biz_order_no), app_id) {
            Some(entry) => {
                check_order(&entry.order, wall)?;
                Some(entry.order.order_no.clone())
            }
            None => None,
        };
        let family = strategy(channel)?;
        if !method_exists(version, method) {
            return Err(refused(20030, "该支付方式不存在"));
        }
        if family == Family::Wechat {
            if !["app", "barcode", "wap", "qrcode", "jsapi"].contains(&method) {
                return Err(invalid(version, "不支持的支付方式"));
            }
            if method == "jsapi" && extra(p, version, "openId").is_none() {
                return Err(invalid(version, "微信JSAPI支付必须传入openId参数"));
            }
            if method == "barcode" && auth_code.is_none() {
                return Err(invalid(version, "微信付款码支付必须传入付款码参数"));
            }
        }
        let order_no = match reused {
            Some(no) => no,
            None => {
                let (order_no, seq) = loop {
                    let (no, seq) = self.trade_no('P', now);
                    if !table.contains_key(&no) {
                        break (no, seq);
                    }
                };
                let mut order = SandboxOrder::new(&order_no, biz_order_no, OrderStatus::Progress);
                order.app_id = app_id.map(str::to_owned);
                order.amount = amount_of(p, "amount");
                order.title = p.text("title").map(str::to_owned);
                order.description = p.text("description").map(str::to_owned);
                order.attach = p.text("attach").map(str::to_owned);
                order.client_ip = p.text("clientIp").map(str::to_owned);
                // Without one, DaxPay uses the app's `orderTimeout`; the sandbox's is 30 minutes.
                order.expired_time =
                    Some(expired_time.unwrap_or(wall + time::Duration::minutes(30)));
                order.refund_status = RefundStatus::NoRefund;
                let entry = Entry::new(order, super::state::FIRST_ID + seq);
                table.insert(order_no.clone(), entry);
                order_no
            }
        };
        let Some(entry) = table.get_mut(&order_no) else {
            return Err(refused(10500, "system error"));
        };
        let order = &mut entry.order;
        // `updatePayOrder` for a reused `wait` order; a new one already has these.
        order.channel = channel.to_owned();
        order.method = method.to_owned();
        order.status = OrderStatus::Progress;
        // Sandbox choice (docs/sandbox.md): a reused `wait` order takes the addresses given.
        if let Some(url) = p.text("notifyUrl") {
            order.notify_url = Some(url.to_owned());
        }
        if let Some(url) = p.text("returnUrl") {
            order.return_url = Some(url.to_owned());
        }
        // WeChat H5: DaxPay hands WeChat the order's `clientIp` as `scene_info.payer_client_ip`
        // (`WechatPayV3Service.wapPay`, lifecycle.md §2.7), which WeChat requires: without one
        // the channel call fails like any other (the order stays `progress`, 20045).
        if family == Family::Wechat && method == "wap" && p.filled("clientIp").is_none() {
            order.error_msg = Some(NO_PAYER_IP_MSG.to_owned());
            return Err(refused(
                20045,
                format!("微信V3手机网站支付失败: {NO_PAYER_IP_MSG}"),
            ));
        }
        if order.title.as_deref() == Some(CHANNEL_FAIL)
            || auth_code.as_deref() == Some(CHANNEL_FAIL)
        {
            order.error_msg = Some(CHANNEL_FAIL_MSG.to_owned());
            return Err(refused(20045, format!("支付失败: {CHANNEL_FAIL_MSG}")));
        }
        order.error_msg = None;
        if method == "barcode" {
            settle_paid(order, wall);
        }
        let pay_body = pay_body(family, method, order, now);
        Ok(vec![
            ("bizOrderNo", Member::Text(order.biz_order_no.clone())),
            ("orderNo", Member::Text(order.order_no.clone())),
            ("status", Member::Text(order.status.as_str().to_owned())),
            ("payBody", pay_body.map_or(Member::Null, Member::Text)),
        ])
    }
}

/// The order is paid: `success`, `payTime`, the channel's trade number (`realAmount` is the
/// amount from now on).
pub(super) fn settle_paid(order: &mut SandboxOrder, wall: PrimitiveDateTime) {
    order.status = OrderStatus::Success;
    order.pay_time = Some(wall);
    order.error_msg = None;
    if order.out_order_no.is_none() {
        order.out_order_no = Some(format!("SBX{}", order.order_no));
    }
}

/// `PayAssistService.checkOrder` for an existing order with the same `bizOrderNo`.
fn check_order(order: &SandboxOrder, wall: PrimitiveDateTime) -> Result<(), Refusal> {
    let expired = order.expired_time.is_some_and(|t| wall >= t);
    let msg = match order.status {
        OrderStatus::Wait if !expired => return Ok(()),
        OrderStatus::Wait | OrderStatus::Progress if expired => "支付已超时，请重新确认支付状态",
        OrderStatus::Progress => "订单号重复，请重新发起支付",
        OrderStatus::Success => "已经支付成功，请勿重新支付",
        OrderStatus::Fail | OrderStatus::Close | OrderStatus::Cancel => {
            "该订单支付失败或已经被关闭"
        }
        _ if order.refund_status == RefundStatus::Refunding => "该订单处于退款状态",
        _ => "订单不是待支付状态，请重新确认订单状态",
    };
    Err(refused(20044, msg))
}

/// The fake channel's `payBody` (§2.6); `None` where DaxPay answers null.
fn pay_body(
    family: Family,
    method: &str,
    order: &SandboxOrder,
    now: OffsetDateTime,
) -> Option<String> {
    let no = &order.order_no;
    let amount = order.amount;
    let epoch = now.unix_timestamp();
    let nonce = format!("{:032x}", u128::from(epoch.unsigned_abs()) ^ digest(no));
    match (family, method) {
        (Family::Ali, "wap" | "web") => {
            let api = if method == "wap" { "alipay.trade.wap.pay" } else { "alipay.trade.page.pay" };
            Some(format!(
                "https://openapi.alipay.com/gateway.do?app_id=2021000000000000&method={api}\
                 &charset=UTF-8&sign_type=RSA2&version=1.0&out_trade_no={no}&total_amount={amount}&sign=SANDBOX"
            ))
        }
        (Family::Ali, "app") => Some(format!(
            "app_id=2021000000000000&biz_content=%7B%22out_trade_no%22%3A%22{no}%22%2C%22total_amount%22%3A%22{amount}%22%7D\
             &charset=UTF-8&method=alipay.trade.app.pay&sign=SANDBOX&sign_type=RSA2&version=1.0"
        )),
        (Family::Ali, "jsapi") => Some(format!("{}2200{:016}", &no[1..9.min(no.len())], digest(no) % 10u128.pow(16))),
        (Family::Ali, "qrcode") => Some(format!("https://qr.alipay.com/bax0{}", &nonce[..20])),
        (Family::Wechat, "wap") => Some(format!(
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{}&package={}",
            &nonce[..28],
            digest(no) % 10_000_000_000
        )),
        (Family::Wechat, "qrcode") => Some(format!("weixin://wxpay/bizpayurl?pr={}", &nonce[..7])),
        (Family::Wechat, "jsapi") => {
            let entries = [
                ("appId", "wx8888888888888888".to_owned()),
                ("timeStamp", epoch.to_string()),
                ("nonceStr", nonce.clone()),
                ("package", format!("prepay_id=wx{}", &nonce[..28])),
                ("signType", "RSA".to_owned()),
                ("paySign", format!("SANDBOX{}==", &nonce[..16])),
            ];
            Some(json_text(&java_hash_map_order(&entries)))
        }
        (Family::Wechat, "app") => Some(json_text(&[
            ("appid", "wx8888888888888888".to_owned()),
            ("partnerid", "1900000109".to_owned()),
            ("prepayid", format!("wx{}", &nonce[..28])),
            ("package", "Sign=WXPay".to_owned()),
            ("nonceStr", nonce.clone()),
            ("timeStamp", epoch.to_string()),
            ("sign", format!("SANDBOX{}", &nonce[..16])),
        ])),
        _ => None,
    }
}

/// A cheap stable digest of a string (not cryptographic: fake channel numbers only).
fn digest(s: &str) -> u128 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u128, |h, b| {
        (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn json_text(entries: &[(&str, String)]) -> String {
    let members: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The iteration order of a `java.util.HashMap` (16 buckets, so up to 12 entries) filled with
/// `entries` in order: bucket by bucket, insertion order within a bucket.
fn java_hash_map_order<'a>(entries: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let bucket = |key: &str| {
        let h = key
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)));
        let spread = h ^ ((h as u32) >> 16) as i32;
        (spread & 15) as usize
    };
    let mut ordered: Vec<(usize, usize, (&str, String))> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (bucket(e.0), i, e.clone()))
        .collect();
    ordered.sort_by_key(|(b, i, _)| (*b, *i));
    ordered.into_iter().map(|(_, _, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_map_order_is_bucket_then_insertion() {
        // "Aa" and "BB" share a Java hash (2112), so they keep insertion order in one bucket.
        let entries = [
            ("BB", String::new()),
            ("Aa", String::new()),
            ("a", String::new()),
        ];
        let order: Vec<&str> = java_hash_map_order(&entries)
            .into_iter()
            .map(|e| e.0)
            .collect();
        // "a" = 97 → bucket 1; "BB"/"Aa" = 2112 → bucket 0.
        assert_eq!(order, ["BB", "Aa", "a"]);
    }
}
