//! HTTPS to upstreams (rustls): a certificate signed by the upstream's `ca_file` is trusted; an
//! unknown one is refused before anything is sent.

mod common;

use std::sync::Arc;

use common::*;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use paybridge_sandbox::OrderStatus;
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Serves the DaxPay sandbox over TLS with a fresh self-signed certificate for `localhost`;
/// returns its port, the sandbox and the certificate (PEM).
async fn tls_sandbox(orders: &[(&str, &str, &str)]) -> (u16, paybridge_sandbox::Sandbox, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = cert.pem();
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let config =
        paybridge_sandbox::Sandboxes::from_toml(&sandbox_toml("3.0", "hmac_sha256", orders))
            .unwrap();
    let sandbox = paybridge_sandbox::Sandbox::new(config.sandbox.as_ref().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = sandbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let service = service.clone();
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake: nothing to serve.
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                        .await;
                }
            });
        }
    });
    (port, sandbox, pem)
}

#[tokio::test]
async fn https_upstream_with_its_own_ca() {
    let (port, sandbox, pem) = tls_sandbox(&[("T1", "MT1", "progress")]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();

    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let trusted = proxy_toml(
        addr,
        "3.0",
        "hmac_sha256",
        &format!("ca_file = \"{}\"", ca.display()),
        "",
    )
    .replace(
        &format!("http://{addr}"),
        &format!("https://localhost:{port}"),
    );
    let proxy = start_proxy(&trusted).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("T1"), None)).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("T1"), Some(OrderStatus::Close));
    let seen = sandbox.requests_seen();

    // Without the CA the certificate is refused during the handshake: nothing was sent.
    let untrusted = proxy_toml(addr, "3.0", "hmac_sha256", "", "").replace(
        &format!("http://{addr}"),
        &format!("https://localhost:{port}"),
    );
    let proxy = start_proxy(&untrusted).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("T1"), None)).await;
    assert_eq!(a.body, error(10, "系统异常[上游连接失败，订单未处理]"));
    assert_eq!(sandbox.requests_seen(), seen);
}

#[test]
fn a_ca_file_without_certificates_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("empty.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let toml = proxy_toml(
        "127.0.0.1:1".parse().unwrap(),
        "3.0",
        "md5",
        &format!("ca_file = \"{}\"", ca.display()),
        "",
    );
    let err = paybridge::config::Config::from_toml(&toml)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("upstreams.dax.ca_file:"), "{err}");
}
