//! An epay merchant's client, as the official SDKs and shop plugins call the gateway (epay.md
//! §6, §7, §14): V1 form POSTs and GETs signed with MD5, `api.php` with the key in clear, V2
//! form POSTs signed with the merchant's RSA key and a fresh `timestamp`, and SDK2's check of
//! V2 answers with the platform's public key.

use std::net::SocketAddr;

use super::sign;
use crate::common::{send, Answer};

pub const FORM: &str = "application/x-www-form-urlencoded";

/// One epay merchant talking to one gateway (paybridge, or the legacy sandbox).
#[derive(Debug, Clone)]
pub struct EpayClient {
    pub addr: SocketAddr,
    pub pid: String,
    pub key: String,
    /// base64 PKCS#8, for V2.
    pub private_key: String,
    /// base64 SPKI, to verify V2 answers.
    pub platform_public_key: String,
}

/// Which number names the order (`trade_no` wins at the gateway when both are sent).
#[derive(Debug, Clone, Copy)]
pub enum Number<'a> {
    Trade(&'a str),
    Out(&'a str),
}

impl Number<'_> {
    fn pair(self) -> (&'static str, String) {
        match self {
            Number::Trade(n) => ("trade_no", n.to_owned()),
            Number::Out(n) => ("out_trade_no", n.to_owned()),
        }
    }
}

/// `http_build_query`-style form encoding of pairs, in the given order.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl EpayClient {
    /// `fields` with `sign` (MD5, SDK1's rule) and `sign_type=MD5` appended; `pid` is the
    /// caller's to include, so that requests without it can be made too.
    pub fn v1_signed(&self, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        let sign = sign::md5_sign(fields, &self.key);
        owned(fields)
            .into_iter()
            .chain([("sign".into(), sign), ("sign_type".into(), "MD5".into())])
            .collect()
    }

    /// `pid` first, then `fields`, a fresh `timestamp`, `sign_type=RSA` and the RSA `sign`.
    pub fn v2_signed(&self, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        self.v2_signed_at(fields, &sign::timestamp())
    }

    /// [`EpayClient::v2_signed`] with `timestamp` given: two requests of one second with the
    /// same fields are otherwise byte for byte the same request (a retry, answered again).
    pub fn v2_signed_at(&self, fields: &[(&str, &str)], ts: &str) -> Vec<(String, String)> {
        let mut all: Vec<(&str, &str)> = vec![("pid", self.pid.as_str())];
        all.extend_from_slice(fields);
        all.push(("timestamp", ts));
        let sign = sign::rsa_sign(&all, &self.private_key);
        owned(&all)
            .into_iter()
            .chain([("sign_type".into(), "RSA".into()), ("sign".into(), sign)])
            .collect()
    }

    pub async fn post_form(&self, path: &str, pairs: &[(String, String)]) -> Answer {
        let body = form(&sign::pairs(pairs));
        send(self.addr, "POST", path, Some(FORM), body, &[]).await
    }

    pub async fn get_query(&self, path: &str, pairs: &[(String, String)]) -> Answer {
        let query = form(&sign::pairs(pairs));
        send(self.addr, "GET", &format!("{path}?{query}"), None, "", &[]).await
    }

    /// `mapi.php`, form POST (SDK1 `apiPay`).
    pub async fn mapi(&self, fields: &[(&str, &str)]) -> Answer {
        self.post_form("/mapi.php", &self.v1_signed(fields)).await
    }

    /// `submit.php` as a link (SDK1 `getPayLink`).
    pub async fn submit_get(&self, fields: &[(&str, &str)]) -> Answer {
        self.get_query("/submit.php", &self.v1_signed(fields)).await
    }

    /// `submit.php` as the auto-submitting form (SDK1 `pagePay`).
    pub async fn submit_post(&self, fields: &[(&str, &str)]) -> Answer {
        self.post_form("/submit.php", &self.v1_signed(fields)).await
    }

    /// `api.php?act=order` (SDK1 `queryOrder`): GET, the key in clear, never signed.
    pub async fn query(&self, number: Number<'_>) -> Answer {
        let (name, value) = number.pair();
        let pairs = owned(&[
            ("act", "order"),
            ("pid", self.pid.as_str()),
            ("key", self.key.as_str()),
            (name, value.as_str()),
        ]);
        self.get_query("/api.php", &pairs).await
    }

    /// `api.php?act=refund` (SDK1 `refund`): `act` in the query string, the rest POSTed.
    pub async fn refund(&self, number: Number<'_>, money: &str) -> Answer {
        let (name, value) = number.pair();
        let pairs = owned(&[
            ("pid", self.pid.as_str()),
            ("key", self.key.as_str()),
            (name, value.as_str()),
            ("money", money),
        ]);
        self.post_form("/api.php?act=refund", &pairs).await
    }

    /// A V2 call (`/api/pay/<method>`), RSA-signed, form POST.
    pub async fn v2(&self, method: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_form(&format!("/api/pay/{method}"), &self.v2_signed(fields))
            .await
    }

    /// A V2 call signed with `timestamp` (Unix seconds): another request than one of `now`.
    pub async fn v2_at(&self, method: &str, fields: &[(&str, &str)], timestamp: u64) -> Answer {
        let signed = self.v2_signed_at(fields, &timestamp.to_string());
        self.post_form(&format!("/api/pay/{method}"), &signed).await
    }

    /// SDK2 `execute()`: an answer with `code` 0 must verify (RSA with the platform key,
    /// timestamp within 300 s); other codes carry `msg` and are not checked.
    pub fn sdk2_accepts(&self, answer: &serde_json::Value) -> Result<(), String> {
        if answer["code"].as_i64() != Some(0) && answer["code"].as_str() != Some("0") {
            return Err(format!("code is not 0: {answer}"));
        }
        let fields = sign::json_fields(answer);
        sign::sdk2_verify(&sign::pairs(&fields), &self.platform_public_key)
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
