//! The pipeline's dispatch, generated from the registry line of each operation in
//! [`crate::dispatch::operations!`]: adding an operation is its files (domain, each dialect's
//! and DaxPay's wire forms, sandbox handler) and that one line. Generic over the merchant
//! dialect: a dialect is served once every operation is a `MerchantOp` of it.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

use super::call::Job;
use super::pipeline;
use crate::config::{LegacyUpstream, Merchant};
use crate::dialect::daxpay::envelope::Field;
use crate::dialect::daxpay::ops::DaxOp;
use crate::dialect::daxpay::sign::Version;
use crate::dialect::jeepay::ops::JeepayOp;
use crate::dialect::merchant::{MerchantDialect, MerchantOp};
use crate::dispatch::DaxCall;
use crate::domain::{Failure, OpKind, Operation};
use crate::upstream::Answered;

macro_rules! registry {
    ($($kind:ident => $path:literal, $label:literal, $op:ty;)+) => {
        /// The fields the operation's request declares in dialect `D` (Jeepay binds to them).
        pub(crate) fn fields<D: MerchantDialect>(kind: OpKind) -> &'static [&'static str]
        where
            $($op: MerchantOp<D>,)+
        {
            match kind {
                $(OpKind::$kind => <$op as MerchantOp<D>>::FIELDS,)+
            }
        }

        /// A translated request of this kind, through the pipeline.
        ///
        /// Each operation's pipeline is boxed in its own arm: unboxed, this future would be as
        /// large as the largest operation's (a refund's, with the order store's hooks: some
        /// 18 KiB), and every translated request, a close too, would copy all of it into its
        /// box (callgrind: 18,300 instructions of `memcpy` a close). Boxed per arm, a request
        /// copies only its own operation's future, and this one stays a pointer wide.
        pub(super) async fn translate<D: MerchantDialect>(
            job: &Job<'_>,
            params: Option<&D::Params<'_>>,
            fallback: Option<&Arc<LegacyUpstream>>,
        ) -> Result<Response<Full<Bytes>>, Failure>
        where
            $($op: MerchantOp<D>,)+
        {
            match job.op {
                $(OpKind::$kind => Box::pin(pipeline::translate::<D, $op>(job, params, fallback)).await,)+
            }
        }

        /// The legacy gateway does not know the order: translated once instead.
        pub(super) async fn fallback<D: MerchantDialect>(
            job: &Job<'_>,
            params: Option<&D::Params<'_>>,
            answer: Answered,
        ) -> Result<Response<Full<Bytes>>, Failure>
        where
            $($op: MerchantOp<D>,)+
        {
            match job.op {
                $(OpKind::$kind => pipeline::fallback::<D, $op>(job, params, answer).await,)+
            }
        }

        /// Logs the DaxPay request a translation would send (nothing is sent).
        pub(super) fn shadow<D: MerchantDialect>(job: &Job<'_>, params: Option<&D::Params<'_>>)
        where
            $($op: MerchantOp<D>,)+
        {
            match job.op {
                $(OpKind::$kind => pipeline::shadow::<D, $op>(job, params),)+
            }
        }

        /// Whether a request of this kind may go to the other gateway for an order DaxPay
        /// verifiably does not have (a new pay order never does).
        pub fn falls_back(kind: OpKind, merchant: &Merchant) -> bool {
            match kind {
                $(OpKind::$kind => <$op as JeepayOp>::sample(kind, merchant).falls_back_when_not_found(),)+
            }
        }

        /// The DaxPay call a merchant's request of this kind becomes, and its fixed fields
        /// (for `paybridge route`).
        pub fn daxpay_call(
            kind: OpKind,
            version: Version,
            merchant: &Merchant,
        ) -> (DaxCall, Vec<(&'static str, String)>) {
            match kind {
                $(OpKind::$kind => explain::<$op>(kind, version, merchant),)+
            }
        }
    };
}

crate::dispatch::operations!(registry);

fn explain<O: JeepayOp + DaxOp>(
    kind: OpKind,
    version: Version,
    merchant: &Merchant,
) -> (DaxCall, Vec<(&'static str, String)>) {
    let mut op = O::sample(kind, merchant);
    // What the upstream's terms fix (an amount's unit); a version that refuses keeps the sample.
    let _ = op.bind(&crate::dialect::daxpay::ops::Upstream {
        name: &merchant.daxpay.upstream.name,
        version,
        utc_offset: merchant.daxpay.upstream.utc_offset,
    });
    let (call, fields) = op.request(version);
    let fixed = fields
        .iter()
        .filter(|(_, v)| !matches!(v, Field::Text(_)))
        .map(|(k, v)| (k, v.text().to_owned()))
        .collect();
    (call, fixed)
}
