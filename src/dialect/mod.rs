//! The wire dialects paybridge speaks: one module each, holding its wire types and its signing.

pub mod daxpay;
pub mod epay;
pub mod failures;
pub mod jeepay;
pub mod merchant;
