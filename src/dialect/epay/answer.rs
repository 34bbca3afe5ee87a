//! epay's answers as bytes: V1 JSON (unsigned), V2 JSON (RSA-signed with the platform key over
//! every field, with a fresh `timestamp`), and the HTML the payer's browser gets from
//! `submit.php` / `/api/pay/submit` (epay.md §2, §6, §7).
//!
//! Always HTTP 200, as the gateway. Success bodies of `mapi.php`, `api.php` and
//! `/api/pay/create` are plain `json_encode` (non-ASCII as `\uXXXX`); error bodies and the
//! other V2 bodies `JSON_UNESCAPED_UNICODE`. Keys in the gateway's insertion order.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::php::{self, Flags, Json};
use super::sign::{self, Filter, RsaSigner};
use crate::dialect::merchant::Answer;

pub const JSON: &str = "application/json; charset=UTF-8";
pub const HTML: &str = "text/html; charset=UTF-8";

/// An answer ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpayReply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl EpayReply {
    pub fn json(text: String) -> EpayReply {
        EpayReply {
            status: StatusCode::OK,
            content_type: JSON,
            body: Bytes::from(text),
        }
    }

    pub fn html(text: String) -> EpayReply {
        EpayReply {
            status: StatusCode::OK,
            content_type: HTML,
            body: Bytes::from(text),
        }
    }

    /// The body as text (tests, logs).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }
}

/// As the pipeline writes it; a JSON answer's `code` goes to the access log.
impl From<EpayReply> for Answer {
    fn from(reply: EpayReply) -> Answer {
        let code = (reply.content_type == JSON)
            .then(|| {
                serde_json::from_slice::<serde_json::Value>(&reply.body)
                    .ok()?
                    .get("code")?
                    .as_i64()
            })
            .flatten();
        Answer {
            status: reply.status,
            content_type: HeaderValue::from_static(reply.content_type),
            body: reply.body,
            code,
        }
    }
}

/// What a V2 answer is signed with, and when.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The platform key (`[epay] platform_private_key`).
    pub platform_key: &'a RsaSigner,
    /// Unix seconds: the answer's `timestamp`.
    pub now: i64,
}

/// The string a V2 answer's signature covers: every field but `sign`/`sign_type`, nulls and
/// blanks left out (build 3094's `getSignContent`), in byte order.
pub fn v2_string_to_sign(fields: &[(&str, Json)]) -> String {
    let values: Vec<(&str, String)> = fields
        .iter()
        .filter_map(|(k, v)| Some((*k, v.as_signed()?)))
        .collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sign::string_to_sign(&pairs, Filter::Build3094)
}

/// A signed V2 answer: `fields`, then `timestamp` (now, as text), `sign_type` `RSA` and `sign`.
pub fn v2_signed(mut fields: Vec<(&str, Json)>, signing: Signing<'_>, flags: Flags) -> EpayReply {
    fields.push(("timestamp", Json::Text(signing.now.to_string())));
    fields.push(("sign_type", Json::Text("RSA".to_owned())));
    let signature = signing.platform_key.sign(&v2_string_to_sign(&fields));
    fields.push(("sign", Json::Text(signature)));
    EpayReply::json(php::json_object(&fields, flags))
}

/// An unsigned JSON answer (every V1 answer; V2 refusals the gateway throws).
pub fn unsigned(fields: &[(&str, Json)], flags: Flags) -> EpayReply {
    EpayReply::json(php::json_object(fields, flags))
}

/// `{"code":…,"msg":…}` as `echojson` writes it (`JSON_UNESCAPED_UNICODE`).
pub fn error(code: i64, msg: &str) -> EpayReply {
    unsigned(
        &[
            ("code", Json::Int(code)),
            ("msg", Json::Text(msg.to_owned())),
        ],
        Flags::UnescapedUnicode,
    )
}

/// The gateway's `sysmsg()` page: `<h3>站点提示信息</h3>` and the message (escaped here; the
/// gateway echoes it raw).
pub fn sysmsg(msg: &str) -> EpayReply {
    EpayReply::html(format!(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"zh-CN\">\n<head>\n\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n\
         <title>站点提示信息</title>\n{STYLE}</head>\n<body id=\"error-page\">\n\
         <h3>站点提示信息</h3>{}</body>\n</html>",
        php::html(msg)
    ))
}

const STYLE: &str =
    "<style type=\"text/css\">html{background:#eee}body{background:#fff;color:#333;\
font-family:\"微软雅黑\",\"Microsoft YaHei\",sans-serif;margin:2em auto;padding:1em 2em;\
max-width:700px}h3{text-align:center}a{color:#21759B;text-decoration:none}</style>\n";

