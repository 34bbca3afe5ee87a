//! `paybridge check`'s summary of a configuration, every secret masked.

use std::fmt::Write as _;

use super::parse::offset_text;
use super::{Config, ReplayStoreKind};
use crate::secret::Secret;

impl Config {
    /// A human summary with every secret masked, for `paybridge check`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let s = &self.server;
        let _ = writeln!(
            out,
            "server: listen {} · max body {} bytes · success {} {:?}",
            s.listen, s.max_body_bytes, s.success.code, s.success.msg
        );
        if let Some(public) = &s.public_url {
            let _ = writeln!(out, "public url: {public}");
        }
        for u in self.upstreams.values() {
            let _ = writeln!(
                out,
                "upstream {}: {} · DaxPay {} · {} · secret {} · reqTime UTC{} · timeout {} ms (connect {} ms){}{}",
                u.name,
                u.base_url,
                u.scheme.version,
                u.scheme.sign_type,
                mask(u.secret.as_ref()),
                offset_text(u.utc_offset),
                u.timeout.as_millis(),
                u.connect_timeout.as_millis(),
                if u.forward_client_ip { " · forwards clientIp" } else { "" },
                if u.scheme.sm3_is_md5 { " · sm3 digested as md5" } else { "" },
            );
            if u.scheme.version == crate::dialect::daxpay::Version::V2_0 {
                let _ = writeln!(out, "{}", v2_0_warning(&u.name));
                if !self.settlement.enabled {
                    // 2.0.8 makes one callback attempt by default (lifecycle-2.0.md §7.4): without
                    // the worker's polling, an order whose one callback is lost stays open.
                    let _ = writeln!(
                        out,
                        "  warning: [settlement] is off: DaxPay 2.0.8 sends each callback once, so \
                         an order or refund whose callback is lost or early is never settled"
                    );
                }
            } else if u.request_expiry.is_none() {
                let _ = writeln!(out, "{}", no_expiry_note(&u.name));
            }
        }
        for u in self.legacy.values() {
            let _ = writeln!(
                out,
                "legacy upstream {}: {} · passthrough · timeout {} ms (connect {} ms)",
                u.name,
                u.base_url,
                u.timeout.as_millis(),
                u.connect_timeout.as_millis()
            );
        }
        for (i, rule) in self.routing.rules.iter().enumerate() {
            let _ = writeln!(out, "route {i} `{}`: {}", rule.name, rule.describe());
        }
        let _ = writeln!(out, "route default: {}", self.routing.default.describe());
        if self.routing.override_header {
            let _ = writeln!(
                out,
                "routing: X-Paybridge-Route honoured (trusted callers only)"
            );
        }
        if let Some(admin) = self.admin_listen {
            let auth = match &self.admin_token {
                Some(token) => format!("bearer token {}", mask(Some(token))),
                None => "no token (loopback only)".to_owned(),
            };
            let _ = writeln!(out, "admin: {admin} · {auth}");
        }
        let mut merchants: Vec<_> = self.merchants.iter().collect();
        merchants.sort_by(|a, b| (&a.mch_no, &a.app_id).cmp(&(&b.mch_no, &b.app_id)));
        for m in merchants {
            let d = &m.daxpay;
            let _ = writeln!(
                out,
                "merchant {}/{}: secret {} → upstream {} as mchNo={} appId={} secret {}{}",
                m.mch_no,
                m.app_id,
                mask(Some(&m.secret)),
                d.upstream.name,
                d.mch_no.as_deref().unwrap_or("-"),
                d.app_id.as_deref().unwrap_or("-"),
                mask(Some(&d.secret)),
                if m.close_uses_cancel {
                    " · close uses cancel"
                } else {
                    ""
                },
            );
            if m.allow_cancel {
                let _ = writeln!(out, "  /api/pay/cancel allowed");
            }
            if let Some(epay) = &m.epay {
                let _ = writeln!(
                    out,
                    "  epay merchant pid {} · V2 public key {}",
                    epay.pid,
                    if epay.public_key.is_some() {
                        "set (RSA requests verified)"
                    } else {
                        "none (RSA requests refused; MD5 with timestamp accepted)"
                    }
                );
                for (pay_type, way_code) in &epay.way_codes {
                    let _ = writeln!(out, "  epay type {pay_type} → way code {way_code}");
                }
            }
            for (way_code, channel, method) in m.way_codes.overrides() {
                let _ = writeln!(out, "  way code {way_code} → {channel}/{method}");
            }
            if let Some(prefix) = &d.order_prefix {
                let _ = writeln!(
                    out,
                    "  shared DaxPay identity: order prefix {prefix:?}, acts only on orders carrying it"
                );
            }
            if m.success != self.server.success {
                let _ = writeln!(
                    out,
                    "  success answer: {} {:?}",
                    m.success.code, m.success.msg
                );
            }
        }
        if self.merchants.iter().any(|m| m.epay.is_some()) {
            let _ = writeln!(
                out,
                "epay: platform key {}",
                match &self.epay.platform_key {
                    Some(key) => format!("read ({key:?})"),
                    None => "none: V2 requests are refused (nothing could sign their answers)"
                        .to_owned(),
                }
            );
        }
        let replay = match &self.replay.store {
            ReplayStoreKind::Off => "off".to_owned(),
            ReplayStoreKind::Orders => "the order store".to_owned(),
            ReplayStoreKind::Memory { max_entries } => {
                format!("memory, at most {max_entries} entries")
            }
            ReplayStoreKind::Redis { url } => format!("redis {}", mask_url(url)),
        };
        let _ = writeln!(
            out,
            "replay: {replay} · kept {} s · {} while the store is unreachable",
            self.replay.ttl.as_secs(),
            if self.replay.fail_open {
                "allow"
            } else {
                "reject"
            }
        );
        let _ = writeln!(out, "store: {} {}", self.store.url.kind(), self.store.url);
        let n = &self.notify;
        let _ = writeln!(
            out,
            "notify: {} attempts, the n-th retry n × {} ms later, {} ms each{}",
            n.max_attempts,
            n.retry_step.as_millis(),
            n.timeout.as_millis(),
            if n.allow_private_targets {
                " · internal addresses ALLOWED"
            } else {
                ""
            }
        );
        if self.merchants.iter().any(|m| m.epay.is_some()) {
            let _ = writeln!(out, "{}", epay_notify_line(n));
        }
        out
    }
}

