//! A merchant's notify endpoint on 127.0.0.1: it records every notification and checks its
//! signature the way Jeepay's merchant demo does (all parameters but `sign`, MD5, compared
//! ignoring case).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;

use super::{jeepay_sign, JEEPAY_SECRET};

/// What the merchant endpoint received: path, and the form's parameters.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub params: BTreeMap<String, String>,
    /// The signature verified as Jeepay's demo verifies it.
    pub verified: bool,
}

/// A merchant's notify endpoint. `answers` are given in turn (the last one from then on).
pub struct Merchant {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Merchant {
    pub async fn start(answers: &[&'static str]) -> Merchant {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let (seen, said) = (received.clone(), answers.clone());
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (seen, said) = (seen.clone(), said.clone());
            async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let params: BTreeMap<String, String> =
                    form_urlencoded::parse(&body).into_owned().collect();
                let fields: Vec<(&str, &str)> = params
                    .iter()
                    .filter(|(k, _)| k.as_str() != "sign")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let verified = params
                    .get("sign")
                    .is_some_and(|s| s.eq_ignore_ascii_case(&jeepay_sign(&fields, JEEPAY_SECRET)));
                seen.lock().unwrap().push(Received {
                    path,
                    params,
                    verified,
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
        Merchant { addr, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
