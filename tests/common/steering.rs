//! The steering relay: a stand-in for the network between paybridge and the DaxPay sandbox that
//! holds each call on a steered path until the test decides what happens to it (sent on, its
//! answer held or lost, answered without reaching DaxPay, or landing on DaxPay only later), so
//! that requests, retries, clean-ups and callbacks interleave in exactly the order a test
//! chooses, without timing. Other paths pass straight through.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What the relay does with one steered call.
pub enum Decision {
    /// Sent on to DaxPay; its answer goes back once `release` fires (at once without one), or
    /// is replaced by a 502 when `lose` (DaxPay acted, paybridge never learns it).
    Forward {
        release: Option<oneshot::Receiver<()>>,
        lose: bool,
    },
    /// Answered without reaching DaxPay.
    Answer(StatusCode, String),
    /// Answered 502 at once; sent on to DaxPay only once `release` fires (DaxPay acts after
    /// paybridge gave up), `landed` fired when DaxPay answered.
    LandLater {
        release: oneshot::Receiver<()>,
        landed: oneshot::Sender<()>,
    },
}

/// A steered call, waiting for the test's decision.
pub struct Arrival {
    pub path: String,
    decide: oneshot::Sender<Decision>,
}

impl Arrival {
    pub fn forward(self) {
        self.decide(Decision::Forward {
            release: None,
            lose: false,
        });
    }

    /// Sent on; DaxPay's answer held until the returned sender fires (or is dropped).
    pub fn forward_held(self) -> oneshot::Sender<()> {
        let (release, held) = oneshot::channel();
        self.decide(Decision::Forward {
            release: Some(held),
            lose: false,
        });
        release
    }

    pub fn forward_and_lose(self) {
        self.decide(Decision::Forward {
            release: None,
            lose: true,
        });
    }

    /// Lost now, landing on DaxPay when the first returned sender fires; the receiver
    /// resolves once DaxPay acted.
    pub fn land_later(self) -> (oneshot::Sender<()>, oneshot::Receiver<()>) {
        let (release_tx, release) = oneshot::channel();
        let (landed, landed_rx) = oneshot::channel();
        self.decide(Decision::LandLater { release, landed });
        (release_tx, landed_rx)
    }

    pub fn answer(self, status: StatusCode, body: &str) {
        self.decide(Decision::Answer(status, body.to_owned()));
    }

    fn decide(self, decision: Decision) {
        assert!(self.decide.send(decision).is_ok(), "the relay waits");
    }

    /// Sent on, unless paybridge has given the call up meanwhile (then there is no one to
    /// answer).
    fn forward_if_waited_for(self) {
        let _ = self.decide.send(Decision::Forward {
            release: None,
            lose: false,
        });
    }
}

pub struct Relay {
    pub addr: SocketAddr,
    pub arrivals: mpsc::UnboundedReceiver<Arrival>,
    /// Every steered call, by path, in arrival order.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// A relay to the sandbox at `sandbox` whose calls on `steered` paths wait for a decision.
    pub async fn start(sandbox: SocketAddr, steered: &[&'static str]) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, arrivals) = mpsc::unbounded_channel::<Arrival>();
        let steered: BTreeSet<&'static str> = steered.iter().copied().collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (tx, log, steered) = (tx.clone(), log.clone(), steered.clone());
            async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let decision = if steered.contains(path.as_str()) {
                    log.lock().unwrap().push(path.clone());
                    let (decide, decided) = oneshot::channel();
                    tx.send(Arrival {
                        path: path.clone(),
                        decide,
                    })
                    .unwrap();
                    decided.await.unwrap()
                } else {
                    Decision::Forward {
                        release: None,
                        lose: false,
                    }
                };
                let (status, answer) = match decision {
                    Decision::Answer(status, body) => (status, Bytes::from(body)),
                    Decision::LandLater { release, landed } => {
                        tokio::spawn(async move {
                            if release.await.is_ok() {
                                forward(sandbox, &path, body).await;
                                let _ = landed.send(());
                            }
                        });
                        (StatusCode::BAD_GATEWAY, Bytes::new())
                    }
                    Decision::Forward { release, lose } => {
                        let answered = forward(sandbox, &path, body).await;
                        if let Some(release) = release {
                            let _ = release.await;
                        }
                        if lose {
                            (StatusCode::BAD_GATEWAY, Bytes::new())
                        } else {
                            answered
                        }
                    }
                };
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(answer))
                        .unwrap(),
                )
            }
        });
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_millis(100),
        ));
        Relay {
            addr,
            arrivals,
            seen,
        }
    }

    /// The next steered call (waiting at most 5 s for it).
    pub async fn next(&mut self, path: &str) -> Arrival {
        let arrival = tokio::time::timeout(Duration::from_secs(5), self.arrivals.recv())
            .await
            .unwrap_or_else(|_| panic!("no call on {path} within 5 s"))
            .unwrap();
        assert_eq!(arrival.path, path);
        arrival
    }

    /// From now on every steered call is sent on as it comes (the test decides no more; a call
    /// already given up is passed over); the paths of those calls, in arrival order.
    pub fn forward_the_rest(&mut self) -> Arc<Mutex<Vec<String>>> {
        let mut arrivals = std::mem::replace(&mut self.arrivals, mpsc::unbounded_channel().1);
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        tokio::spawn(async move {
            while let Some(arrival) = arrivals.recv().await {
                seen.lock().unwrap().push(arrival.path.clone());
                arrival.forward_if_waited_for();
            }
        });
        paths
    }

    /// How many steered calls on `path` came so far.
    pub fn calls(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

pub async fn forward(sandbox: SocketAddr, path: &str, body: Bytes) -> (StatusCode, Bytes) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method("POST")
        .uri(format!("http://{sandbox}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    let answer = client.request(request).await.unwrap();
    let status = answer.status();
    (
        status,
        answer.into_body().collect().await.unwrap().to_bytes(),
    )
}
