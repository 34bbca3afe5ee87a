//! The epay (彩虹易支付) V1 merchant of `--dialects jeepay,epay`, written from epay.md
//! independently of paybridge: its MD5 signature (§4), its requests (`mapi.php` §6.2,
//! `api.php?act=order` §6.3, `api.php?act=refund` §6.5) and what the driver records of them.
//! The load ([`worker`]) plays order lives as the Jeepay workers do: create (sometimes twice at
//! once), the payer pays or fails at DaxPay (or walks away), queries, refunds in parts
//! (cumulative, some over the balance, some at once), and after every unknown answer retries:
//! the same request (V1 has no timestamp: it is the same bytes) or a changed one (another amount,
//! and for a create another `notify_url` and `param`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paybridge_sandbox::{OrderStatus, RefundOrderStatus, SandboxOrder, SandboxRefund};
use serde_json::Value;

use super::book::lock;
use super::cast::*;
use super::load::Ctx;
use super::net::{get, post};
use crate::requests::Rng;

/// epay's MD5 (epay.md §4): every parameter but `sign`, `sign_type` and empty values, sorted by
/// name (plain byte order for these names), `k=v` joined by `&`, the key appended, lower-case hex.
pub(crate) fn sign<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>, key: &str) -> String {
    let mut entries: Vec<(&str, &str)> = fields
        .into_iter()
        .filter(|(k, v)| *k != "sign" && *k != "sign_type" && !v.is_empty())
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let text: Vec<String> = entries.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::requests::md5_upper(&format!("{}{key}", text.join("&"))).to_ascii_lowercase()
}

/// EpayCore's `verifyNotify`: the signature over every received parameter, compared exactly
/// (lower-case hex; G3065+ `===`).
pub(crate) fn verify(fields: &BTreeMap<String, String>, key: &str) -> bool {
    let Some(given) = fields.get("sign") else {
        return false;
    };
    sign(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())), key) == *given
}

/// Fen as epay's yuan text, two decimals (`1.00`).
pub(crate) fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Fen as the gateway's notification writes `money` (a PHP float: `1.00` → `1`, `1.50` → `1.5`).
pub(crate) fn php_float(fen: u64) -> String {
    let s = yuan(fen);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The product name every create sends (ASCII: epay stores it escaped, §9).
pub(crate) const NAME: &str = "lifecycle soak epay";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum EOp {
    Create,
    Query,
    Refund,
}

impl EOp {
    pub(crate) fn label(self) -> &'static str {
        match self {
            EOp::Create => "epay mapi.php",
            EOp::Query => "epay act=order",
            EOp::Refund => "epay act=refund",
        }
    }
}

/// A create's fields the order keeps: `param` (`fs<id>`, DaxPay's `attach`) names it.
#[derive(Clone, Debug)]
pub(crate) struct EFieldSet {
    pub(crate) id: u64,
    pub(crate) amount: u64,
    pub(crate) kind: &'static str,
    pub(crate) device: &'static str,
    pub(crate) notify_path: String,
}

