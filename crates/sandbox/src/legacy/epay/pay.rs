//! `mapi.php` (API payment, §6.2) and `submit.php` (page payment, §6.1): the shared checks in
//! the gateway's order, the order created or reused, and each endpoint's answer.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::php::{self, json_object, Json, Params};
use super::{html, json, lock, sysmsg, EpayState};
use crate::config::EpayOrder;
use crate::sign::epay as sign;

/// The pay types the seeded gateway has switched on (§8: `alipay`, `wxpay`, `qqpay`).
const ENABLED_TYPES: [&str; 3] = ["alipay", "wxpay", "qqpay"];

/// Which endpoint is creating: the required fields differ (§6.1 vs §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Submit,
    Mapi,
}

/// Why a create was refused: epay's code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: i64,
    pub(crate) msg: String,
}

fn refuse(code: i64, msg: impl Into<String>) -> Refusal {
    Refusal {
        code,
        msg: msg.into(),
    }
}

/// An order created (or reused by an identical re-submit), and its type when enabled.
struct Created {
    trade_no: String,
    pay_type: Option<&'static str>,
}

impl EpayState {
    /// `mapi.php`, build 3094: the POST body only; errors `{"code":-1,"msg":…}` with Chinese
    /// raw; an unknown type is the HTML `sysmsg` page under the JSON header.
    pub(super) fn mapi(&self, post: &Params, host: &str) -> Response<Full<Bytes>> {
        if !post.has("pid") {
            // The literal, with its space (§6.2 step 0).
            return json(r#"{"code":-4, "msg":"未传入任何参数"}"#.to_owned());
        }
        let created = match self.create(post, Endpoint::Mapi) {
            Ok(created) => created,
            Err(refusal) => {
                return json(json_object(
                    &[
                        ("code", Json::Int(refusal.code)),
                        ("msg", Json::Str(refusal.msg)),
                    ],
                    true,
                ))
            }
        };
        let Some(pay_type) = created.pay_type else {
            return json(sysmsg("支付方式(type)不存在"));
        };
        let (key, value) = if post.text("device") == "jump" {
            (
                "payurl",
                format!("http://{host}/pay/submit/{}/", created.trade_no),
            )
        } else {
            ("qrcode", qr_content(pay_type, &created.trade_no))
        };
        json(json_object(
            &[
                ("code", Json::Int(1)),
                ("trade_no", Json::Str(created.trade_no)),
                (key, Json::Str(value)),
            ],
            false,
        ))
    }

    /// `submit.php`: the query string when it has `pid`, else the POST body (§2); errors as
    /// the `sysmsg` page; success a page sending the browser on.
    pub(super) fn submit(&self, get: &Params, post: &Params, host: &str) -> Response<Full<Bytes>> {
        let params = if get.has("pid") { get } else { post };
        if !params.has("pid") {
            return html("你还未配置支付接口商户！".to_owned());
        }
        let created = match self.create(params, Endpoint::Submit) {
            Ok(created) => created,
            Err(refusal) => return html(sysmsg(&refusal.msg)),
        };
        let target = if params.text("type").is_empty() {
            // No type: the cashier lets the buyer choose.
            format!(
                "http://{host}/cashier.php?trade_no={}&sitename={}",
                created.trade_no,
                form(params.text("sitename"))
            )
        } else {
            match created.pay_type {
                Some(pay_type) => qr_content(pay_type, &created.trade_no),
                None => return html(sysmsg("支付方式(type)不存在")),
            }
        };
        html(format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>正在跳转</title></head>\
             <body><script>window.location.replace('{target}');</script></body></html>"
        ))
    }

