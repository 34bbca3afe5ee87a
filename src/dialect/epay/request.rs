//! An epay request as the operations read it: which endpoint it came to (V1 or V2, a page or
//! JSON), and its parameters as PHP decoded them (`params::from_wire`, from the one map the
//! endpoint reads: epay.md §2).

use std::net::IpAddr;

/// epay's endpoints that paybridge translates (`dispatch` names them).
pub use crate::dispatch::EpayEndpoint as Endpoint;

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

/// What this dialect asks of an endpoint beyond what `dispatch` says.
pub trait EndpointExt {
    fn version(self) -> Version;
    /// `api.php`: authenticated by the key in clear, answered with its own codes (-3, -4) and
    /// plain `json_encode`.
    fn is_api_php(&self) -> bool;
}

impl EndpointExt for Endpoint {
    fn version(self) -> Version {
        if self.is_v2() {
            Version::V2
        } else {
            Version::V1
        }
    }

    fn is_api_php(&self) -> bool {
        matches!(self, Endpoint::ApiOrder | Endpoint::ApiRefund)
    }
}

/// One request to an epay endpoint. Its `Debug` never shows `key` (`api.php`'s merchant key in
/// clear) nor `sign`.
#[derive(Clone)]
pub struct EpayRequest {
    pub endpoint: Endpoint,
    /// Decoded as PHP decodes them, each name once (the last of repeated names).
    pub params: Vec<(String, String)>,
    /// The payer's address as the connection gives it (`submit.php` takes the buyer's IP from
    /// the request, `real_ip()`).
    pub peer: Option<IpAddr>,
    /// The browser's User-Agent (`submit.php` without `device`).
    pub user_agent: Option<String>,
    /// `pid` as the merchant is looked up (`intval`, in decimal), when it names one: what
    /// routing and verification both go by.
    pub pid: Option<String>,
    /// A page's payer's pick on paybridge's cashier (`cashier::PAYER_TYPE`), taken out of
    /// `params` before anything reads them: never signed, never the merchant's.
    pub payer_type: Option<String>,
}

/// Parameters whose values `Debug` masks: the merchant's key, and the signature made with it.
const MASKED: [&str; 2] = ["key", "sign"];

impl std::fmt::Debug for EpayRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Params<'a>(&'a [(String, String)]);
        impl std::fmt::Debug for Params<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(name, value)| {
                        let shown = match MASKED.contains(&name.as_str()) {
                            true => "***",
                            false => value.as_str(),
                        };
                        (name, shown)
                    }))
                    .finish()
            }
        }
        f.debug_struct("EpayRequest")
            .field("endpoint", &self.endpoint)
            .field("params", &Params(&self.params))
            .field("peer", &self.peer)
            .field("user_agent", &self.user_agent)
            .field("pid", &self.pid)
            .field("payer_type", &self.payer_type)
            .finish()
    }
}

impl EpayRequest {
    pub fn new(endpoint: Endpoint, params: Vec<(String, String)>) -> EpayRequest {
        let mut request = EpayRequest {
            endpoint,
            params,
            peer: None,
            user_agent: None,
            pid: None,
            payer_type: None,
        };
        request.pid = request
            .get("pid")
            .map(super::php::intval)
            .filter(|pid| *pid > 0)
            .map(|pid| pid.to_string());
        request
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
    fn neither_the_key_nor_the_signature_reaches_debug_output() {
        const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";
        let request = EpayRequest::new(
            Endpoint::ApiRefund,
            vec![
                ("pid".into(), "1001".into()),
                ("key".into(), KEY.into()),
                ("sign".into(), "d41d8cd98f00b204e9800998ecf8427e".into()),
                ("money".into(), "1.00".into()),
            ],
        );
        let verified = crate::dialect::epay::dialect::Verified {
            request: &request,
            pid: 1001,
            now: 0,
        };
        for shown in [
            format!("{request:?}"),
            format!("{request:#?}"),
            format!("{verified:?}"),
            format!("{verified:#?}"),
        ] {
            assert!(!shown.contains(KEY), "{shown}");
            assert!(
                !shown.contains("d41d8cd98f00b204e9800998ecf8427e"),
                "{shown}"
            );
            assert!(shown.contains("\"money\": \"1.00\""), "{shown}");
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
        assert_eq!(request.pid.as_deref(), Some("1001"));
        let loose = EpayRequest::new(Endpoint::Mapi, vec![("pid".into(), " 1001abc".into())]);
        assert_eq!(loose.pid.as_deref(), Some("1001"));
        let none = EpayRequest::new(Endpoint::Mapi, vec![("pid".into(), "abc".into())]);
        assert_eq!(none.pid, None);
        assert_eq!(request.get("param"), Some("0"));
        assert_eq!(request.given("param"), None);
        assert_eq!(request.given("name"), None);
        assert_eq!(request.field("absent"), "");
    }
}