impl EFieldSet {
    pub(crate) fn param(&self) -> String {
        super::book::FieldSet::ext_of(self.id)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum EAnswer {
    Lost(String),
    Got { http: u16, json: Value, raw: String },
}

impl EAnswer {
    fn from_body(http: u16, body: &[u8]) -> EAnswer {
        EAnswer::Got {
            http,
            json: serde_json::from_slice(body).unwrap_or(Value::Null),
            raw: String::from_utf8_lossy(body).chars().take(300).collect(),
        }
    }

    /// `code` as a number (PHP may send `"1"`).
    pub(crate) fn code(&self) -> Option<i64> {
        match self {
            EAnswer::Got { json, .. } => match json.get("code")? {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            },
            EAnswer::Lost(_) => None,
        }
    }

    pub(crate) fn text(&self, key: &str) -> Option<String> {
        match self {
            EAnswer::Got { json, .. } => super::jeepay::text(json, key),
            EAnswer::Lost(_) => None,
        }
    }

    pub(crate) fn msg(&self) -> String {
        self.text("msg").unwrap_or_default()
    }

    /// The outcome is not known: no answer, load shed, or words saying so (paybridge's system
    /// faults "结果未知，请稍后查询订单", a request of the same bytes still in flight).
    pub(crate) fn unknown(&self) -> bool {
        match self {
            EAnswer::Lost(_) => true,
            EAnswer::Got { http: 503, .. } => true,
            EAnswer::Got { .. } => {
                let msg = self.msg();
                self.code() != Some(0)
                    && self.code() != Some(1)
                    && (msg.contains("结果未知")
                        || msg.contains("相同请求正在处理中")
                        || msg.contains("系统繁忙"))
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            EAnswer::Lost(why) => format!("no answer ({why})"),
            EAnswer::Got { http, raw, .. } => format!("HTTP {http} {raw}"),
        }
    }
}

/// One epay request sent and what came back.
#[derive(Clone, Debug)]
pub(crate) struct ESent {
    pub(crate) id: u64,
    pub(crate) op: EOp,
    pub(crate) order: String,
    /// Create: the field set sent.
    pub(crate) fieldset: Option<u64>,
    /// Refund: the amount asked, fen.
    pub(crate) refund_fen: Option<u64>,
    pub(crate) body_group: u64,
    pub(crate) sent: Instant,
    pub(crate) done: Instant,
    pub(crate) answer: EAnswer,
}

#[derive(Default)]
pub(crate) struct EBook {
    pub(crate) sent: Mutex<Vec<ESent>>,
    pub(crate) fieldsets: Mutex<HashMap<u64, EFieldSet>>,
    /// Every `out_trade_no` a create was sent for.
    pub(crate) orders: Mutex<Vec<String>>,
    /// When the payer paid each order at DaxPay.
    pub(crate) paid: Mutex<HashMap<String, Instant>>,
    /// 2.0: refunds the channel settled (refundNo → when).
    pub(crate) refund_settled: Mutex<HashMap<String, Instant>>,
}

/// A request to make.
#[derive(Clone)]
struct Req {
    op: EOp,
    order: String,
    fieldset: Option<EFieldSet>,
    refund_fen: Option<u64>,
    /// `mapi.php` and `act=refund` are POSTed; `act=order` is a GET.
    fields: Vec<(&'static str, String)>,
}

impl Req {
    fn form(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if self.op == EOp::Create {
            let signature = sign(self.fields.iter().map(|(k, v)| (*k, v.as_str())), EPAY.key);
            for (k, v) in &self.fields {
                s.append_pair(k, v);
            }
            s.append_pair("sign", &signature);
            s.append_pair("sign_type", "MD5");
        } else {
            for (k, v) in &self.fields {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

impl Ctx {
    /// The epay merchant's `out_trade_no` as DaxPay holds it (2.0: after its prefix).
    pub(crate) fn epay_dax_no(&self, own: &str) -> String {
        match self.dax.is_2_0() {
            true => format!("{}{own}", EPAY.prefix_2_0),
            false => own.to_owned(),
        }
    }

    pub(crate) fn epay_dax_order(&self, order: &str) -> Option<SandboxOrder> {
        self.sandbox.order_by_biz(&self.epay_dax_no(order))
    }

    pub(crate) fn epay_dax_refunds(&self, order: &str) -> Vec<SandboxRefund> {
        let biz = self.epay_dax_no(order);
        self.sandbox
            .refunds()
            .into_iter()
            .filter(|r| r.biz_order_no == biz)
            .collect()
    }

    fn epay_fieldset(&self, amount: u64, kind: &'static str, device: &'static str) -> EFieldSet {
        let id = self.serial();
        let fs = EFieldSet {
            id,
            amount,
            kind,
            device,
            notify_path: format!("/e/{id}"),
        };
        lock(&self.epay.fieldsets).insert(id, fs.clone());
        fs
    }

    async fn epay_send(&self, req: &Req, body_group: u64, form: String) -> EAnswer {
        let sent = Instant::now();
        let got = match req.op {
            EOp::Query => {
                get(
                    &self.client,
                    self.front,
                    &format!("/api.php?{form}"),
                    CLIENT_TIMEOUT,
                )
                .await
            }
            EOp::Create | EOp::Refund => {
                let path = match req.op {
                    EOp::Create => "/mapi.php",
                    _ => "/api.php?act=refund",
                };
                post(
                    &self.client,
                    self.front,
                    path,
                    "application/x-www-form-urlencoded",
                    Bytes::from(form),
                    CLIENT_TIMEOUT,
                )
                .await
            }
        };
        let answer = match got {
            Ok(got) => EAnswer::from_body(got.status.as_u16(), &got.body),
            Err(why) => EAnswer::Lost(why),
        };
        lock(&self.epay.sent).push(ESent {
            id: self.serial(),
            op: req.op,
            order: req.order.clone(),
            fieldset: req.fieldset.as_ref().map(|f| f.id),
            refund_fen: req.refund_fen,
            body_group,
            sent,
            done: Instant::now(),
            answer: answer.clone(),
        });
        answer
    }
}

fn create_req(ctx: &Ctx, order: &str, fs: EFieldSet) -> Req {
    let fields = vec![
        ("pid", EPAY.pid.to_owned()),
        ("type", fs.kind.to_owned()),
        ("out_trade_no", order.to_owned()),
        (
            "notify_url",
            format!("http://127.0.0.1:{}{}", ctx.merchant_port, fs.notify_path),
        ),
        ("name", NAME.to_owned()),
        ("money", yuan(fs.amount)),
        ("clientip", "127.0.0.1".to_owned()),
        ("device", fs.device.to_owned()),
        ("param", fs.param()),
    ];
    Req {
        op: EOp::Create,
        order: order.to_owned(),
        fieldset: Some(fs),
        refund_fen: None,
        fields,
    }
}

/// `trade_no` wins at the gateway; the order is named by one or the other.
fn number(order: &str, trade_no: Option<&str>, rng: &mut Rng) -> (&'static str, String) {
    match trade_no {
        Some(t) if rng.chance(300) => ("trade_no", t.to_owned()),
        _ => ("out_trade_no", order.to_owned()),
    }
}

pub(crate) fn query_fields(by: (&'static str, String)) -> Vec<(&'static str, String)> {
    vec![
        ("act", "order".to_owned()),
        ("pid", EPAY.pid.to_owned()),
        ("key", EPAY.key.to_owned()),
        by,
    ]
}

fn refund_req(order: &str, by: (&'static str, String), fen: u64) -> Req {
    Req {
        op: EOp::Refund,
        order: order.to_owned(),
        fieldset: None,
        refund_fen: Some(fen),
        fields: vec![
            ("pid", EPAY.pid.to_owned()),
            ("key", EPAY.key.to_owned()),
            by,
            ("money", yuan(fen)),
        ],
    }
}

/// Sends `req`, retrying up to three times while the outcome is unknown: the same request, or
/// (a quarter of the time) a changed one under the same number.
async fn with_retries(ctx: &Ctx, rng: &mut Rng, mut req: Req) -> EAnswer {
    let mut group = ctx.serial();
    let mut answer = ctx.epay_send(&req, group, req.form()).await;
    for _ in 0..3 {
        if !answer.unknown() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(700) as u64)).await;
        if rng.chance(250) {
            vary(ctx, rng, &mut req);
            group = ctx.serial();
        }
        answer = ctx.epay_send(&req, group, req.form()).await;
    }
    answer
}

/// Another amount (and for a create another `notify_url` and `param`: a new field set).
fn vary(ctx: &Ctx, rng: &mut Rng, req: &mut Req) {
    let set = |req: &mut Req, key: &str, value: String| {
        if let Some(entry) = req.fields.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = value;
        }
    };
    match req.op {
        EOp::Create => {
            let Some(old) = req.fieldset.clone() else {
                return;
            };
            let amount = old.amount + 1 + rng.below(50) as u64;
            let fs = ctx.epay_fieldset(amount, old.kind, old.device);
            set(req, "money", yuan(amount));
            set(
                req,
                "notify_url",
                format!("http://127.0.0.1:{}{}", ctx.merchant_port, fs.notify_path),
            );
            set(req, "param", fs.param());
            req.fieldset = Some(fs);
        }
        EOp::Refund => {
            let fen = req.refund_fen.unwrap_or(1).saturating_sub(1).max(1);
            set(req, "money", yuan(fen));
            req.refund_fen = Some(fen);
        }
        EOp::Query => {}
    }
}

/// Two copies at once (the same bytes: V1 has no timestamp), then retried if both are unknown.
async fn duplicated(ctx: &Arc<Ctx>, rng: &mut Rng, req: Req) -> EAnswer {
    let group = ctx.serial();
    let (c1, c2) = (Arc::clone(ctx), Arc::clone(ctx));
    let (r1, r2) = (req.clone(), req.clone());
    let first = tokio::spawn(async move { c1.epay_send(&r1, group, r1.form()).await });
    let second = tokio::spawn(async move { c2.epay_send(&r2, group, r2.form()).await });
    match (first.await, second.await) {
        (Ok(a), _) if !a.unknown() => a,
        (_, Ok(b)) if !b.unknown() => b,
        _ => with_retries(ctx, rng, req).await,
    }
}

pub(crate) async fn worker(ctx: Arc<Ctx>, index: usize, seed: u64) {
    let mut rng = Rng(seed);
    while Instant::now() < ctx.deadline {
        story(&ctx, &mut rng, index).await;
    }
}

/// Types and devices (epay.md §8; docs/operations-mapping.md: alipay pc → ALI_PC, mobile →
/// ALI_WAP; wxpay pc → WX_NATIVE).
const KINDS: [(&str, &str); 3] = [("alipay", "pc"), ("alipay", "mobile"), ("wxpay", "pc")];

/// One epay order's life.
async fn story(ctx: &Arc<Ctx>, rng: &mut Rng, index: usize) {
    let order = format!("{}E{index:02}N{}", ctx.tag, ctx.serial());
    lock(&ctx.epay.orders).push(order.clone());
    let (kind, device) = KINDS[rng.below(KINDS.len())];
    let amount = 100 + rng.below(4900) as u64;
    let fs = ctx.epay_fieldset(amount, kind, device);
    let req = create_req(ctx, &order, fs);
    let answer = if rng.chance(100) {
        duplicated(ctx, rng, req).await
    } else {
        with_retries(ctx, rng, req).await
    };
    let trade_no = answer.text("trade_no");

    // The payer, at DaxPay: pays, fails (3.0: no 2.0.8 path fails an order), or walks away.
    if let Some(o) = ctx.epay_dax_order(&order) {
        if o.status == OrderStatus::Progress {
            let choice = rng.below(100);
            if choice < 60 && ctx.sandbox.pay_order(&o.order_no).is_ok() {
                lock(&ctx.epay.paid).insert(order.clone(), Instant::now());
            } else if (60..70).contains(&choice) && !ctx.dax.is_2_0() {
                let _ = ctx.sandbox.fail_order(&o.order_no);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(rng.below(300) as u64)).await;
    if rng.chance(500) {
        query(ctx, rng, &order, trade_no.as_deref()).await;
    }
    if let Some(o) = ctx.epay_dax_order(&order) {
        // Some paid orders are never refunded (status 1 to the end).
        if o.status == OrderStatus::Success && rng.chance(700) {
            refunds(ctx, rng, &order, trade_no.as_deref(), o.amount.fen()).await;
        }
    }
    if rng.chance(500) {
        query(ctx, rng, &order, trade_no.as_deref()).await;
    }
}

async fn query(ctx: &Ctx, rng: &mut Rng, order: &str, trade_no: Option<&str>) {
    let req = Req {
        op: EOp::Query,
        order: order.to_owned(),
        fieldset: None,
        refund_fen: None,
        fields: query_fields(number(order, trade_no, rng)),
    };
    with_retries(ctx, rng, req).await;
}

/// One to three refunds (cumulative, build 3094), in turn or at once, shares of the amount,
/// sometimes the whole amount again (refused once the balance is short, rightly).
async fn refunds(ctx: &Arc<Ctx>, rng: &mut Rng, order: &str, trade_no: Option<&str>, amount: u64) {
    let count = 1 + rng.below(3) as u64;
    let mut reqs = Vec::new();
    for _ in 0..count {
        let share = if rng.chance(150) {
            amount
        } else {
            (amount / count).max(1) - rng.below(3) as u64 * (amount / 10 / count)
        };
        reqs.push(refund_req(
            order,
            number(order, trade_no, rng),
            share.max(1),
        ));
    }
    if rng.chance(300) {
        let mut tasks = Vec::new();
        for req in reqs {
            let c = Arc::clone(ctx);
            let mut r = Rng(rng.next());
            tasks.push(tokio::spawn(
                async move { with_retries(&c, &mut r, req).await },
            ));
        }
        for t in tasks {
            let _ = t.await;
        }
    } else {
        for req in reqs {
            if rng.chance(80) {
                duplicated(ctx, rng, req).await;
            } else {
                with_retries(ctx, rng, req).await;
            }
        }
    }
    if ctx.dax.is_2_0() {
        // 2.0.8's WeChat refunds are asynchronous (lifecycle-2.0.md §5.2): the channel answers
        // most of those still in progress a moment later, closes a few.
        for r in ctx.epay_dax_refunds(order) {
            if r.status != RefundOrderStatus::Progress {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(rng.below(400) as u64)).await;
            let choice = rng.below(100);
            let done = if choice < 85 {
                ctx.sandbox.succeed_refund(&r.refund_no).is_some()
            } else if choice < 92 {
                ctx.sandbox.close_refund(&r.refund_no).is_some()
            } else {
                false
            };
            if done {
                lock(&ctx.epay.refund_settled).insert(r.refund_no.clone(), Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_epay_md_section_4_and_its_vector_e1() {
        // epay.md §15 E1: the doc's key and fields.
        let key = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";
        let fields = [
            ("pid", "1001"),
            ("type", "alipay"),
            ("out_trade_no", "20160806151343349"),
            ("notify_url", "http://www.pay.com/notify_url.php"),
            ("return_url", "http://www.pay.com/return_url.php"),
            ("name", "VIP会员"),
            ("money", "1.00"),
            ("sign_type", "MD5"),
            ("param", ""),
        ];
        let expected = "427724b6656aa612cfdbe7a2262036a3".to_owned();
        assert_eq!(sign(fields, key), expected);
        let mut map: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.insert("sign".to_owned(), expected.to_ascii_uppercase());
        assert!(!verify(&map, key), "upper-case hex is refused (===)");
        map.insert("sign".to_owned(), expected);
        assert!(verify(&map, key));
    }

    #[test]
    fn money_as_text_and_as_php_floats() {
        assert_eq!(yuan(100), "1.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(php_float(100), "1");
        assert_eq!(php_float(150), "1.5");
        assert_eq!(php_float(10), "0.1");
        assert_eq!(php_float(1), "0.01");
        assert_eq!(php_float(10050), "100.5");
    }
}
