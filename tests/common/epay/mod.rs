//! An epay (彩虹易支付) merchant, written from epay.md only (never from paybridge's code): the
//! independent check the issue asks for. [`sign`]: MD5 (§4) and RSA (§5) as the SDKs compute
//! them; [`client`]: the calls (V1 and V2); [`merchant`]: a `notify_url`/`return_url` site that
//! records what arrives and verifies it as SDK1 `EpayCore` and SDK2 do (§14); [`keys`]: the RSA
//! keys. §15's vectors pin the signers (`tests/epay_v1.rs`, `tests/epay_v2.rs`).

#![allow(dead_code, unused_imports)]

pub mod cashier;
pub mod client;
pub mod keys;
pub mod merchant;
pub mod sign;
pub mod world;

pub use client::{form, EpayClient, Number};
pub use merchant::{browser_target, query_pairs, EpayMerchantSite, Notice};

/// The merchant id of the tests' epay merchant.
pub const PID: &str = "1001";
/// Its MD5 key (epay's documentation example, the key of §15's E1–E8).
pub const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

/// The default merchant's client on `addr`.
pub fn client(addr: std::net::SocketAddr) -> EpayClient {
    EpayClient {
        addr,
        pid: PID.to_owned(),
        key: KEY.to_owned(),
        private_key: keys::MERCHANT_PRIVATE_KEY.to_owned(),
        platform_public_key: keys::PLATFORM_PUBLIC_KEY.to_owned(),
    }
}
