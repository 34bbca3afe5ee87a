//! `POST /unipay/pay` as 2.0.8's `PayService` runs it (`lifecycle-2.0.md` §3.1–§3.5), with a
//! fake channel:
//!
//! 1. `amount` above the platform's `limit_amount` (`pay_limit_fen`, seed 19911): shape B
//!    `支付金额超过限额`;
//! 2. the lock of `bizOrderNo` held (a pay still running, [`crate::Sandbox::hold_lock`]):
//!    `正在支付中，请勿重复支付`;
//!    from here every failure is a `PayResult` with `code 0`, only `msg` set, no order fields
//!    (§3.3); an existing `bizOrderNo` (the whole instance): `progress` and expired →
//!    `支付已超时，请重新确认支付状态` (after the sync, [`super::sync`]: closed when the channel
//!    has no payment, paid when it has one),
//!    `progress` → **repeated on the same order with its stored amount, title and expiry**,
//!    `success` → `已经支付成功，请勿重新支付`, `fail`/`close`/`cancel` → `支付失败或已经被关闭`;
//! 3. the channel's strategy (`不支持的能力`), its method list (`不存在的支付方式`), the
//!    channel config's `pay_ways` (`该支付宝支付方式不可用`, …), allocation (`未开启分账配置`,
//!    `云闪付不支持分账`);
//! 4. a new order is created `progress`, `refundableBalance = amount`, expiring at
//!    `expiredTime` or in 30 minutes;
//! 5. the channel: [`crate::CHANNEL_FAIL`] as title or `authCode` makes it throw (the error
//!    is saved, the order stays `progress`, `msg` is the channel's text); a barcode is paid at
//!    once (pay notice); otherwise `payBody` per channel and method (§3.3).

use time::OffsetDateTime;

use super::super::result::{wall_clock_at, Member};
use super::super::state::{lookup, Entry, OrderKey, FIRST_ID};
use super::super::Inner;
use super::answer::Answer;
use super::wire::{Bound, Declared, Kind, Violations};
use super::{wall_of, ORDER_TIMEOUT};
use crate::config::SandboxOrder;
use crate::order::{Amount, OrderStatus, RefundStatus};

/// What the sandbox's channel says when it fails a payment.
const CHANNEL_FAIL_MSG: &str = "沙箱通道模拟失败";

/// What the sandbox's channel says when a parameter it needs is missing.
const CHANNEL_REFUSED_MSG: &str = "沙箱通道缺少参数";

/// `PayParam`'s own fields, in declaration order.
pub(super) const DECLARED: Declared = &[
    ("bizOrderNo", Kind::Text),
    ("title", Kind::Text),
    ("description", Kind::Text),
    ("allocation", Kind::Bool),
    ("autoAllocation", Kind::Bool),
    ("expiredTime", Kind::Epoch),
    ("channel", Kind::Text),
    ("method", Kind::Text),
    ("amount", Kind::Int),
    ("extraParam", Kind::Map),
    ("attach", Kind::Text),
    ("returnUrl", Kind::Text),
    ("quitUrl", Kind::Text),
    ("notifyUrl", Kind::Text),
];

pub(super) fn validate(p: &Bound, v: &mut Violations) {
    v.not_blank(p, "bizOrderNo", "商户订单号不可为空");
    v.at_most(p, "bizOrderNo", 100, "商户订单号不可超过100位");
    v.not_blank(p, "title", "支付标题不可为空");
    v.at_most(p, "title", 100, "支付标题不可超过100位");
    v.at_most(p, "description", 500, "支付描述不可超过500位");
    v.not_blank(p, "channel", "支付通道编码不可为空");
    v.at_most(p, "channel", 20, "支付通道编码不可超过20位");
    v.not_blank(p, "method", "支付方式不可为空");
    v.at_most(p, "method", 20, "支付方式编码不可超过20位");
    if p.int("amount").is_none() {
        v.add("支付金额不可为空");
    }
    // `@Min(1)` has no message of its own: Hibernate Validator's zh_CN default.
    v.min(p, "amount", 1, "最小不能小于1");
    v.at_most(p, "extraParam", 2048, "支付扩展参数不可超过2048位");
    v.at_most(p, "attach", 500, "商户扩展参数不可超过500位");
    v.at_most(p, "returnUrl", 200, "同步通知URL不可超过200位");
    v.at_most(p, "quitUrl", 200, "退出地址不可超过200位");
    v.at_most(p, "notifyUrl", 200, "异步通知地址不可超过200位");
}