/// A JavaScript string literal's contents that cannot end the string or the script.
fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\x22"),
            '<' => out.push_str("\\x3c"),
            '>' => out.push_str("\\x3e"),
            '&' => out.push_str("\\x26"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The gateway's jump page: `<script>window.location.replace('…');</script>` (with a link for
/// browsers without JavaScript).
pub fn jump(url: &str) -> EpayReply {
    EpayReply::html(format!(
        "<script>window.location.replace('{}');</script><noscript><a href=\"{}\">继续支付</a></noscript>",
        js_string(url),
        php::html(url)
    ))
}

/// A page for QR content (`weixin://…`, `https://qr.alipay.com/…`): paybridge has no QR
/// renderer, so the content is shown and linked for the payer to open on a phone.
pub fn qrcode_page(pay_type: &str, content: &str, money: &str, name: &str) -> EpayReply {
    let app = match pay_type {
        "wxpay" => "微信",
        "alipay" => "支付宝",
        _ => "支付应用",
    };
    EpayReply::html(format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n\
         <title>扫码支付</title>\n{STYLE}</head>\n<body>\n<h3>请使用{app}扫码支付</h3>\n\
         <p>商品：{}</p>\n<p>金额：￥{}</p>\n<p>支付链接：<a href=\"{}\">{}</a></p>\n</body>\n</html>",
        php::html(name),
        php::html(money),
        php::html(content),
        php::html(content)
    ))
}

/// A channel's HTML (an auto-submitting form) written as it is, as the gateway's `html` case.
pub fn channel_html(html: &str) -> EpayReply {
    EpayReply::html(html.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::sign::RsaVerifier;
    use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};

    #[test]
    fn e10_the_v2_create_answer_byte_for_byte() {
        // epay.md §15 E10: the sample key stands in for the platform key.
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let reply = v2_signed(
            vec![
                ("code", Json::Int(0)),
                ("trade_no", "2024071719404366151".into()),
                ("pay_type", "qrcode".into()),
                (
                    "pay_info",
                    "https://qr.alipay.com/bax00000000000000000".into(),
                ),
            ],
            Signing {
                platform_key: &key,
                now: 1_721_206_073,
            },
            Flags::Plain,
        );
        assert_eq!(
            reply.text(),
            r#"{"code":0,"trade_no":"2024071719404366151","pay_type":"qrcode","pay_info":"https:\/\/qr.alipay.com\/bax00000000000000000","timestamp":"1721206073","sign_type":"RSA","sign":"PbsOMymFa5XTcN8LaaQMS2nbBPdvAC6YTiWXlZtkOwx6nq1M+b3NJb0oK7hZzjwlIl9ERgk0cV2j3aXtWh3LctyKcqqFIlA7fAlQ00dV1PqsDVI1jO4kaPSURtMjGa\/7\/sMG63\/OENJr5lRZV7VEyQb0SKKkRPpZzxhCmLBRKJD56RddsRLU6\/rwGGXzUxcehyi1wRA2try6cXqxW\/DAyhQQHRv1XdwBkcfwtczCFJEBOfa0kYbThpGyl1KkejweBeTq59hSek1c\/efSm39VSRA0QH2uy8cvIOqGubpU8hS1S1ACuqwOj3cFoT3f\/IaQqD+DKcawJP5XSYDUEjuPnQ=="}"#
        );
        assert_eq!(reply.content_type, JSON);
    }

    #[test]
    fn signed_answers_verify_with_the_platform_public_key() {
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let public = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
        let reply = v2_signed(
            vec![
                ("code", Json::Int(0)),
                ("msg", "订单关闭成功".into()),
                ("endtime", Json::Null),
                ("param", "".into()),
            ],
            Signing {
                platform_key: &key,
                now: 1_700_000_000,
            },
            Flags::UnescapedUnicode,
        );
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&reply.body).unwrap();
        let params = crate::dialect::epay::params::from_json(&object).unwrap();
        let pairs = crate::dialect::epay::params::borrowed(&params);
        assert!(sign::rsa_verify(&pairs, &public));
        assert!(reply.text().contains("\"msg\":\"订单关闭成功\""));
    }

    #[test]
    fn errors_and_pages() {
        assert_eq!(
            error(-1, "金额不合法").text(),
            r#"{"code":-1,"msg":"金额不合法"}"#
        );
        let page = sysmsg("该订单(<x>)已完成支付");
        assert!(page
            .text()
            .contains("<h3>站点提示信息</h3>该订单(&lt;x&gt;)已完成支付"));
        assert_eq!(page.content_type, HTML);
        let jump = jump("https://pay.example/p?a=1&b='</script>");
        assert!(
            jump.text()
                .starts_with("<script>window.location.replace('https://pay.example/p?a=1\\x26b=\\'\\x3c/script\\x3e');</script>"),
            "{}",
            jump.text()
        );
        assert!(!jump.text().contains("'</script>"));
    }
}
