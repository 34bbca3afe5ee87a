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

/// A single-quoted JavaScript string literal's contents that cannot end the string or the
/// script (a URL's `&` and `"` stay as they are, as the gateway writes them).
fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '<' => out.push_str("\\x3c"),
            '>' => out.push_str("\\x3e"),
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

/// A page for QR content (`weixin://…`, `https://qr.alipay.com/…`): the code drawn as an inline
/// SVG for the payer to scan (the gateway draws it in the browser with a script; an inline image
/// needs none), with the content also linked for a payer already on the phone.
///
/// `back`: paybridge's return relay for the order (`None`: the merchant gave no `return_url`).
/// The gateway's page polls the order and, once paid, sends the payer on to `return_url`; this
/// one does the same through the relay, which already decides where a payer goes (a signed 302
/// to `return_url` once paid, a waiting page marked [`WAITING_MARK`] while unpaid): a small
/// inline script asks the relay every few seconds without following its redirect, and
/// navigates there once it redirects or says anything but "waiting"; a plain link does it by
/// hand for a browser without JavaScript. Nothing is loaded from elsewhere.
pub fn qrcode_page(
    pay_type: &str,
    content: &str,
    money: &str,
    name: &str,
    back: Option<&str>,
) -> EpayReply {
    let app = match pay_type {
        "wxpay" => "微信",
        "alipay" => "支付宝",
        _ => "支付应用",
    };
    let back = back.map_or_else(String::new, |url| {
        format!(
            "<p><a id=\"back\" href=\"{}\">已完成支付？点此返回商户</a></p>\n{}",
            php::html(url),
            poll_script(url)
        )
    });
    EpayReply::html(format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n\
         <title>扫码支付</title>\n{STYLE}</head>\n<body>\n<h3>请使用{app}扫码支付</h3>\n\
         <div class=\"qrcode\">{}</div>\n\
         <p>商品：{}</p>\n<p>金额：￥{}</p>\n<p>支付链接：<a href=\"{}\">{}</a></p>\n{back}</body>\n</html>",
        qr_svg(content),
        php::html(name),
        php::html(money),
        php::html(content),
        php::html(content)
    ))
}

/// What marks the return relay's "not paid yet" page (`notify::epay_return`), for the QR page's
/// script to tell waiting from an answer worth showing the payer.
pub const WAITING_MARK: &str = "<meta name=\"epay-return\" content=\"waiting\">";

/// How often the QR page asks the relay, in milliseconds: often for its first minute (a payer
/// who scans pays then), less after (each ask is a query of DaxPay by the relay).
const POLL_MS: u32 = 3000;
const POLL_LATER_MS: u32 = 10_000;
const POLL_OFTEN: u32 = 20;

/// The QR page's poll of the relay at `url` (same origin: the relay is on paybridge's public
/// URL): `redirect: "manual"` shows a 302 as an opaque redirect without following it (the
/// signed parameters stay out of the script's reach), then the browser itself goes there. A 404
/// (the order is unknown) stops it; a network error or a 5xx waits longer and asks again. It
/// ends by itself with the order: a closed or expired one is a final page it navigates to.
fn poll_script(url: &str) -> String {
    format!(
        "<script>(function(){{var u='{url}',m='{mark}',n=0;\
         function go(){{window.location.href=u;}}\
         function later(t){{n++;setTimeout(look,Math.max(t,n>{POLL_OFTEN}?{POLL_LATER_MS}:0));}}\
         function look(){{fetch(u,{{redirect:'manual',cache:'no-store',credentials:'same-origin'}})\
         .then(function(r){{if(r.type==='opaqueredirect'||(r.status>=300&&r.status<400)){{go();return;}}\
         if(r.status===404){{return;}}\
         if(r.status!==200){{later({slow});return;}}\
         return r.text().then(function(t){{if(t.indexOf(m)<0){{go();}}else{{later({POLL_MS});}}}});}})\
         .catch(function(){{later({slow});}});}}\
         if(window.fetch){{later({POLL_MS});}}}})();</script>\n",
        url = js_string(url),
        mark = js_string(WAITING_MARK),
        slow = POLL_MS * 2,
    )
}

/// `content` as a QR code in SVG, or nothing when it is too long for one (the link remains).
fn qr_svg(content: &str) -> String {
    use qrcode::render::svg;
    match qrcode::QrCode::new(content.as_bytes()) {
        Ok(code) => {
            let image = code
                .render::<svg::Color<'_>>()
                .min_dimensions(240, 240)
                .quiet_zone(true)
                .build();
            // From `<svg`: the renderer's XML declaration has no place inside HTML.
            image
                .find("<svg")
                .map_or_else(String::new, |at| image[at..].to_owned())
        }
        Err(_) => String::new(),
    }
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
    fn the_qr_page_draws_the_content_and_falls_back_to_the_link() {
        let page = qrcode_page(
            "wxpay",
            "weixin://wxpay/bizpayurl?pr=04IPMKM",
            "0.01",
            "<b>",
            None,
        );
        let text = page.text().to_string();
        assert!(text.contains("<div class=\"qrcode\"><svg"), "{text}");
        assert!(!text.contains("<?xml"));
        assert!(text.contains("商品：&lt;b&gt;"), "{text}");
        assert!(!text.contains("<script"), "no relay, nothing to poll");
        // Beyond a QR code's capacity (2,953 bytes): the link alone.
        let long = format!("https://qr.alipay.com/{}", "x".repeat(3_000));
        let text = qrcode_page("alipay", &long, "1.00", "n", None)
            .text()
            .to_string();
        assert!(!text.contains("<svg"));
        assert!(text.contains(&long));
    }

    #[test]
    fn the_qr_page_polls_the_relay_and_links_it() {
        let relay = "http://pay.example/jeepay/return/AbC123";
        let page = qrcode_page("wxpay", "weixin://x", "1.00", "n", Some(relay));
        let text = page.text().to_string();
        assert!(
            text.contains("<a id=\"back\" href=\"http://pay.example/jeepay/return/AbC123\">"),
            "{text}"
        );
        assert!(
            text.contains("var u='http://pay.example/jeepay/return/AbC123'"),
            "{text}"
        );
        assert!(text.contains("redirect:'manual'"), "{text}");
        assert!(text.contains("epay-return"), "{text}");
        // Self-contained: nothing fetched but the relay, nothing loaded from elsewhere.
        for external in [" src=", "<link", "<img", "<iframe", "@import"] {
            assert!(!text.contains(external), "{external}: {text}");
        }
        // A URL cannot end the script or the attribute.
        let odd = qrcode_page("wxpay", "w", "1", "n", Some("http://h/r?'</script><\""))
            .text()
            .to_string();
        assert!(
            !odd.contains("'</script>") && !odd.contains("r?'\"><"),
            "{odd}"
        );
    }

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
                .starts_with("<script>window.location.replace('https://pay.example/p?a=1&b=\\'\\x3c/script\\x3e');</script>"),
            "{}",
            jump.text()
        );
        assert!(!jump.text().contains("'</script>"));
    }
}
