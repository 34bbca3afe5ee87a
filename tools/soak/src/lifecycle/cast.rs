//! The cast of the lifecycle soak: its merchants and their DaxPay apps, the fault rates, the
//! timings paybridge is configured with, and the messages whose meaning the judge knows.

use std::time::Duration;

/// A Jeepay merchant app and the DaxPay app it is translated to (one each: Jeepay numbers are
/// unique per merchant, DaxPay's per app).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Merchant {
    pub(crate) mch: &'static str,
    pub(crate) app: &'static str,
    pub(crate) secret: &'static str,
    pub(crate) dax_app: &'static str,
    /// DaxPay 2.0: its `order_prefix` on the one platform identity both merchants share.
    pub(crate) prefix_2_0: &'static str,
}

pub(crate) const MERCHANTS: [Merchant; 2] = [
    Merchant {
        mch: "M_LIFE_A",
        app: "app-life-a",
        secret: "life-secret-a-5R8T",
        dax_app: "M8207639754660001",
        prefix_2_0: "LA-",
    },
    Merchant {
        mch: "M_LIFE_B",
        app: "app-life-b",
        secret: "life-secret-b-6K1M",
        dax_app: "M8207639754660002",
        prefix_2_0: "LB-",
    },
];

pub(crate) const DAX_MCH: &str = "M1723635576766";
pub(crate) const DAX_SECRET: &str = "dax_life_secret_Key456";

/// paybridge's timeout for one DaxPay call; the relay's "held past the timeout" holds longer.
pub(crate) const UPSTREAM_TIMEOUT_MS: u64 = 1500;
/// How long the relay holds a call it holds past paybridge's timeout.
pub(crate) const HOLD: Duration = Duration::from_millis(UPSTREAM_TIMEOUT_MS + 700);
/// paybridge's timeout for one notification attempt; the merchant's hang is longer.
pub(crate) const NOTIFY_TIMEOUT_MS: u64 = 1000;
pub(crate) const MERCHANT_HANG: Duration = Duration::from_millis(NOTIFY_TIMEOUT_MS + 600);
/// A client (merchant) gives up on paybridge's answer after this long.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(12);

/// Faults per mille of the DaxPay calls the relay sees (each kind an equal share of 300).
pub(crate) const UPSTREAM_FAULTS_PER_MILLE: u64 = 300;
/// Faults per mille of DaxPay's callbacks: dropped (not forwarded, 500), delayed, duplicated.
pub(crate) const CALLBACK_DROP: u64 = 80;
pub(crate) const CALLBACK_DELAY: u64 = 100;
pub(crate) const CALLBACK_DUPLICATE: u64 = 100;
/// Per mille of callbacks after which a forged copy is also sent (bad signature).
pub(crate) const CALLBACK_FORGE: u64 = 150;
/// The merchant endpoint: refuses (500), hangs past paybridge's timeout, answers slowly.
pub(crate) const MERCHANT_REFUSE: u64 = 120;
pub(crate) const MERCHANT_HANGS: u64 = 50;
pub(crate) const MERCHANT_SLOW: u64 = 100;

/// The sandbox's magic refund reasons (crates/sandbox: the channel fails the refund, or leaves
/// it in progress until the driver closes it).
pub(crate) const REFUND_FAIL: &str = paybridge_sandbox::REFUND_FAIL;
pub(crate) const REFUND_PENDING: &str = paybridge_sandbox::REFUND_PENDING;

/// Bar codes Jeepay classifies as WeChat's (18 digits, 10–15) and Alipay's (16–24, 25–30).
pub(crate) const WX_AUTH_CODE: &str = "134567890123456789";
pub(crate) const ALI_AUTH_CODE: &str = "284567890123456789";

/// Refusals that say "nothing decided yet, ask again": transient, never wrong by themselves.
pub(crate) const TRANSIENT_9999: [&str; 2] = [
    "相同请求正在处理中，请稍后重试",
    "当前订单正在关闭中，请稍后查询",
];

/// The epay (彩虹易支付) V1 merchant of the `--dialects jeepay,epay` run: its `pid`, its MD5
/// key (32 characters of `[0-9a-zA-Z]`, as the gateway generates them, epay.md §3), its
/// DaxPay app (3.0) and its order prefix on 2.0's shared identity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EpayMerchant {
    pub(crate) pid: &'static str,
    pub(crate) key: &'static str,
    pub(crate) dax_app: &'static str,
    pub(crate) prefix_2_0: &'static str,
}

pub(crate) const EPAY: EpayMerchant = EpayMerchant {
    pid: "1001",
    key: "Lq8fK2mZ7xR4vT9wB3nH6jD1sG5yP0cE",
    dax_app: "M8207639754660003",
    prefix_2_0: "LE-",
};