/// The channels with a pay strategy, their display name in messages, and the methods their
/// `*PayWay` accepts.
fn channel_methods(channel: &str) -> Option<(&'static str, &'static [&'static str])> {
    match channel {
        "ali_pay" => Some((
            "支付宝",
            &["wap", "app", "web", "qrcode", "barcode", "jsapi"],
        )),
        "wechat_pay" => Some(("微信", &["wap", "app", "jsapi", "qrcode", "barcode"])),
        "union_pay" => Some((
            "云闪付",
            &["wap", "app", "web", "jsapi", "qrcode", "barcode"],
        )),
        _ => None,
    }
}

/// The seed's `pay_ways` of each channel config (§2.10).
pub(crate) fn seed_pay_ways(channel: &str) -> &'static [&'static str] {
    match channel {
        "ali_pay" => &["wap", "web", "qrcode", "app", "barcode"],
        "wechat_pay" => &["wap", "app", "jsapi", "qrcode", "barcode"],
        "union_pay" => &["wap", "web", "qrcode", "app", "barcode"],
        _ => &[],
    }
}

/// A value of `extraParam` as the channel's parameter class reads it (`BeanUtil.toBean`).
fn extra(p: &Bound, key: &str) -> Option<String> {
    let value = p.map("extraParam")?.get(key)?;
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Inner {
    pub(super) fn pay_v20(&self, p: &Bound, now: OffsetDateTime) -> Answer {
        let amount = p.int("amount").unwrap_or(0);
        if amount > 0 && amount.unsigned_abs() > self.v20.limit_fen {
            return Answer::refused("支付金额超过限额");
        }
        if self.v20.locked(p.text("bizOrderNo").unwrap_or_default()) {
            return failed_pay("正在支付中，请勿重复支付".to_owned());
        }
        match self.pay_in_handler(p, now) {
            Ok(answer) => answer,
            Err(msg) => failed_pay(msg),
        }
    }

    /// Steps 2 to 5; `Err` is the message of any exception (§3.2 step 3).
    fn pay_in_handler(&self, p: &Bound, now: OffsetDateTime) -> Result<Answer, String> {
        let wall = wall_clock_at(now, self.utc_offset);
        let biz_order_no = p.text("bizOrderNo").unwrap_or_default();
        let channel = p.text("channel").unwrap_or_default();
        let method = p.text("method").unwrap_or_default();
        let auth_code = extra(p, "authCode");
        let mut table = self.orders.lock();
        let existing =
            lookup(&mut table, OrderKey::BizOrderNo(biz_order_no), None).map(|e| e.order.clone());
        if let Some(order) = &existing {
            if let Err(msg) = check_order(order, wall) {
                if order.status == OrderStatus::Progress {
                    // The sync run for an expired order (`syncPayOrder`, its own transaction):
                    // closed when the channel has no payment, paid when it has one; its notice
                    // sent once the lock is released. Its failure is the pay's answer instead.
                    let synced =
                        lookup(&mut table, OrderKey::OrderNo(&order.order_no), None).map(|e| {
                            let synced = super::sync::sync_pay_order(&self.v20, &mut e.order, wall);
                            (synced, e.order.clone())
                        });
                    drop(table);
                    match synced {
                        Some((Ok((_, true)), changed)) => self.order_changed(&changed),
                        Some((Err(sync_failed), _)) => return Err(sync_failed),
                        _ => {}
                    }
                }
                return Err(msg.to_owned());
            }
        }
        let Some((name, methods)) = channel_methods(channel) else {
            return Err("不支持的能力".to_owned());
        };
        if !methods.contains(&method) {
            return Err("不存在的支付方式".to_owned());
        }
        if !self.v20.pay_way_enabled(channel, method) {
            return Err(format!("该{name}支付方式不可用"));
        }
        if p.bool("allocation") == Some(true) {
            return Err(if channel == "union_pay" {
                "云闪付不支持分账".to_owned()
            } else {
                "未开启分账配置".to_owned()
            });
        }
        let order_no = match existing {
            Some(order) => order.order_no,
            None => {
                let (order_no, seq) = loop {
                    let (no, seq) = self.order_no_v20('P', now);
                    if !table.contains_key(&no) {
                        break (no, seq);
                    }
                };
                let mut order = SandboxOrder::new(&order_no, biz_order_no, OrderStatus::Progress);
                order.amount = Amount::from_fen(amount_fen(p));
                order.title = p.text("title").map(str::to_owned);
                order.description = p.text("description").map(str::to_owned);
                order.expired_time = match self.v20.new_orders_expired() {
                    // A test's short expiry (`Sandbox::expire_new_orders`).
                    Some(ago) => Some(wall - ago),
                    None => p
                        .epoch("expiredTime")
                        .and_then(|t| wall_of(t, self.utc_offset))
                        .or(Some(wall + ORDER_TIMEOUT)),
                };
                order.refund_status = RefundStatus::NoRefund;
                order.refundable = Some(order.amount);
                table.insert(order_no.clone(), Entry::new(order, FIRST_ID + seq));
                order_no
            }
        };
        let Some(entry) = table.get_mut(&order_no) else {
            return Err("数据错误".to_owned());
        };
        let order = &mut entry.order;
        // `updatePayOrder` on a repeat (a new order has these already): never the amount,
        // title, description or expiry.
        order.allocation = p.bool("allocation").unwrap_or(false);
        order.client_ip = p.text("clientIp").map(str::to_owned);
        order.notify_url = p.text("notifyUrl").map(str::to_owned);
        order.return_url = p.text("returnUrl").map(str::to_owned);
        order.attach = p.text("attach").map(str::to_owned);
        order.channel = channel.to_owned();
        order.method = method.to_owned();
        if order.title.as_deref() == Some(crate::CHANNEL_FAIL)
            || auth_code.as_deref() == Some(crate::CHANNEL_FAIL)
        {
            order.error_msg = Some(CHANNEL_FAIL_MSG.to_owned());
            return Err(CHANNEL_FAIL_MSG.to_owned());
        }
        // No check of its own that openId / authCode are there: the channel refuses.
        let missing = match (channel, method) {
            ("wechat_pay" | "ali_pay", "jsapi") if extra(p, "openId").is_none() => Some("openId"),
            (_, "barcode") if auth_code.is_none() => Some("authCode"),
            _ => None,
        };
        if let Some(what) = missing {
            let msg = format!("{CHANNEL_REFUSED_MSG}: {what}");
            order.error_msg = Some(msg.clone());
            return Err(msg);
        }
        order.error_msg = None;
        order.error_code = None;
        let paid = method == "barcode";
        if paid {
            super::super::pay::settle_paid(order, wall);
        }
        let pay_body = pay_body(channel, method, order, now);
        let fields = vec![
            ("bizOrderNo", Member::Text(order.biz_order_no.clone())),
            ("orderNo", Member::Text(order.order_no.clone())),
            ("status", Member::Text(order.status.as_str().to_owned())),
            ("payBody", pay_body.map_or(Member::Null, Member::Text)),
        ];
        let snapshot = order.clone();
        drop(table);
        if paid {
            self.order_changed(&snapshot);
        }
        Ok(Answer::data(fields))
    }

    /// `<env>P<yyMMddHHmmss><machineNo><6 digits>` with env empty and machine `56` (the
    /// numbers of §11's vectors); refunds with `R`.
    pub(super) fn order_no_v20(&self, prefix: char, now: OffsetDateTime) -> (String, u64) {
        let seq = self
            .orders
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = wall_clock_at(now, self.utc_offset);
        let no = format!(
            "{prefix}{:02}{:02}{:02}{:02}{:02}{:02}56{:06}",
            t.year() % 100,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            seq % 1_000_000
        );
        (no, seq)
    }
}

/// A `PayResult` with only `msg` (§3.3): nothing was paid.
fn failed_pay(msg: String) -> Answer {
    Answer::Data {
        msg: Some(msg),
        fields: vec![
            ("bizOrderNo", Member::Null),
            ("orderNo", Member::Null),
            ("status", Member::Null),
            ("payBody", Member::Null),
        ],
    }
}

/// The validated amount in fen.
fn amount_fen(p: &Bound) -> u64 {
    p.int("amount").map_or(0, i64::unsigned_abs)
}

/// `PayAssistService.getOrderAndCheck` for an existing order: `Ok` re-pays it.
fn check_order(order: &SandboxOrder, wall: time::PrimitiveDateTime) -> Result<(), &'static str> {
    match order.status {
        OrderStatus::Progress if order.expired_time.is_some_and(|t| wall >= t) => {
            Err("支付已超时，请重新确认支付状态")
        }
        OrderStatus::Progress => Ok(()),
        OrderStatus::Success => Err("已经支付成功，请勿重新支付"),
        OrderStatus::Fail | OrderStatus::Close | OrderStatus::Cancel => Err("支付失败或已经被关闭"),
        _ if order.refund_status == RefundStatus::Refunding => Err("该订单处于退款状态"),
        _ => Err("订单不是待支付状态，请重新确认订单状态"),
    }
}

