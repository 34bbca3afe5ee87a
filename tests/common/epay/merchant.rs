//! An epay merchant's `notify_url` on 127.0.0.1: records every request and checks it the way
//! merchant code does (epay.md §11, §14): SDK1 `verifyNotify()` (MD5 over every `$_GET` key),
//! SDK2 `verify()` (RSA with the platform key, timestamp within 300 s), and the business checks
//! of the gateway's own client plugin (`trade_status`, `out_trade_no`, `round(money, 2)`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::Encoding as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

use super::sign;

/// One request as it reached the merchant.
#[derive(Debug, Clone)]
pub struct Notice {
    pub method: String,
    pub path: String,
    /// The query string as sent (not decoded).
    pub raw_query: String,
    /// `$_GET`: decoded pairs in order, the last of a repeated name wins.
    pub params: Vec<(String, String)>,
    /// Any body (epay notifies by GET: it should be empty).
    pub body: Bytes,
}

impl Notice {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> Vec<(&str, &str)> {
        sign::pairs(&self.params)
    }

    /// SDK1 `verifyNotify()` (also `verifyReturn()`).
    pub fn md5_verified(&self, key: &str) -> bool {
        sign::md5_verify(&self.pairs(), key)
    }

    /// SDK2 `verify()`.
    pub fn rsa_verified(&self, platform_public_key: &str) -> Result<(), String> {
        sign::sdk2_verify(&self.pairs(), platform_public_key)
    }

    /// What P-epay checks once the signature holds, and what V2Board needs (no empty value).
    pub fn business_checks(&self, out_trade_no: &str, money_fen: u64) -> Result<(), String> {
        if self.method != "GET" {
            return Err(format!("notified by {}, epay notifies by GET", self.method));
        }
        if self.get("trade_status") != Some("TRADE_SUCCESS") {
            return Err(format!("trade_status {:?}", self.get("trade_status")));
        }
        if self.get("out_trade_no") != Some(out_trade_no) {
            return Err(format!("out_trade_no {:?}", self.get("out_trade_no")));
        }
        let money = self.get("money").unwrap_or_default();
        if round2_fen(money) != Some(money_fen) {
            return Err(format!("money {money:?} is not {money_fen} fen"));
        }
        if let Some((k, _)) = self.params.iter().find(|(_, v)| v.is_empty()) {
            return Err(format!("empty parameter {k} (V2Board signs empty values)"));
        }
        Ok(())
    }
}

/// `round((float) money, 2)` in fen, for decimal text such as `1`, `1.5`, `0.01`.
pub fn round2_fen(money: &str) -> Option<u64> {
    let (whole, frac) = money.split_once('.').unwrap_or((money, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digit = |i: usize| u64::from(frac.as_bytes().get(i).map_or(0, |b| b - b'0'));
    Some(whole.parse::<u64>().ok()? * 100 + digit(0) * 10 + digit(1) + u64::from(digit(2) >= 5))
}

/// The merchant's endpoint. `answers` are given in turn (the last from then on).
pub struct EpayMerchantSite {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Notice>>>,
}

impl EpayMerchantSite {
    pub async fn start(answers: &[&'static str]) -> EpayMerchantSite {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let (seen, said) = (received.clone(), answers.clone());
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (seen, said) = (seen.clone(), said.clone());
            async move {
                let method = req.method().to_string();
                let path = req.uri().path().to_owned();
                let raw_query = req.uri().query().unwrap_or_default().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let mut params: Vec<(String, String)> = Vec::new();
                for (k, v) in form_urlencoded::parse(raw_query.as_bytes()).into_owned() {
                    params.retain(|(old, _)| *old != k);
                    params.push((k, v));
                }
                seen.lock().unwrap().push(Notice {
                    method,
                    path,
                    raw_query,
                    params,
                    body,
                });
                let answer = {
                    let mut said = said.lock().unwrap();
                    if said.len() > 1 {
                        said.remove(0)
                    } else {
                        said[0]
                    }
                };
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                    answer.as_bytes(),
                ))))
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::mem::forget(stop);
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(100),
        ));
        EpayMerchantSite { addr, received }
    }

    pub fn notify_url(&self) -> String {
        format!("http://{}/notify.php", self.addr)
    }

    pub fn return_url(&self) -> String {
        format!("http://{}/return.php", self.addr)
    }

    pub fn received(&self) -> Vec<Notice> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (polling, at most `limit`) until `n` requests have arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Notice> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let seen = self.received();
            if seen.len() >= n || tokio::time::Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Where an answer sends the buyer's browser: a `Location` header, `window.atob("…")` (the
/// gateway's return page, §12), or `window.location.replace('…')` / `href='…'`.
pub fn browser_target(headers: &http::HeaderMap, body: &str) -> Option<String> {
    if let Some(location) = headers.get(http::header::LOCATION) {
        return location.to_str().ok().map(str::to_owned);
    }
    if let Some(rest) = body.split("atob(\"").nth(1) {
        let b64 = rest.split('"').next()?;
        let bytes = base64ct::Base64::decode_vec(b64).ok()?;
        return String::from_utf8(bytes).ok();
    }
    for marker in ["location.replace('", "location.href='", "location.href = '"] {
        if let Some(rest) = body.split(marker).nth(1) {
            return rest.split('\'').next().map(str::to_owned);
        }
    }
    None
}

/// The decoded query of a URL the browser is sent to, as `$_GET` reads it.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()).into_owned() {
        params.retain(|(old, _)| *old != k);
        params.push((k, v));
    }
    params
}
