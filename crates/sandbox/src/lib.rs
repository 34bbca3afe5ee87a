//! Stand-in gateways for paybridge: a DaxPay `/unipay` gateway ([`Sandbox`]) to translate to,
//! and a legacy gateway ([`LegacySandbox`]) to pass through to, speaking Jeepay and, on the same
//! listener, epay (彩虹易支付) V1.
//!
//! Both are written from the gateways' protocols (`docs/protocols.md`) without any of the
//! proxy's code — their own configuration types ([`config`]), signers ([`sign`]), serve loop
//! and secret handling — so that a misreading shared with the proxy cannot pass unnoticed. They
//! read the `[sandbox]` and `[legacy_sandbox]` sections of paybridge's configuration file
//! ([`Sandboxes::load`]); the `paybridge` binary runs them with `paybridge sandbox`, or beside
//! the proxy in `paybridge serve` when a section says `embedded = true`.

pub mod config;
mod daxpay;
mod legacy;
pub mod order;
mod secret;
mod serve;
pub mod sign;

pub use config::{
    CallbackSignOrder, ConfigError, EpayMerchant, EpayOrder, LegacyApp, LegacyOrder,
    LegacySandboxConfig, SandboxApp, SandboxConfig, SandboxOrder, Sandboxes, DEFAULT_PAY_LIMIT_FEN,
};
pub use daxpay::result;
pub use daxpay::{
    run, Sandbox, SentCallback, SettleError, CHANNEL_FAIL, REFUND_FAIL, REFUND_PENDING,
};
pub use legacy::{run_legacy, EpayRefund, LegacyRefund, LegacySandbox, ReceivedRequest};
pub use order::{Amount, OrderStatus, RefundOrderStatus, RefundStatus, SandboxRefund};
pub use secret::Secret;
pub use serve::SHUTDOWN_GRACE;
pub use sign::daxpay::{SignType, Version};
