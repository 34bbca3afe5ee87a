//! epay notifications through real sockets (issue 22, epay.md §11): paybridge's delivery worker
//! GETs the merchant's `notify_url` on 127.0.0.1, and the merchant endpoint here checks each
//! GET the way epay's merchants do, written from epay.md alone: SDK1 `EpayCore::verifyNotify`
//! (MD5 over every `$_GET` key but `sign`/`sign_type`, empty values left out, byte order,
//! `md5(string + KEY)` lower case, exact compare) and SDK2 (SHA256WithRSA with the platform
//! public key, `timestamp` within 300 s of the merchant's clock).
//!
//! Jobs are written to the order store the proxy reads (a SQLite file), built by paybridge's
//! own job builder; what is checked is what arrives at the merchant. Crash durability (kill -9
//! after DaxPay was acknowledged) is the outbox's, whatever the job's wire:
//! tests/notifications_durable.rs covers it.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64, Encoding};
use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use md5::{Digest, Md5};
use paybridge::dialect::epay::notification::PaidOrder;
use paybridge::notify::jobs::{epay_pay_job, EpaySigning};
use paybridge::store::{NotificationStatus, NotificationWire, OrderStore};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use sha2::Sha256;
use tokio::net::TcpListener;

const EPAY_KEY: &str = epay::KEY;
/// The epay merchant 1001 as the order store and outbox name it (`mch_no` and `app_id`).
const EPAY_MCH: &str = "epay:1001";

/// One GET as the merchant saw it.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    /// The raw query string.
    query: String,
    headers: http::HeaderMap,
    /// The merchant's clock when it arrived (Unix seconds).
    at: i64,
}

impl Got {
    /// `$_GET` as PHP fills it (names here are plain: no `.`/space/`[` rewriting needed).
    fn get(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(self.query.as_bytes()).into_owned() {
            match params.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => params.push((k, v)),
            }
        }
        params
    }

    fn param(&self, name: &str) -> Option<String> {
        self.get()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The string both signatures are computed over: every key but `sign`/`sign_type`, empty
    /// values left out, sorted by byte, `k=v` joined by `&`, raw.
    fn string_to_sign(&self) -> String {
        let mut kept: Vec<(String, String)> = self
            .get()
            .into_iter()
            .filter(|(k, v)| k != "sign" && k != "sign_type" && !v.is_empty())
            .collect();
        kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        kept.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// SDK1 `verifyNotify`.
    fn sdk1_verifies(&self, key: &str) -> bool {
        let mut md5 = Md5::new();
        md5.update(self.string_to_sign().as_bytes());
        md5.update(key.as_bytes());
        Some(hex::encode(md5.finalize())) == self.param("sign")
    }

    /// SDK2 `verify`: a sign, a timestamp within 300 s of the merchant's clock, RSA.
    fn sdk2_verifies(&self, platform_public: &str) -> bool {
        let (Some(sign), Some(timestamp)) = (self.param("sign"), self.param("timestamp")) else {
            return false;
        };
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| (self.at - t).abs() <= 300);
        let der = Base64::decode_vec(platform_public).unwrap();
        let key = VerifyingKey::<Sha256>::new(rsa::PublicKey::from_public_key_der(&der).unwrap());
        let Ok(bytes) = Base64::decode_vec(&sign) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        fresh
            && key
                .verify(self.string_to_sign().as_bytes(), &signature)
                .is_ok()
    }
}