/// How epay merchants are notified: epay's own schedule (`cron.php`: attempts at 0, 1, 3, 19
/// and 55 minutes, then given up), unless `[notify]` writes one, which then applies to both
/// dialects; an attempt takes at most epay's 5 s.
fn epay_notify_line(n: &super::NotifyConfig) -> String {
    let each = n.timeout.min(std::time::Duration::from_secs(5)).as_millis();
    if n.schedule_set {
        format!("notify (epay merchants): the same schedule ([notify] sets it), {each} ms each")
    } else {
        format!(
            "notify (epay merchants): epay's schedule, 5 attempts at 0, 1, 3, 19 and 55 min \
             ([notify] max_attempts / retry_step_ms would replace it), {each} ms each"
        )
    }
}

/// What an operator of a DaxPay 2.0 upstream must know (lifecycle-2.0.md §1, §2.3, §2.10):
/// which release it is, and that its request-age window is 10 s by default, so a clock skew
/// between paybridge and DaxPay beyond a few seconds makes it refuse every request.
fn v2_0_warning(name: &str) -> String {
    format!(
        "  warning: upstream {name} is DaxPay 2.0.8 (2.0.6 and 2.0.7 differ on the wire and are not \
         supported); it refuses requests older than its req_timeout, 10 s by default: keep \
         paybridge's and DaxPay's clocks within a few seconds (NTP), or raise \
         pay_platform_config.req_timeout"
    )
}

