//! epay V2 (`/api/pay/*`, build 3094/3095, epay.md §5 and §7): `create`, `query`, `refund`,
//! `refundquery` and `close`, RSA (or MD5) signed requests with a `timestamp` inside ±300 s,
//! answers signed with the platform key. Served only when `epay_platform_private_key` is set.
//!
//! Every route checks as `ApiHelper` does: no `pid` → -4 `未传入任何参数`, `商户ID不能为空`,
//! `商户不存在！`, then §5 (all -3): timestamp, `缺少签名参数`, the merchant's public key, the
//! signature. Exceptions are unsigned `{"code":-1,"msg":…}`; what a handler returns (its
//! success, a refund's or a close's business failure) gets `timestamp`, `sign_type`, `sign`.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::api::{find, refund_fen};
use super::pay::{qr_content, refuse, Endpoint, Refusal};
use super::php::{self, json_object, Json, Params};
use super::{json, lock, EpayState};
use crate::sign::epay as sign;

/// The V2 methods served (`/api/pay/<method>`).
pub(crate) const METHODS: [&str; 5] = ["create", "query", "refund", "refundquery", "close"];

/// `/api/<class>/<method>` as `ApiHelper::load_api` matches it (`^(.[a-zA-Z0-9_]+)/(.[a-zA-Z0-9_]+)$`
/// on what follows `/api/`: each part one character of any kind, then word characters).
pub(crate) fn api_route(path: &str) -> Option<(&str, &str)> {
    let (class, method) = path.strip_prefix("/api/")?.split_once('/')?;
    let word = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some()
            && !chars.as_str().is_empty()
            && chars
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    (word(class) && word(method)).then_some((class, method))
}

/// A V2 route the gateway has no handler for: `{"code":-5,"msg":"接口方法不存在"}` (`echojsonmsg`,
/// Chinese raw), before any parameter is read.
pub(crate) fn no_such_method() -> Response<Full<Bytes>> {
    json(json_object(
        &[
            ("code", Json::Int(-5)),
            ("msg", Json::Str("接口方法不存在".to_owned())),
        ],
        true,
    ))
}

/// What a V2 handler answers: unsigned (an exception) or signed (returned by the handler);
/// `unescaped`: written by `echojson` (Chinese raw) rather than plain `json_encode`.
enum Reply {
    Unsigned(Refusal),
    Signed {
        fields: Vec<(&'static str, Json)>,
        unescaped: bool,
    },
}

fn exception(msg: &str) -> Reply {
    Reply::Unsigned(refuse(-1, msg))
}

fn signed_failure(msg: &str) -> Reply {
    Reply::Signed {
        fields: vec![("code", Json::Int(-1)), ("msg", Json::Str(msg.to_owned()))],
        unescaped: true,
    }
}

impl EpayState {
    /// One V2 call; `method` is one of [`METHODS`].
    pub(super) fn v2(&self, method: &str, p: &Params, host: &str) -> Response<Full<Bytes>> {
        let reply = match self.v2_auth(p) {
            Err(None) => {
                // A non-numeric timestamp: PHP 8's uncaught TypeError (§5 step 4).
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return response;
            }
            Err(Some(refusal)) => Reply::Unsigned(refusal),
            Ok(pid) => match method {
                "create" => self.v2_create(p, pid, host),
                "query" => self.v2_query(p, pid),
                "refund" => self.v2_refund(p, pid),
                "refundquery" => self.v2_refundquery(p),
                _ => self.v2_close(p, pid),
            },
        };
        match reply {
            Reply::Unsigned(r) => json(json_object(
                &[("code", Json::Int(r.code)), ("msg", Json::Str(r.msg))],
                true,
            )),
            Reply::Signed { fields, unescaped } => json(self.sign_answer(fields, unescaped)),
        }
    }

