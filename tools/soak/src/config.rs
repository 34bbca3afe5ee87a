//! The configuration paybridge is started on: its upstreams, merchants and both embedded
//! sandboxes with the orders the driver models.

use std::fmt::Write as _;

use crate::cast::*;
use crate::cli::{Options, Ports};
use crate::model::DaxState;

/// DaxPay sandbox order `i`: its number and its initial status (wait, progress or success).
pub(crate) fn dax_order(i: usize) -> (String, DaxState) {
    let state = match i % 3 {
        0 => DaxState::Open("wait"),
        1 => DaxState::Open("progress"),
        _ => DaxState::Paid,
    };
    (format!("SK{i:07}"), state)
}

pub(crate) fn legacy_state(i: usize) -> u8 {
    // 0 created and 1 paying can be closed; 2 (paid) cannot.
    (i % 3) as u8
}

pub(crate) fn config_toml(o: &Options, p: &Ports) -> String {
    let mut s = String::with_capacity(o.orders * 72 + 256 * 1024);
    let in_flight = o.concurrency + IN_FLIGHT_MARGIN;
    let _ = write!(
        s,
        r#"# Written by tools/soak (paybridge-soak): paybridge under a bounded soak, loopback only.
[server]
listen = "127.0.0.1:{proxy}"
max_in_flight = {in_flight}

[log]
level = "warn"

[admin]
listen = "127.0.0.1:{admin}"

[replay]
store = "memory"
max_entries = {max_entries}

[upstreams.dax]
base_url = "http://127.0.0.1:{daxpay}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = 5000

[upstreams.dead]
base_url = "http://127.0.0.1:{dead}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = 2000
connect_timeout_ms = 200
retries = 2
retry_backoff_ms = 5
breaker_failures = 5
breaker_cooldown_ms = 250

[upstreams.slow]
base_url = "http://127.0.0.1:{slow}"
version = "3.0"
sign_type = "hmac_sha256"
secret = "{DAX_SECRET}"
timeout_ms = {SLOW_TIMEOUT_MS}
connect_timeout_ms = 200
retries = 0
breaker_failures = 0

[upstreams.legacy]
kind = "legacy"
base_url = "http://127.0.0.1:{legacy}"
timeout_ms = 5000

[routing]
default = {{ action = "translate" }}

[[routes]]
name = "not migrated"
mch_no = ["{l1}"]
action = "passthrough"
upstream = "legacy"

[[routes]]
name = "migrated, with fallback"
mch_no = ["{t2}"]
action = "translate"
fallback = "legacy"

"#,
        proxy = p.proxy,
        admin = p.admin,
        max_entries = o.replay_max_entries,
        daxpay = p.daxpay,
        dead = p.dead,
        slow = p.slow,
        legacy = p.legacy,
        l1 = LEGACY.mch,
        t2 = T2.mch,
    );
    for (m, upstream, dax_app) in [
        (T1, "dax", DAX_APP),
        (T2, "dax", DAX_APP_T2),
        (DEAD, "dead", DAX_APP),
        (SLOW, "slow", DAX_APP),
    ] {
        let _ = write!(
            s,
            "[[merchants]]\nmch_no = \"{}\"\napp_id = \"{}\"\nsecret = \"{}\"\nallow_cancel = true\n[merchants.daxpay]\nupstream = \"{upstream}\"\nmch_no = \"{DAX_MCH}\"\napp_id = \"{dax_app}\"\n\n",
            m.mch, m.app, m.secret
        );
    }
    let _ = write!(
        s,
        "[sandbox]\nembedded = true\nlisten = \"127.0.0.1:{}\"\nversion = \"3.0\"\n\n",
        p.daxpay
    );
    // Seeded orders have no app: either app sees them.
    for app in [DAX_APP, DAX_APP_T2] {
        let _ = write!(
            s,
            "[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{app}\"\nsign_type = \"hmac_sha256\"\nsecret = \"{DAX_SECRET}\"\n\n"
        );
    }
    for i in 0..o.orders {
        let (no, state) = dax_order(i);
        let status = match state {
            DaxState::Open(s) => s,
            _ => "success",
        };
        let _ = writeln!(
            s,
            "[[sandbox.orders]]\norder_no = \"{no}\"\nbiz_order_no = \"B{no}\"\nstatus = \"{status}\""
        );
    }
    let _ = write!(
        s,
        "\n[legacy_sandbox]\nembedded = true\nlisten = \"127.0.0.1:{}\"\n\n",
        p.legacy
    );
    for m in [LEGACY, T2] {
        let _ = write!(
            s,
            "[[legacy_sandbox.apps]]\nmch_no = \"{}\"\napp_id = \"{}\"\nsecret = \"{}\"\n\n",
            m.mch, m.app, m.secret
        );
    }
    for i in 0..LEGACY_ORDERS {
        for (m, prefix) in [(LEGACY, "LP"), (T2, "FB")] {
            let _ = writeln!(
                s,
                "[[legacy_sandbox.orders]]\npay_order_id = \"{prefix}{i:05}\"\nmch_order_no = \"{prefix}M{i:05}\"\nmch_no = \"{}\"\nstate = {}",
                m.mch,
                legacy_state(i)
            );
        }
    }
    for i in 0..4 {
        let _ = writeln!(
            s,
            "[[legacy_sandbox.orders]]\npay_order_id = \"LE{i}\"\nmch_order_no = \"LEM{i}\"\nmch_no = \"{}\"\nstate = 1\nempty_body = true",
            LEGACY.mch
        );
    }
    s
}
