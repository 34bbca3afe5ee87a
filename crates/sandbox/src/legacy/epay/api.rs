//! `api.php` (§6.3 to §6.5): `act` from the query string; `order` reads the rest from the query
//! string and authenticates by the merchant key sent in clear; `refund` reads the POST body.
//! Every other act is `No Act!`. Answers are plain `json_encode` (Chinese as `\uXXXX`).

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::php::{self, json_object, Json, Params};
use super::{json, lock, EpayRefund, EpayState};
use crate::config::EpayOrder;
use crate::sign::epay as sign;

fn answer(code: i64, msg: &str) -> Response<Full<Bytes>> {
    json(json_object(
        &[
            ("code", Json::Int(code)),
            ("msg", Json::Str(msg.to_owned())),
        ],
        false,
    ))
}

impl EpayState {
    pub(super) fn api(&self, get: &Params, post: &Params) -> Response<Full<Bytes>> {
        match get.text("act") {
            "order" => self.order(get),
            "refund" => self.refund(post),
            _ => answer(-5, "No Act!"),
        }
    }

    /// `pid` and `key` checked as the gateway checks them: `商户ID不存在`, then `商户密钥错误`
    /// (strict compare).
    #[allow(clippy::result_large_err)] // the refusal is the answer itself
    fn authenticated(&self, p: &Params) -> Result<u64, Response<Full<Bytes>>> {
        let pid = php::intval(p.text("pid"));
        match self.merchant(pid) {
            None => Err(answer(-3, "商户ID不存在")),
            Some(m) if !sign::matches(m.key.expose(), p.text("key")) => {
                Err(answer(-3, "商户密钥错误"))
            }
            Some(_) => Ok(pid),
        }
    }

    /// `act=order` (§6.3, build 3094's answer with `bill_trade_no`).
    fn order(&self, p: &Params) -> Response<Full<Bytes>> {
        if p.has("sign") && p.has("trade_no") {
            // The gateway's internal path: a merchant cannot sign this call.
            return answer(-3, "verify sign failed");
        }
        let pid = match self.authenticated(p) {
            Ok(pid) => pid,
            Err(refused) => return refused,
        };
        let orders = lock(&self.orders);
        let Some(order) = find(&orders, pid, p.text("trade_no"), p.text("out_trade_no")) else {
            return if p.text("trade_no").is_empty() && p.text("out_trade_no").is_empty() {
                answer(-4, "订单号不能为空")
            } else {
                answer(-1, "订单号不存在")
            };
        };
        let text = |v: &str| Json::Str(v.to_owned());
        json(json_object(
            &[
                ("code", Json::Int(1)),
                ("msg", text("succ")),
                ("trade_no", text(&order.trade_no)),
                ("out_trade_no", text(&order.out_trade_no)),
                ("api_trade_no", Json::opt(order.api_trade_no.as_deref())),
                ("bill_trade_no", Json::Null),
                ("type", text(&order.pay_type)),
                ("pid", Json::Int(order.pid as i64)),
                ("addtime", text(&order.addtime)),
                ("endtime", Json::opt(order.endtime.as_deref())),
                ("name", text(&order.name)),
                ("money", text(&php::yuan(order.money_fen))),
                ("param", Json::opt(order.param.as_deref())),
                ("buyer", Json::opt(order.buyer.as_deref())),
                ("status", Json::Int(i64::from(order.status))),
                ("payurl", Json::Null),
            ],
            false,
        ))
    }

    /// `act=refund` (§6.5, build 3094's cumulative refunds).
    fn refund(&self, p: &Params) -> Response<Full<Bytes>> {
        let pid = match self.authenticated(p) {
            Ok(pid) => pid,
            Err(refused) => return refused,
        };
        let money = p
            .text("money")
            .trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
        // `is_numeric` and `^[0-9.]+$`; no lower bound.
        let Some(fen) = refund_fen(money) else {
            return answer(-1, "金额输入错误");
        };
        let (trade_no, out_trade_no) = (p.text("trade_no"), p.text("out_trade_no"));
        if trade_no.is_empty() && out_trade_no.is_empty() {
            return answer(-4, "订单号不能为空");
        }
        let mut orders = lock(&self.orders);
        let Some(order) = orders
            .iter_mut()
            .filter(|o| o.pid == pid)
            .find(|o| matches_numbers(o, trade_no, out_trade_no))
        else {
            return answer(-1, "当前订单不存在！");
        };
        if !matches!(order.status, 1..=3) {
            return answer(-1, "该订单状态不支持退款！");
        }
        if order.refund_fen >= order.money_fen {
            return answer(-1, "该订单已全额退款！");
        }
        if fen > order.money_fen - order.refund_fen {
            return answer(-1, "退款金额不能超过该订单剩余可退款金额！");
        }
        order.refund_fen += fen;
        order.status = 2;
        let refund_no = self.number();
        lock(&self.refunds).push(EpayRefund {
            refund_no: refund_no.clone(),
            trade_no: order.trade_no.clone(),
            pid,
            money_fen: fen,
        });
        let text = |v: &str| Json::Str(v.to_owned());
        json(json_object(
            &[
                ("code", Json::Int(0)),
                ("refund_no", text(&refund_no)),
                ("out_refund_no", text(&refund_no)),
                ("trade_no", text(&order.trade_no)),
                ("out_trade_no", text(&order.out_trade_no)),
                ("uid", Json::Int(pid as i64)),
                ("money", text(money)),
                ("reducemoney", text(&php::yuan(fen))),
                ("msg", Json::Str(format!("退款成功！退款金额￥{money}"))),
            ],
            false,
        ))
    }
}

/// The order of `pid` by `trade_no` when non-empty (it wins), else by `out_trade_no`.
fn find<'a>(
    orders: &'a [EpayOrder],
    pid: u64,
    trade_no: &str,
    out_trade_no: &str,
) -> Option<&'a EpayOrder> {
    orders
        .iter()
        .filter(|o| o.pid == pid)
        .find(|o| matches_numbers(o, trade_no, out_trade_no))
}

fn matches_numbers(order: &EpayOrder, trade_no: &str, out_trade_no: &str) -> bool {
    if trade_no.is_empty() {
        !out_trade_no.is_empty() && order.out_trade_no == out_trade_no
    } else {
        order.trade_no == trade_no
    }
}

/// The refund amount: digits and at most one dot with a digit (`0` passes), rounded to fen.
fn refund_fen(money: &str) -> Option<u64> {
    if money.chars().all(|c| c == '0' || c == '.') && money.contains('0') {
        // `0`, `0.00`: numeric, so accepted, refunding nothing.
        return (money.matches('.').count() <= 1).then_some(0);
    }
    php::money_fen(money)
}
