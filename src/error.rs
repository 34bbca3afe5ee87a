//! Every way a request can fail, and the Jeepay-dialect answer each one gets.
//!
//! Handlers return `Result<_, GatewayError>`; the [`crate::middleware::dialect_errors`] layer turns
//! the error into the caller's dialect in one place.

use http::StatusCode;

use crate::dialect::jeepay::Reply;
use crate::upstream::UpstreamError;

/// Jeepay's answer codes.
pub mod code {
    pub const BUSINESS: i64 = 9999;
    pub const SYSTEM: i64 = 10;
    pub const CONVERSION: i64 = 11;
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The body or parameters cannot be bound to the request class (Jeepay code 11).
    #[error("参数有误[转换异常]")]
    Conversion(String),
    #[error("参数有误[请求体超过{limit}字节]")]
    BodyTooLarge { limit: usize },
    #[error("参数有误[请求体读取超时]")]
    BodyTimeout,
    #[error("{0}")]
    Required(&'static str),
    #[error("不支持的签名类型[{0}]，仅支持MD5")]
    UnsupportedSignType(String),
    #[error("商户或商户应用不存在")]
    UnknownMerchant,
    #[error("参数appId与商户号不匹配")]
    AppOfAnotherMerchant,
    #[error("验签失败")]
    BadSignature,
    #[error("mchOrderNo 和 payOrderId 不能同时为空")]
    NoOrderId,
    #[error("请求时间超出允许范围[±{window_secs}秒]，服务器时间{server_time}")]
    ReqTimeOutside {
        window_secs: u64,
        server_time: String,
    },
    #[error("请求时间格式无法识别[{0}]，应为10、13或16位时间戳")]
    ReqTimeUnreadable(String),
    /// The same signed request is still being carried out (a duplicate waited too long).
    #[error("相同请求正在处理中，请稍后重试")]
    DuplicateInProgress,
    /// Load shedding: nothing was done.
    #[error("系统繁忙，请稍后重试")]
    Overloaded,
    /// The replay store is unreachable and configured to refuse meanwhile.
    #[error("系统异常[防重放存储不可用，订单未处理]")]
    ReplayStoreDown,
    /// DaxPay has no such order. `verified`: its answer was signed (or 2.0, which never signs
    /// errors), so a fallback to the legacy gateway may rely on it.
    #[error("订单不存在")]
    OrderNotFound { verified: bool },
    /// A verified refusal from the upstream, in Jeepay's words where it has them.
    #[error("{0}")]
    Refused(String),
    /// The operator's fault, not the merchant's: told as `系统异常[...]`, logged in full.
    #[error("系统异常[{}]", .0.merchant_reason())]
    Upstream(#[from] UpstreamError),
    #[error("请求路径不存在[{0}]")]
    NotFound(String),
    #[error("请求方法不支持[{0}]")]
    MethodNotAllowed(String),
    #[error("系统异常[内部错误]")]
    Internal,
}

impl GatewayError {
    pub fn code(&self) -> i64 {
        match self {
            GatewayError::Conversion(_)
            | GatewayError::BodyTooLarge { .. }
            | GatewayError::BodyTimeout => code::CONVERSION,
            GatewayError::Upstream(_)
            | GatewayError::Internal
            | GatewayError::Overloaded
            | GatewayError::ReplayStoreDown => code::SYSTEM,
            _ => code::BUSINESS,
        }
    }

    /// HTTP status: 200 for every dialect answer, as Jeepay; routing misses use HTTP's own.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            // Shedding load: a load balancer may retry elsewhere; nothing was done.
            GatewayError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    }

    pub fn reply(&self) -> Reply {
        Reply::Error {
            code: self.code(),
            msg: self.to_string(),
        }
    }

    /// A short, stable name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Conversion(_) => "conversion",
            GatewayError::BodyTooLarge { .. } => "body_too_large",
            GatewayError::BodyTimeout => "body_timeout",
            GatewayError::Required(_) => "required_field",
            GatewayError::UnsupportedSignType(_) => "sign_type",
            GatewayError::UnknownMerchant => "unknown_merchant",
            GatewayError::AppOfAnotherMerchant => "app_mismatch",
            GatewayError::BadSignature => "bad_signature",
            GatewayError::NoOrderId => "no_order_id",
            GatewayError::ReqTimeOutside { .. } => "req_time_outside",
            GatewayError::ReqTimeUnreadable(_) => "req_time_unreadable",
            GatewayError::DuplicateInProgress => "duplicate_in_progress",
            GatewayError::Overloaded => "overloaded",
            GatewayError::ReplayStoreDown => "replay_store_down",
            GatewayError::OrderNotFound { .. } => "order_not_found",
            GatewayError::Refused(_) => "refused",
            GatewayError::Upstream(e) => e.kind(),
            GatewayError::NotFound(_) => "not_found",
            GatewayError::MethodNotAllowed(_) => "method_not_allowed",
            GatewayError::Internal => "internal",
        }
    }
}