/// A merchant's `notify_url` endpoint: records every request, answers `answers` in turn (the
/// last from then on), each as (HTTP status, body).
struct Shop {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Shop {
    async fn start(answers: &[(u16, &'static str)]) -> Shop {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let (seen, said) = (got.clone(), answers.clone());
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (seen, said) = (seen.clone(), said.clone());
            async move {
                seen.lock().unwrap().push(Got {
                    method: req.method().to_string(),
                    path: req.uri().path().to_owned(),
                    query: req.uri().query().unwrap_or_default().to_owned(),
                    headers: req.headers().clone(),
                    at: unix_now(),
                });
                let (status, body) = {
                    let mut said = said.lock().unwrap();
                    if said.len() > 1 {
                        said.remove(0)
                    } else {
                        said[0]
                    }
                };
                let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok::<_, Infallible>(response)
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
        Shop { addr, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn now_ms() -> i64 {
    unix_now() * 1000
}

/// paybridge's delivery worker over a SQLite file, and a second handle on that store to
/// write jobs with. `notify`: extra `[notify]` keys.
struct World {
    store: OrderStore,
    _dir: tempfile::TempDir,
}

async fn world(notify: &str) -> World {
    world_with_platform_key(notify, true).await
}

/// The same, with or without `[epay] platform_private_key`.
async fn world_with_platform_key(notify: &str, platform_key: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
    let epay = if platform_key {
        format!(
            "\n[epay]\nplatform_private_key = \"{}\"\n",
            epay::keys::PLATFORM_PRIVATE_KEY
        )
    } else {
        String::new()
    };
    let toml = proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "hmac_sha256", "", "")
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
        + &epay::world::epay_merchant_toml("")
        + &epay
        + &format!("\n[notify]\nallow_private_targets = true\npoll_ms = 20\n{notify}\n");
    let config =
        Arc::new(paybridge::config::Config::from_toml(&toml).expect("valid configuration"));
    let gateway = paybridge::proxy::Gateway::new(config);
    gateway.start_notifier();
    let store = OrderStore::open(&paybridge::config::StoreUrl::parse(&url).unwrap()).unwrap();
    World { store, _dir: dir }
}

fn paid(out_trade_no: &str) -> PaidOrder {
    PaidOrder {
        pid: "1001".to_owned(),
        trade_no: "2024070112000012345".to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        pay_type: "alipay".to_owned(),
        name: "VIP会员 A&amp;B".to_owned(),
        money_fen: 150,
        param: Some("uid=7&amp;from=app".to_owned()),
        api_trade_no: None,
        buyer: None,
    }
}

impl World {
    /// Queues `paid`'s notification to `url` the way paybridge does, answering the job's id.
    async fn queue(&self, url: &str, paid: &PaidOrder, signing: EpaySigning) -> i64 {
        let job = epay_pay_job(
            (EPAY_MCH, EPAY_MCH),
            url,
            &format!("P{}", paid.out_trade_no),
            paid,
            signing,
            EPAY_KEY,
            now_ms(),
        );
        self.store
            .enqueue_notification(&job, now_ms())
            .await
            .unwrap();
        paybridge::notify::wake();
        let mut found = None;
        for status in [NotificationStatus::Pending, NotificationStatus::Delivered] {
            for n in self.store.notifications(status, 100).await.unwrap() {
                if n.order_id == job.order_id {
                    found = Some(n.id);
                }
            }
        }
        found.expect("the job is in the outbox")
    }

    async fn status(&self, id: i64) -> (NotificationStatus, i64) {
        let n = self.store.notification(id).await.unwrap().unwrap();
        (n.status, n.attempts)
    }

    async fn until_status(&self, id: i64, want: NotificationStatus) {
        for _ in 0..1000 {
            if self.status(id).await.0 == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {id} never {want:?}: {:?}", self.status(id).await);
    }
}

/// A V1 order's notification is one GET of `notify_url` + `?` + epay's query, with epay's
/// headers, that SDK1 verifies; `success` anywhere in the answer acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_notification_is_a_get_that_epaycore_verifies() {
    let shop = Shop::start(&[(200, "<html><body>ok: success</body></html>")]).await;
    let w = world("").await;
    let id = w
        .queue(
            &shop.url("/notify.php"),
            &paid("20160806151343349"),
            EpaySigning::V1Md5,
        )
        .await;
    w.until_status(id, NotificationStatus::Delivered).await;
    let got = shop.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let g = &got[0];
    assert_eq!((g.method.as_str(), g.path.as_str()), ("GET", "/notify.php"));
    // epay.md §15 E7, byte for byte.
    assert_eq!(
        g.query,
        "pid=1001&trade_no=2024070112000012345&out_trade_no=20160806151343349&type=alipay\
         &name=VIP%E4%BC%9A%E5%91%98+A%26amp%3BB&money=1.5&trade_status=TRADE_SUCCESS\
         &param=uid%3D7%26amp%3Bfrom%3Dapp&sign=a872b215c2dbd68864aaa2a8b94b167b&sign_type=MD5"
    );
    assert!(g.sdk1_verifies(EPAY_KEY));
    assert!(!g.sdk1_verifies("another key"));
    assert_eq!(g.param("trade_status").as_deref(), Some("TRADE_SUCCESS"));
    let header = |name: &str| {
        g.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("accept"), "*/*");
    assert_eq!(header("accept-language"), "zh-CN,zh;q=0.8");
    assert_eq!(header("connection"), "close");
    assert!(header("user-agent").contains("Chrome/78.0.3904.108"));
    let n = w.store.notification(id).await.unwrap().unwrap();
    assert_eq!((n.wire, n.attempts), (NotificationWire::EpayGet, 1));
}

/// A `notify_url` with its own query gets `&`, as the gateway's `strpos` rule says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_url_with_a_query_is_joined_with_an_ampersand() {
    let shop = Shop::start(&[(200, "success")]).await;
    let w = world("").await;
    let id = w
        .queue(&shop.url("/n.php?shop=7"), &paid("Q1"), EpaySigning::V1Md5)
        .await;
    w.until_status(id, NotificationStatus::Delivered).await;
    let got = shop.got();
    assert!(
        got[0].query.starts_with("shop=7&pid=1001&trade_no="),
        "{}",
        got[0].query
    );
}

/// `fail` is no acknowledgement; an HTTP 500 whose body says `SUCCESS` is one (epay ignores the
/// status). With a `[notify]` schedule written, it applies to epay's jobs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_is_retried_and_success_in_a_500_acknowledges() {
    let shop = Shop::start(&[(200, "fail"), (200, "FAIL"), (500, "Internal SUCCESS page")]).await;
    let w = world("retry_step_ms = 50\nmax_attempts = 5").await;
    let id = w
        .queue(&shop.url("/n"), &paid("R1"), EpaySigning::V1Md5)
        .await;
    w.until_status(id, NotificationStatus::Delivered).await;
    let got = shop.got();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|g| g.sdk1_verifies(EPAY_KEY)));
    assert_eq!(w.status(id).await, (NotificationStatus::Delivered, 3));
}

/// A merchant that never acknowledges is given up after the schedule's last attempt, and
/// nothing is sent afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_acknowledged_is_given_up_after_the_last_attempt() {
    let shop = Shop::start(&[(200, "sucess? no: fail")]).await;
    let w = world("retry_step_ms = 20\nmax_attempts = 3").await;
    let id = w
        .queue(&shop.url("/n"), &paid("G1"), EpaySigning::V1Md5)
        .await;
    w.until_status(id, NotificationStatus::Failed).await;
    assert_eq!(w.status(id).await, (NotificationStatus::Failed, 3));
    assert_eq!(shop.got().len(), 3);
    let n = w.store.notification(id).await.unwrap().unwrap();
    assert!(
        n.last_error
            .as_deref()
            .unwrap_or("")
            .contains("without success"),
        "{:?}",
        n.last_error
    );
}

fn v2_paid(out_trade_no: &str) -> PaidOrder {
    PaidOrder {
        pid: "1001".to_owned(),
        trade_no: "2024071719404366151".to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        pay_type: "alipay".to_owned(),
        name: "VIP会员".to_owned(),
        money_fen: 100,
        param: None,
        api_trade_no: Some("2024071722001400000000000001".to_owned()),
        buyer: Some("2088000000000001".to_owned()),
    }
}

/// A V2 order's notification is signed with the platform key and a fresh `timestamp` at every
/// attempt: the outbox holds neither, and two attempts over a second apart carry two
/// timestamps and two signatures, each verified as SDK2 verifies it on arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_notification_is_signed_again_at_each_attempt() {
    let shop = Shop::start(&[(200, "fail"), (200, "success")]).await;
    // The retry comes 1.1 s after the first attempt failed: a later Unix second.
    let w = world("retry_step_ms = 1100\nmax_attempts = 3").await;
    let id = w
        .queue(
            &shop.url("/v2/notify"),
            &v2_paid("V2-1"),
            EpaySigning::V2Rsa,
        )
        .await;
    let kept = w.store.notification(id).await.unwrap().unwrap();
    assert_eq!(kept.wire, NotificationWire::EpayGetResigned);
    assert!(
        !kept.body.contains("sign") && !kept.body.contains("timestamp"),
        "the outbox keeps no signature: {}",
        kept.body
    );
    w.until_status(id, NotificationStatus::Delivered).await;
    let got = shop.got();
    assert_eq!(got.len(), 2, "{got:?}");
    for g in &got {
        assert!(
            g.sdk2_verifies(epay::keys::PLATFORM_PUBLIC_KEY),
            "{}",
            g.query
        );
        assert!(!g.sdk2_verifies(epay::keys::MERCHANT_PUBLIC_KEY));
        assert_eq!(g.param("sign_type").as_deref(), Some("RSA"));
        assert_eq!(
            g.param("api_trade_no").as_deref(),
            Some("2024071722001400000000000001")
        );
    }
    let stamp = |g: &Got| g.param("timestamp").unwrap().parse::<i64>().unwrap();
    assert!(
        stamp(&got[1]) > stamp(&got[0]),
        "a new timestamp per attempt"
    );
    assert_ne!(got[0].param("sign"), got[1].param("sign"));
}

