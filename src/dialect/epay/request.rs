//! An epay request as the operations read it: which endpoint it came to (V1 or V2, a page or
//! JSON), and its parameters as PHP decoded them (`params::from_form`, from the one map the
//! endpoint reads: epay.md §2).

use std::net::IpAddr;

/// epay's endpoints that paybridge translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// V1 `submit.php`: the payer's browser.
    Submit,
    /// V1 `mapi.php`: pay, server to server.
    Mapi,
    /// V1 `api.php?act=order`: query, the key in clear.
    ApiOrder,
    /// V1 `api.php?act=refund`: refund, the key in clear.
    ApiRefund,
    /// V2 `/api/pay/submit`: the payer's browser.
    V2Submit,
    /// V2 `/api/pay/create`.
    V2Create,
    /// V2 `/api/pay/query`.
    V2Query,
    /// V2 `/api/pay/refund`.
    V2Refund,
    /// V2 `/api/pay/refundquery`.
    V2RefundQuery,
    /// V2 `/api/pay/close` (build 3095).
    V2Close,
}

/// Which of epay's APIs an order or request belongs to: it decides the signatures of answers
/// and notifications (V2: RSA with the platform key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// As the order store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "v1" => Some(Version::V1),
            "v2" => Some(Version::V2),
            _ => None,
        }
    }
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Submit,
        Endpoint::Mapi,
        Endpoint::ApiOrder,
        Endpoint::ApiRefund,
        Endpoint::V2Submit,
        Endpoint::V2Create,
        Endpoint::V2Query,
        Endpoint::V2Refund,
        Endpoint::V2RefundQuery,
        Endpoint::V2Close,
    ];

    pub fn version(self) -> Version {
        match self {
            Endpoint::Submit | Endpoint::Mapi | Endpoint::ApiOrder | Endpoint::ApiRefund => {
                Version::V1
            }
            _ => Version::V2,
        }
    }

    /// Answered with an HTML page (the payer's browser), not JSON.
    pub fn is_page(self) -> bool {
        matches!(self, Endpoint::Submit | Endpoint::V2Submit)
    }

    /// `api.php`: authenticated by the key in clear, answered with its own codes (-3, -4).
    pub fn is_api_php(self) -> bool {
        matches!(self, Endpoint::ApiOrder | Endpoint::ApiRefund)
    }

    /// The path (and `act`) as merchants call it, for logs and docs.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Submit => "submit.php",
            Endpoint::Mapi => "mapi.php",
            Endpoint::ApiOrder => "api.php?act=order",
            Endpoint::ApiRefund => "api.php?act=refund",
            Endpoint::V2Submit => "/api/pay/submit",
            Endpoint::V2Create => "/api/pay/create",
            Endpoint::V2Query => "/api/pay/query",
            Endpoint::V2Refund => "/api/pay/refund",
            Endpoint::V2RefundQuery => "/api/pay/refundquery",
            Endpoint::V2Close => "/api/pay/close",
        }
    }
}

/// One request to an epay endpoint.
#[derive(Debug, Clone)]
pub struct EpayRequest {
    pub endpoint: Endpoint,
    /// Decoded as PHP decodes them, each name once (the last of repeated names).
    pub params: Vec<(String, String)>,
    /// The payer's address as the connection gives it (`submit.php` takes the buyer's IP from
    /// the request, `real_ip()`).
    pub peer: Option<IpAddr>,
    /// The browser's User-Agent (`submit.php` without `device`).
    pub user_agent: Option<String>,
}

impl EpayRequest {
    pub fn new(endpoint: Endpoint, params: Vec<(String, String)>) -> EpayRequest {
        EpayRequest {
            endpoint,
            params,
            peer: None,
            user_agent: None,
        }
    }

    /// The parameter as received (`None`: not sent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter, `""` when not sent.
    pub fn field(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// The parameter unless PHP finds it `empty()`.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !super::php::empty(Some(v)))
    }

    /// Borrowed pairs, as the signing functions take them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        super::params::borrowed(&self.params)
    }

    pub fn version(&self) -> Version {
        self.endpoint.version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_pages() {
        assert_eq!(Endpoint::Mapi.version(), Version::V1);
        assert_eq!(Endpoint::V2Close.version(), Version::V2);
        assert!(Endpoint::Submit.is_page() && Endpoint::V2Submit.is_page());
        assert!(!Endpoint::V2Create.is_page());
        assert!(Endpoint::ApiRefund.is_api_php());
        for v in [Version::V1, Version::V2] {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
    }

    #[test]
    fn parameters_as_php_reads_them() {
        let request = EpayRequest::new(
            Endpoint::Mapi,
            vec![
                ("pid".into(), "1001".into()),
                ("param".into(), "0".into()),
                ("name".into(), "".into()),
            ],
        );
        assert_eq!(request.get("pid"), Some("1001"));
        assert_eq!(request.get("param"), Some("0"));
        assert_eq!(request.given("param"), None);
        assert_eq!(request.given("name"), None);
        assert_eq!(request.field("absent"), "");
    }
}