/// The fake channel's `payBody` per channel and method (§3.3); `None` where 2.0.8 answers null.
/// Amounts in it are the order's stored amount, so a repeated pay shows which amount the
/// channel was asked for.
fn pay_body(
    channel: &str,
    method: &str,
    order: &SandboxOrder,
    now: OffsetDateTime,
) -> Option<String> {
    let no = &order.order_no;
    let yuan = order.amount;
    let fen = order.amount.fen();
    let epoch = now.unix_timestamp();
    let tag = format!("{:016x}", digest(&format!("{no}{epoch}")));
    match (channel, method) {
        ("ali_pay", "wap" | "web") => {
            let api = if method == "wap" { "alipay.trade.wap.pay" } else { "alipay.trade.page.pay" };
            Some(format!(
                "https://openapi.alipay.com/gateway.do?app_id=2021000000000000&method={api}\
                 &charset=UTF-8&sign_type=RSA2&version=1.0&out_trade_no={no}&total_amount={yuan}&sign=SANDBOX"
            ))
        }
        ("ali_pay", "app") => Some(format!(
            "alipay_sdk=alipay-sdk-java&app_id=2021000000000000&biz_content=%7B%22out_trade_no%22%3A%22{no}%22%2C%22total_amount%22%3A%22{yuan}%22%7D\
             &charset=UTF-8&method=alipay.trade.app.pay&sign=SANDBOX&sign_type=RSA2&version=1.0"
        )),
        // `alipay.trade.create`'s trade_no.
        ("ali_pay", "jsapi") => Some(format!("2024{:024}", digest(no) % 10u128.pow(24))),
        ("ali_pay", "qrcode") => Some(format!("https://qr.alipay.com/bax0{}", &tag[..12])),
        ("wechat_pay", "wap") => Some(format!(
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{tag}&package={}",
            digest(no) % 10_000_000_000
        )),
        // Only the prepay_id (§3.3): no signed app parameter set.
        ("wechat_pay", "app") => Some(format!("wx{tag}{fen:08}")),
        ("wechat_pay", "qrcode") => Some(format!("weixin://wxpay/bizpayurl?pr={}", &tag[..7])),
        // IJPay's map written by Jackson in `HashMap` order (§3.3, [R1]).
        ("wechat_pay", "jsapi") => Some(format!(
            "{{\"timeStamp\":\"{epoch}\",\"signType\":\"HMAC-SHA256\",\"package\":\"prepay_id=wx{tag}\",\
             \"paySign\":\"SANDBOX{}\",\"nonceStr\":\"{}\",\"appId\":\"wx8888888888888888\"}}",
            tag.to_uppercase(),
            now.unix_timestamp_nanos() / 1_000_000
        )),
        ("union_pay", "qrcode") => Some(format!("https://qr.95516.com/00010000/{:020}", digest(no) % 10u128.pow(20))),
        ("union_pay", "app") => Some(format!("{:021}", digest(no) % 10u128.pow(21))),
        ("union_pay", "web" | "wap") => Some(format!(
            "<form id=\"pay_form\" name=\"pay_form\" action=\"https://gateway.95516.com/gateway/api/frontTransReq.do\" method=\"post\">\
             <input type=\"hidden\" name=\"orderId\" value=\"{no}\"/><input type=\"hidden\" name=\"txnAmt\" value=\"{fen}\"/>\
             </form><script>document.forms['pay_form'].submit();</script>"
        )),
        _ => None,
    }
}

/// A cheap stable digest (fake channel numbers only).
fn digest(s: &str) -> u128 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u128, |h, b| {
        (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