/// Without `[epay] platform_private_key` a V2 order's notification cannot be signed: nothing
/// unsigned is sent, and the job says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_notification_without_the_platform_key_is_never_sent_unsigned() {
    let shop = Shop::start(&[(200, "success")]).await;
    let w = world_with_platform_key("retry_step_ms = 20\nmax_attempts = 2", false).await;
    let id = w
        .queue(&shop.url("/n"), &v2_paid("V2-2"), EpaySigning::V2Rsa)
        .await;
    w.until_status(id, NotificationStatus::Failed).await;
    assert!(shop.got().is_empty());
    let n = w.store.notification(id).await.unwrap().unwrap();
    assert!(
        n.last_error
            .as_deref()
            .unwrap_or("")
            .contains("platform_private_key"),
        "{:?}",
        n.last_error
    );
}

/// With no `[notify]` schedule written, epay's own applies: after a failed first attempt the
/// next is a minute later (cron.php), not Jeepay's 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epays_schedule_by_default_waits_a_minute_after_the_first_attempt() {
    let shop = Shop::start(&[(200, "fail")]).await;
    let w = world("").await;
    let id = w
        .queue(&shop.url("/n"), &paid("S1"), EpaySigning::V1Md5)
        .await;
    for _ in 0..1000 {
        if w.status(id).await.1 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = w.store.notification(id).await.unwrap().unwrap();
    assert_eq!((n.status, n.attempts), (NotificationStatus::Pending, 1));
    assert!(
        n.next_attempt_at_ms >= n.created_at_ms + 60_000,
        "next attempt {} ms after the job was written",
        n.next_attempt_at_ms - n.created_at_ms
    );
    assert_eq!(shop.got().len(), 1);
}