    /// The checks both endpoints share, in the gateway's order, then the order.
    fn create(&self, p: &Params, endpoint: Endpoint) -> Result<Created, Refusal> {
        let pid = php::intval(p.text("pid"));
        if pid == 0 {
            return Err(refuse(-1, "商户ID不能为空"));
        }
        let merchant = self
            .merchant(pid)
            .ok_or_else(|| refuse(-1, "商户不存在！"))?;
        verify(p, merchant.key.expose())?;
        let mut required = vec![
            ("out_trade_no", "订单号(out_trade_no)不能为空"),
            ("notify_url", "通知地址(notify_url)不能为空"),
        ];
        if endpoint == Endpoint::Submit {
            required.push(("return_url", "回调地址(return_url)不能为空"));
        }
        required.extend([
            ("name", "商品名称(name)不能为空"),
            ("money", "金额(money)不能为空"),
        ]);
        if endpoint == Endpoint::Mapi {
            required.extend([
                ("type", "支付方式(type)不能为空"),
                ("clientip", "用户IP地址(clientip)不能为空"),
            ]);
        }
        if let Some((_, msg)) = required.iter().find(|(k, _)| php::empty(p.text(k))) {
            return Err(refuse(-1, *msg));
        }
        let money_fen = php::money_fen(p.text("money")).ok_or_else(|| refuse(-1, "金额不合法"))?;
        let out_trade_no = p.text("out_trade_no");
        if !out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-|".contains(&b))
        {
            return Err(refuse(-1, "订单号(out_trade_no)格式不正确"));
        }
        let stored_opt = |k: &str| Some(php::stored(p.text(k))).filter(|s| !s.is_empty());
        let name = php::chars(&php::stored(php::strcut(p.text("name"), 127)), 64).to_owned();
        let (notify_url, return_url, param) = (
            stored_opt("notify_url"),
            stored_opt("return_url"),
            stored_opt("param"),
        );
        let pay_type = ENABLED_TYPES.iter().copied().find(|t| *t == p.text("type"));

        let mut orders = lock(&self.orders);
        if let Some(old) = orders
            .iter()
            .find(|o| o.pid == pid && o.out_trade_no == out_trade_no)
        {
            if old.status != 0 {
                return Err(refuse(
                    -1,
                    format!("该订单({out_trade_no})已完成支付，请勿重复发起支付"),
                ));
            }
            if old.money_fen != money_fen
                || old.name != name
                || old.notify_url != notify_url
                || old.return_url != return_url
                || old.param != param
            {
                return Err(refuse(
                    -1,
                    format!("该订单({out_trade_no})支付参数有变化，请更换订单号重新发起支付"),
                ));
            }
            return Ok(Created {
                trade_no: old.trade_no.clone(),
                pay_type,
            });
        }
        let trade_no = self.number();
        orders.push(EpayOrder {
            trade_no: trade_no.clone(),
            out_trade_no: out_trade_no.to_owned(),
            pid,
            pay_type: pay_type.unwrap_or_default().to_owned(),
            name,
            money_fen,
            status: 0,
            refund_fen: 0,
            param,
            notify_url,
            return_url,
            api_trade_no: None,
            buyer: None,
            addtime: super::epay_now(),
            endtime: None,
            clientip: Some(p.text("clientip").to_owned()).filter(|s| !s.is_empty()),
        });
        Ok(Created { trade_no, pay_type })
    }
}

/// Build 3094's signature check (§5 step 6, without the V2 timestamp): `sign` missing, then an
/// RSA request (no merchant public key here), then MD5 compared exactly.
fn verify(p: &Params, key: &str) -> Result<(), Refusal> {
    let given = p.text("sign");
    if given.is_empty() {
        return Err(refuse(-3, "缺少签名参数"));
    }
    let sign_type = p.text("sign_type");
    if sign_type == "RSA" {
        return Err(refuse(-3, "签名校验失败，商户公钥错误"));
    }
    let expected = sign::sign(&p.texts(), key, sign::Filter::Blank);
    if sign::matches(&expected, given) {
        Ok(())
    } else {
        let label = if sign_type.is_empty() {
            "MD5"
        } else {
            sign_type
        };
        Err(refuse(-3, format!("{label}签名校验失败")))
    }
}

/// The QR content a channel would give for `pay_type` (only its shape is epay's, §17).
fn qr_content(pay_type: &str, trade_no: &str) -> String {
    match pay_type {
        "wxpay" => format!("weixin://wxpay/bizpayurl?pr={}", tail(trade_no, 7)),
        "qqpay" => format!("https://qpay.qq.com/qr/{}", tail(trade_no, 8)),
        _ => format!("https://qr.alipay.com/bax0{trade_no}"),
    }
}

/// The last `n` bytes of an ASCII number (all of it when shorter, or not ASCII).
fn tail(text: &str, n: usize) -> &str {
    text.get(text.len().saturating_sub(n)..).unwrap_or(text)
}

/// `urlencode` of a value put in a URL.
fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
