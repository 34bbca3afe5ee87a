//! The HTTP client deliveries go out with, Jeepay's POSTs and epay's GETs alike: it connects only
//! where [`PublicOnly`] allows, verifies TLS, and never follows a redirect.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::notify::guard::PublicOnly;

pub(crate) type HttpsClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>, Full<Bytes>>;

/// A client that connects only where [`PublicOnly`] allows (names), never following redirects
/// (hyper's client does not).
pub(crate) fn client_for(allow_private: bool) -> HttpsClient {
    let mut http = HttpConnector::new_with_resolver(PublicOnly {
        allow_internal: allow_private,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::upstream::tls_config(&[]))
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(https)
}