    /// `timestamp` (now), `sign_type` and `sign` appended, the signature over everything but
    /// `sign_type`, nulls and blanks.
    fn sign_answer(&self, mut fields: Vec<(&'static str, Json)>, unescaped: bool) -> String {
        let now = unix_now().to_string();
        fields.push(("timestamp", Json::Str(now)));
        let texts: Vec<(&str, String)> = fields
            .iter()
            .filter_map(|(k, v)| match v {
                Json::Str(s) => Some((*k, s.clone())),
                Json::Int(n) => Some((*k, n.to_string())),
                Json::Null => None,
            })
            .collect();
        let pairs: Vec<(&str, &str)> = texts.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signature = self
            .platform_key
            .as_ref()
            .map(|key| sign::rsa_sign(&pairs, key))
            .unwrap_or_default();
        fields.push(("sign_type", Json::Str("RSA".into())));
        fields.push(("sign", Json::Str(signature)));
        json_object(&fields, unescaped)
    }

    /// `ApiHelper::load_api` and `api_verify`: the pid, then §5. `Err(None)`: PHP's crash on a
    /// non-numeric timestamp.
    fn v2_auth(&self, p: &Params) -> Result<u64, Option<Refusal>> {
        if !p.has("pid") {
            return Err(Some(refuse(-4, "未传入任何参数")));
        }
        let pid = php::intval(p.text("pid"));
        if pid == 0 {
            return Err(Some(refuse(-1, "商户ID不能为空")));
        }
        let merchant = self
            .merchant(pid)
            .ok_or_else(|| Some(refuse(-1, "商户不存在！")))?;
        let timestamp = p.text("timestamp");
        if timestamp.is_empty() {
            return Err(Some(refuse(-3, "时间戳(timestamp)字段不能为空")));
        }
        let Ok(timestamp) = timestamp.parse::<i64>() else {
            return Err(None);
        };
        if (unix_now() - timestamp).abs() > 300 {
            return Err(Some(refuse(-3, "时间戳字段不正确，请检查服务器时间")));
        }
        let given = p.text("sign");
        if given.is_empty() {
            return Err(Some(refuse(-3, "缺少签名参数")));
        }
        let sign_type = p.text("sign_type");
        let good = if sign_type == "RSA" {
            let Some(key) = &merchant.public_key else {
                return Err(Some(refuse(-3, "签名校验失败，商户公钥错误")));
            };
            sign::rsa_verify(&p.texts(), given, key)
        } else {
            let expected = sign::sign(&p.texts(), merchant.key.expose(), sign::Filter::Blank);
            sign::matches(&expected, given)
        };
        if good {
            Ok(pid)
        } else {
            let label = if sign_type.is_empty() {
                "MD5"
            } else {
                sign_type
            };
            Err(Some(refuse(-3, format!("{label}签名校验失败"))))
        }
    }

    /// §7.2: `mapi.php`'s checks and order; `{"code":0,"trade_no","pay_type","pay_info"}` in
    /// plain `json_encode`, signed.
    fn v2_create(&self, p: &Params, pid: u64, host: &str) -> Reply {
        let created = match self.create_order(p, Endpoint::Mapi, pid) {
            Ok(created) => created,
            Err(refusal) => return Reply::Unsigned(refusal),
        };
        let Some(pay_type) = created.pay_type else {
            return exception("支付方式(type)不存在");
        };
        let jump = p.text("method") == "jump" || p.text("device") == "jump";
        let (kind, info) = if jump {
            (
                "jump",
                format!("http://{host}/pay/submit/{}/", created.trade_no),
            )
        } else {
            ("qrcode", qr_content(pay_type, &created.trade_no))
        };
        Reply::Signed {
            fields: vec![
                ("code", Json::Int(0)),
                ("trade_no", Json::Str(created.trade_no)),
                ("pay_type", Json::Str(kind.into())),
                ("pay_info", Json::Str(info)),
            ],
            unescaped: false,
        }
    }

    /// §7.3: the order's fields, null and empty ones removed, `refundmoney` only after a
    /// partial refund.
    fn v2_query(&self, p: &Params, pid: u64) -> Reply {
        let (trade_no, out_trade_no) = (p.text("trade_no"), p.text("out_trade_no"));
        if trade_no.is_empty() && out_trade_no.is_empty() {
            return exception("订单号不能为空");
        }
        let orders = lock(&self.orders);
        let Some(o) = find(&orders, pid, trade_no, out_trade_no) else {
            return exception("订单号不存在");
        };
        let partial = o.refund_fen > 0 && o.refund_fen < o.money_fen;
        let candidates: Vec<(&'static str, Json)> = vec![
            ("code", Json::Int(0)),
            ("trade_no", Json::Str(o.trade_no.clone())),
            ("out_trade_no", Json::Str(o.out_trade_no.clone())),
            ("api_trade_no", Json::opt(o.api_trade_no.as_deref())),
            ("bill_trade_no", Json::Null),
            ("type", Json::Str(o.pay_type.clone())),
            ("pid", Json::Int(o.pid as i64)),
            ("addtime", Json::Str(o.addtime.clone())),
            ("endtime", Json::opt(o.endtime.as_deref())),
            ("name", Json::Str(o.name.clone())),
            ("money", Json::Str(php::yuan(o.money_fen))),
            ("param", Json::opt(o.param.as_deref())),
            ("buyer", Json::opt(o.buyer.as_deref())),
            ("clientip", Json::opt(o.clientip.as_deref())),
            ("status", Json::Int(i64::from(o.status))),
            (
                "refundmoney",
                if partial {
                    Json::Str(php::yuan(o.refund_fen))
                } else {
                    Json::Null
                },
            ),
        ];
        let fields = candidates
            .into_iter()
            .filter(|(_, v)| !matches!(v, Json::Null) && !matches!(v, Json::Str(s) if s.is_empty()))
            .collect();
        Reply::Signed {
            fields,
            unescaped: true,
        }
    }

    /// §7.4: cumulative refunds; an `out_refund_no` longer than 5 characters is idempotent.
    fn v2_refund(&self, p: &Params, pid: u64) -> Reply {
        let money = p
            .text("money")
            .trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
        let Some(fen) = refund_fen(money) else {
            return exception("金额输入错误");
        };
        let (trade_no, out_trade_no) = (p.text("trade_no"), p.text("out_trade_no"));
        if trade_no.is_empty() && out_trade_no.is_empty() {
            return exception("订单号不能为空");
        }
        if find(&lock(&self.orders), pid, trade_no, out_trade_no).is_none() {
            return exception("当前订单不存在！");
        }
        let out_refund_no = Some(p.text("out_refund_no")).filter(|n| n.chars().count() > 5);
        if let Some(no) = out_refund_no {
            let earlier = lock(&self.refunds)
                .iter()
                .find(|r| r.pid == pid && r.out_refund_no == no)
                .cloned();
            if let Some(r) = earlier {
                let text = php::yuan(r.money_fen);
                return refund_reply(&r, &text, format!("已存在相同退款单号！退款金额¥{text}"));
            }
        }
        match self.refund_order(pid, trade_no, out_trade_no, fen, out_refund_no) {
            Ok(r) => refund_reply(&r, money, format!("退款成功！退款金额¥{money}")),
            Err(msg) => signed_failure(msg),
        }
    }

    /// §7.5: a refund by `refund_no` or `out_refund_no`.
    fn v2_refundquery(&self, p: &Params) -> Reply {
        let (refund_no, out_refund_no) = (p.text("refund_no"), p.text("out_refund_no"));
        if refund_no.is_empty() && out_refund_no.is_empty() {
            return exception("商户退款单号不能为空");
        }
        let refunds = lock(&self.refunds);
        let found = refunds.iter().find(|r| {
            if refund_no.is_empty() {
                r.out_refund_no == out_refund_no
            } else {
                r.refund_no == refund_no
            }
        });
        let Some(r) = found else {
            return exception("退款记录不存在");
        };
        let text = |v: &str| Json::Str(v.to_owned());
        Reply::Signed {
            fields: vec![
                ("code", Json::Int(0)),
                ("refund_no", text(&r.refund_no)),
                ("out_refund_no", text(&r.out_refund_no)),
                ("trade_no", text(&r.trade_no)),
                ("out_trade_no", text(&r.out_trade_no)),
                ("uid", Json::Int(r.pid as i64)),
                ("money", text(&php::yuan(r.money_fen))),
                ("reducemoney", text(&php::yuan(r.money_fen))),
                ("status", Json::Int(1)),
                ("addtime", text(&r.addtime)),
                ("endtime", text(&r.addtime)),
            ],
            unescaped: true,
        }
    }

    /// §7.6 (3095): only an unpaid order; its status is not changed.
    fn v2_close(&self, p: &Params, pid: u64) -> Reply {
        let (trade_no, out_trade_no) = (p.text("trade_no"), p.text("out_trade_no"));
        if trade_no.is_empty() && out_trade_no.is_empty() {
            return exception("订单号不能为空");
        }
        let orders = lock(&self.orders);
        let Some(order) = find(&orders, pid, trade_no, out_trade_no) else {
            return exception("当前订单不存在！");
        };
        if order.status != 0 {
            return signed_failure("该订单状态不支持关闭！");
        }
        Reply::Signed {
            fields: vec![
                ("code", Json::Int(0)),
                ("msg", Json::Str("订单关闭成功".into())),
            ],
            unescaped: true,
        }
    }
}

fn refund_reply(r: &super::EpayRefund, money: &str, msg: String) -> Reply {
    let text = |v: &str| Json::Str(v.to_owned());
    Reply::Signed {
        fields: vec![
            ("code", Json::Int(0)),
            ("refund_no", text(&r.refund_no)),
            ("out_refund_no", text(&r.out_refund_no)),
            ("trade_no", text(&r.trade_no)),
            ("out_trade_no", text(&r.out_trade_no)),
            ("uid", Json::Int(r.pid as i64)),
            ("money", text(money)),
            ("reducemoney", text(&php::yuan(r.money_fen))),
            ("msg", Json::Str(msg)),
        ],
        unescaped: true,
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
