//! The cast: the merchants the soak plays, the DaxPay account behind them, the limits and the
//! messages paybridge answers faults with.

use std::time::Duration;

#[derive(Clone, Copy)]
pub(crate) struct Merchant {
    pub(crate) mch: &'static str,
    pub(crate) app: &'static str,
    pub(crate) secret: &'static str,
}

/// Translated to the DaxPay sandbox.
pub(crate) const T1: Merchant = Merchant {
    mch: "M_SOAK_T1",
    app: "app-soak-t1",
    secret: "soak-secret-t1-7Q2W",
};
/// Translated to the DaxPay sandbox, falling back to the legacy gateway for unknown orders.
pub(crate) const T2: Merchant = Merchant {
    mch: "M_SOAK_T2",
    app: "app-soak-t2",
    secret: "soak-secret-t2-9X4Z",
};
/// Translated to a DaxPay upstream on a port nothing listens on.
pub(crate) const DEAD: Merchant = Merchant {
    mch: "M_SOAK_DEAD",
    app: "app-soak-dead",
    secret: "soak-secret-dead-1A",
};
/// Translated to a DaxPay upstream that answers after its timeout.
pub(crate) const SLOW: Merchant = Merchant {
    mch: "M_SOAK_SLOW",
    app: "app-soak-slow",
    secret: "soak-secret-slow-2B",
};
/// Not migrated: passed through to the legacy gateway (paybridge holds no key for it).
pub(crate) const LEGACY: Merchant = Merchant {
    mch: "M_SOAK_L1",
    app: "app-soak-l1",
    secret: "soak-secret-legacy-3C",
};

pub(crate) const DAX_MCH: &str = "M1723635576766";
pub(crate) const DAX_APP: &str = "M8207639754663343";
/// T2's own DaxPay app: two merchants may not share one DaxPay identity on one upstream unless
/// declared `shared` (with order prefixes), which the seeded order numbers do not have.
pub(crate) const DAX_APP_T2: &str = "M8207639754663344";
pub(crate) const DAX_SECRET: &str = "dax_secret_Key123";

/// The slow upstream's timeout, and how late the fake answers.
pub(crate) const SLOW_TIMEOUT_MS: u64 = 300;
pub(crate) const SLOW_DELAY: Duration = Duration::from_millis(1000);
/// A client gives up on an answer after this long (a client-side timeout is an error).
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests held by the driver's ring of answered requests, which duplicates are drawn from.
pub(crate) const RING: usize = 512;
/// Legacy orders per merchant (the legacy sandbox looks orders up linearly).
pub(crate) const LEGACY_ORDERS: usize = 1500;
/// Allowed RSS growth after warm-up.
pub(crate) const RSS_TOLERANCE: f64 = 0.20;
/// Allowed RSS growth over the second half of the measured period, relative to the baseline.
pub(crate) const RSS_TREND_TOLERANCE: f64 = 0.03;
/// paybridge's own `max_in_flight` is the concurrency plus this: load shedding then means a leak.
pub(crate) const IN_FLIGHT_MARGIN: usize = 8;

pub(crate) const CONNECT_FAILED: &str = "系统异常[上游连接失败，订单未处理]";
pub(crate) const CIRCUIT_OPEN: &str = "系统异常[上游暂不可用，订单未处理，请稍后重试]";
pub(crate) const TIMED_OUT: &str = "系统异常[上游应答超时，结果未知，请稍后查询订单]";
pub(crate) const BUSY: &str = "系统繁忙，请稍后重试";
pub(crate) const STALE_PREFIX: &str = "请求时间超出允许范围[±300秒]，服务器时间";