/// Creates an epay V1 order through `mapi.php` on `w`'s paybridge (named `name`: it finds the
/// DaxPay order) and answers DaxPay's order and the relay path DaxPay was given for the payer.
async fn mapi_order(w: &epay::world::World, no: &str, name: &str) -> (String, String) {
    let fields = [
        ("pid", epay::PID.to_owned()),
        ("type", "alipay".to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("return_url", w.site.return_url()),
        ("name", name.to_owned()),
        ("money", "1.00".to_owned()),
        ("clientip", "192.168.1.100".to_owned()),
        ("device", "pc".to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = w.client().mapi(&pairs).await.json();
    assert_eq!(answer["code"], 1, "{answer}");
    let order = epay::world::dax_order(&w.sandbox, name);
    let given = order.return_url.clone().expect("paybridge's return URL");
    let path = given
        .strip_prefix(&format!("http://{}", w.proxy))
        .unwrap_or_else(|| panic!("{given}"))
        .to_owned();
    (order.order_no, path)
}

/// The payer's browser coming back to paybridge's return URL.
async fn come_back(w: &epay::world::World, path: &str) -> (u16, Option<String>, String) {
    let answer = send(w.proxy, "GET", path, None, "", &[]).await;
    let location = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (answer.status.as_u16(), location, answer.body)
}

/// epay.md §12 through sockets: unpaid → a page that waits (no redirect); paid → back to
/// `return_url` with the signed query; paid more than 5 minutes ago → the "payment done" page,
/// no signed parameters replayed; refunded → the "refunded" page; closed unpaid → "unpaid".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_return_follows_the_order_as_the_gateway_does() {
    let w = epay::world::world(None, "").await;
    let (order_no, path) = mapi_order(&w, "RT1", "回跳等待").await;
    let (status, location, body) = come_back(&w, &path).await;
    assert_eq!((status, location.as_deref()), (200, None), "{body}");
    assert!(body.contains("正在等待支付结果") && body.contains("http-equiv=\"refresh\""));

    w.sandbox.pay_order(&order_no).unwrap();
    let (status, location, _) = come_back(&w, &path).await;
    assert_eq!(status, 302);
    let target = location.expect("a redirect once paid");
    assert!(target.starts_with(&w.site.return_url()), "{target}");
    let pairs = epay::query_pairs(&target);
    assert!(
        epay::sign::md5_verify(&epay::sign::pairs(&pairs), epay::KEY),
        "{target}"
    );

    // Paid ten minutes ago: the gateway no longer sends the payer back with signed parameters.
    let paid_at = w.sandbox.order(&order_no).unwrap().pay_time.unwrap();
    w.sandbox
        .set_pay_time(&order_no, Some(paid_at - time::Duration::minutes(10)));
    let (status, location, body) = come_back(&w, &path).await;
    assert_eq!((status, location), (200, None));
    assert!(body.contains("支付成功，请回到网站查看订单"), "{body}");

    let refund = w
        .client()
        .refund(epay::Number::Out("RT1"), "0.40")
        .await
        .json();
    assert_eq!(refund["code"], 0, "{refund}");
    let (status, location, body) = come_back(&w, &path).await;
    assert_eq!((status, location), (200, None));
    assert!(body.contains("已自动退款"), "{body}");

    let (closed_no, closed_path) = mapi_order(&w, "RT2", "回跳关闭").await;
    w.sandbox
        .set_order_status(&closed_no, paybridge_sandbox::OrderStatus::Close);
    let (status, location, body) = come_back(&w, &closed_path).await;
    assert_eq!((status, location), (200, None));
    assert!(
        body.contains("订单未支付") && !body.contains("refresh"),
        "{body}"
    );
}
