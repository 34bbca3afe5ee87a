//! The epay (彩虹易支付) merchant dialect: V1 (`submit.php`, `mapi.php`, `api.php`, MD5) and V2
//! (`/api/pay/*`, SHA256WithRSA with a timestamp).
//!
//! This folder will hold, as `dialect/jeepay/` does for Jeepay, everything in epay's own terms: its
//! signatures, its parameter binding (PHP's form decoding), its answers and failure texts, and one
//! `ops/<op>.rs` per operation. Today it holds the signatures ([`sign`]) and the reading of the
//! parameters they are computed over ([`params`]), used by `paybridge sign` / `paybridge verify
//! --dialect epay` and checked against epay's vectors (`vectors/derived/epay.json`).

pub mod notification;
pub mod params;
pub mod sign;