/// What a 3.x upstream without `request_expiry_secs` means (reliability.md, "Retries that say
/// the truth"): paybridge cannot know when a request whose outcome is unknown can no longer
/// land, so it never sends one again, and a refund DaxPay failed while another request of its
/// number may still land (and make DaxPay run it again) is not reported failed until an
/// operator looks. Declaring DaxPay's own reqTime limit, where the app enforces one, ends both.
fn no_expiry_note(name: &str) -> String {
    format!(
        "  note: upstream {name} declares no request_expiry_secs: a request whose outcome is \
         unknown is never sent again (answered from lookups), and a failed refund that another \
         request of its number may still reach is not reported failed until an operator \
         settles it (paybridge reconcile); if the DaxPay app checks reqTime, declare its limit"
    )
}

/// A URL with any password replaced by `***` (a Redis URL may carry one).
fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn mask(secret: Option<&Secret>) -> &'static str {
    match secret {
        Some(s) if !s.is_empty() => "***",
        _ => "(none)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epay_merchants_notify_line_says_their_schedule() {
        let mut n = super::super::notify::validate(Default::default()).unwrap();
        assert!(!n.schedule_set);
        let line = epay_notify_line(&n);
        assert!(
            line.contains("5 attempts at 0, 1, 3, 19 and 55 min"),
            "{line}"
        );
        n.schedule_set = true;
        assert!(epay_notify_line(&n).contains("the same schedule"));
    }

    #[test]
    fn redis_passwords_are_masked() {
        assert_eq!(
            mask_url("redis://:pw@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            mask_url("redis://user:pw@host/0"),
            "redis://user:***@host/0"
        );
        assert_eq!(mask_url("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn a_2_0_upstream_is_warned_about_its_request_age_window() {
        let toml = |version: &str| {
            format!(
                "[upstreams.dax]\nbase_url = \"http://127.0.0.1:1\"\nversion = \"{version}\"\n\
                 sign_type = \"md5\"\nsecret = \"s3cret\"\n"
            )
        };
        let summary = Config::from_toml(&toml("2.0")).unwrap().summary();
        assert!(
            summary.contains("warning: upstream dax is DaxPay 2.0.8"),
            "{summary}"
        );
        assert!(summary.contains("10 s by default"), "{summary}");
        assert!(!summary.contains("[settlement] is off"), "{summary}");
        let off = format!("{}[settlement]\nenabled = false\n", toml("2.0"));
        let summary = Config::from_toml(&off).unwrap().summary();
        assert!(summary.contains("[settlement] is off"), "{summary}");
        let summary = Config::from_toml(&toml("3.0-beta")).unwrap().summary();
        assert!(!summary.contains("warning"), "{summary}");
    }

    #[test]
    fn a_3_x_upstream_without_a_request_expiry_is_noted() {
        let toml = "[upstreams.dax]\nbase_url = \"http://127.0.0.1:1\"\nversion = \"3.0\"\n\
                    secret = \"s3cret\"\n";
        let summary = Config::from_toml(toml).unwrap().summary();
        assert!(
            summary.contains("note: upstream dax declares no request_expiry_secs"),
            "{summary}"
        );
        let declared = format!("{toml}request_expiry_secs = 300\n");
        let summary = Config::from_toml(&declared).unwrap().summary();
        assert!(!summary.contains("request_expiry_secs"), "{summary}");
    }

    #[test]
    fn the_summary_masks_a_redis_password() {
        let config =
            Config::from_toml("[replay]\nstore = \"redis://:hunter2@127.0.0.1:6379/0\"\n").unwrap();
        let summary = config.summary();
        assert!(
            summary.contains("redis://:***@127.0.0.1:6379/0"),
            "{summary}"
        );
        assert!(!summary.contains("hunter2"));
    }

    #[test]
    fn the_summary_shows_the_store_without_its_password() {
        let config =
            Config::from_toml("[store]\nurl = \"postgres://pb:hunter2@db:5432/paybridge\"\n")
                .unwrap();
        let summary = config.summary();
        assert!(
            summary.contains("store: postgres postgres://pb:***@db:5432/paybridge"),
            "{summary}"
        );
        assert!(!summary.contains("hunter2"));
        let default = Config::from_toml("").unwrap().summary();
        assert!(
            default.contains("store: sqlite sqlite://data/paybridge.sqlite"),
            "{default}"
        );
    }
}
