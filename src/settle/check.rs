//! One look at a row: what paybridge's store holds ([`observe`] reads the row and DaxPay's
//! signed answer about it, and changes nothing) and what follows from it ([`apply`]: the row
//! learns DaxPay's number, the merchant's notification is queued). The worker and
//! `paybridge reconcile` both look this way.

use std::sync::Arc;

use crate::config::{Merchant, Upstream};
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::RefundRecord;
use crate::domain::order::{PayOrder, PayStatus, RefundOrderStatus};
use crate::notify::intake::{self, Refusal};
use crate::notify::settle::{self, Settled};
use crate::proxy::runtime::Runtime;
use crate::store::{OrderStore, PayRow, RefundRow, RowState, SettlementKind, StoreError};

/// A row and DaxPay's record of it.
pub(crate) struct View {
    pub merchant: Arc<Merchant>,
    /// The DaxPay version that answered (what its record can tell).
    pub version: Version,
    pub seen: Seen,
}

/// What DaxPay said about a row.
// One per settlement check, held for the check alone (and `View` is boxed): the variants'
// difference in size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Seen {
    Pay(PayRow, PayOrder),
    Refund(RefundRow, RefundRecord),
}

/// What one look found.
pub(crate) enum Observed {
    /// The row and DaxPay's signed record of it (boxed: the other variants are small).
    Seen(Box<View>),
    /// DaxPay refused to read it: it has no such order or refund (or refused the identity).
    NotAtDaxPay,
    /// No verified answer, or the store failed: nothing is known.
    Unknown(String),
    /// The row is no longer in the store.
    Gone,
}

impl View {
    /// DaxPay's state, as DaxPay spells it.
    pub fn state(&self) -> &'static str {
        match &self.seen {
            Seen::Pay(_, order) => order.status.as_str(),
            Seen::Refund(_, record) => record.status.as_str(),
        }
    }

    /// Whether DaxPay's state is final (nothing more will happen to it by itself).
    pub fn is_final(&self) -> bool {
        match &self.seen {
            Seen::Pay(_, order) => !matches!(order.status, PayStatus::Wait | PayStatus::Progress),
            Seen::Refund(_, record) => record.status != RefundOrderStatus::Progress,
        }
    }

    /// The amount in fen: the store's and DaxPay's.
    pub fn amounts(&self) -> (i64, i64) {
        let fen = |f: u64| i64::try_from(f).unwrap_or(i64::MAX);
        match &self.seen {
            Seen::Pay(row, order) => (row.amount_fen, fen(order.amount.0)),
            Seen::Refund(row, record) => (row.refund_amount_fen, fen(record.amount.0)),
        }
    }

    /// DaxPay's number.
    pub fn dax_number(&self) -> &str {
        match &self.seen {
            Seen::Pay(_, order) => &order.order_no,
            Seen::Refund(_, record) => &record.refund_no,
        }
    }
}

/// Reads the row `(kind, mch_no, number)` and DaxPay's record of it. Changes nothing.
pub(crate) async fn observe(
    rt: &Runtime,
    store: &OrderStore,
    kind: SettlementKind,
    mch_no: &str,
    number: &str,
) -> Observed {
    let looked = match kind {
        SettlementKind::Pay => observe_pay(rt, store, mch_no, number).await,
        SettlementKind::Refund => observe_refund(rt, store, mch_no, number).await,
    };
    looked.unwrap_or_else(|e| Observed::Unknown(e.to_string()))
}

async fn observe_pay(
    rt: &Runtime,
    store: &OrderStore,
    mch_no: &str,
    number: &str,
) -> Result<Observed, StoreError> {
    let Some(row) = store.pay_by_mch_order_no(mch_no, number).await? else {
        return Ok(Observed::Gone);
    };
    let (merchant, upstream) = match intake::owner(rt, &row.mch_no, &row.app_id, &row.upstream) {
        Ok(owner) => owner,
        Err(why) => return Ok(refused(why)),
    };
    let biz = merchant.daxpay.number(&row.mch_order_no);
    Ok(
        match intake::read_pay(rt, &merchant, &upstream, &biz).await {
            Ok(order) if order.biz_order_no == biz => Observed::Seen(Box::new(View {
                merchant,
                version: upstream.version(),
                seen: Seen::Pay(row, order),
            })),
            Ok(_) => Observed::NotAtDaxPay,
            Err(why) => refused(why),
        },
    )
}

async fn observe_refund(
    rt: &Runtime,
    store: &OrderStore,
    mch_no: &str,
    number: &str,
) -> Result<Observed, StoreError> {
    let Some(row) = store.refund_by_mch_refund_no(mch_no, number).await? else {
        return Ok(Observed::Gone);
    };
    let (merchant, upstream) = match refund_owner(rt, store, &row).await? {
        Ok(owner) => owner,
        Err(why) => return Ok(refused(why)),
    };
    Ok(
        match intake::read_refund(rt, &merchant, &upstream, &row).await {
            Ok(record) => Observed::Seen(Box::new(View {
                merchant,
                version: upstream.version(),
                seen: Seen::Refund(row, record),
            })),
            Err(why) => refused(why),
        },
    )
}

/// The merchant app a refund belongs to and the upstream it went to: its pay order's, when
/// paybridge made the order.
async fn refund_owner(
    rt: &Runtime,
    store: &OrderStore,
    row: &RefundRow,
) -> Result<Result<(Arc<Merchant>, Arc<Upstream>), Refusal>, StoreError> {
    let paid = match &row.pay_order_id {
        Some(id) => store.pay_by_order_id(&row.mch_no, id).await?,
        None => None,
    };
    let upstream = paid.map(|p| p.upstream).unwrap_or_default();
    Ok(intake::owner(rt, &row.mch_no, &row.app_id, &upstream))
}

fn refused(why: Refusal) -> Observed {
    match why {
        Refusal::UnknownOrder => Observed::NotAtDaxPay,
        other => Observed::Unknown(other.label().to_owned()),
    }
}

/// What follows from DaxPay's record: the row learns DaxPay's number if it had not (DaxPay made
/// it though paybridge never saw the answer), and the merchant's notification is queued if the
/// state calls for one (once per order and state, whoever else queued it).
pub(crate) async fn apply(store: &OrderStore, view: &View) -> Result<(), String> {
    let merchant = &view.merchant;
    let (row, order) = match &view.seen {
        Seen::Pay(row, order) => (row, order),
        // The same rules as any other lookup's (`notify::settle::refund_final`): a pending row
        // several requests joined is left open unless all but one provably never reached DaxPay
        // (`settle::never_sent`), and a failure is not final while another request of the
        // refund may still land.
        Seen::Refund(row, record) => {
            return match settle::refund_final(
                store,
                merchant,
                &row.mch_refund_no,
                record.clone(),
                None,
            )
            .await
            {
                Ok(Settled::Done) => {
                    crate::notify::wake();
                    Ok(())
                }
                Ok(Settled::LeftOpen(why)) => Err(why.to_owned()),
                Err(e) => Err(e.to_string()),
            };
        }
    };
    // A pending row that several requests joined: DaxPay acted on one of them. A pay order's
    // amount and `attach` name it when no other request alike matches (`settle::pay_maker`);
    // otherwise the accepted request's own answer or callback (its token) settles it: until
    // then the entry stays open.
    let several = row.state == RowState::Pending
        && store
            .live_attempts(SettlementKind::Pay, &row.mch_no, &row.mch_order_no)
            .await
            .map_err(|e| e.to_string())?
            > 1;
    let maker = if several {
        let number = (row.mch_no.as_str(), row.mch_order_no.as_str());
        let maker = settle::pay_maker(store, number, order, view.version)
            .await
            .map_err(|e| e.to_string())?;
        let settle::PayMaker::Attempt(maker) = maker else {
            return Err(settle::SEVERAL_JOINED.to_owned());
        };
        Some(maker)
    } else {
        None
    };
    intake::settle_pay(
        store,
        merchant,
        maker.as_deref().unwrap_or(row),
        order.clone(),
    )
    .await
    .map_err(|why| why.label().to_owned())
}

/// The age limit DaxPay applies to requests of the row's upstream (`None` inside: none
/// declared); `None`: the row or its owner cannot be found.
pub(crate) async fn request_expiry(
    rt: &Runtime,
    store: &OrderStore,
    kind: SettlementKind,
    mch_no: &str,
    number: &str,
) -> Option<Option<std::time::Duration>> {
    let owner = match kind {
        SettlementKind::Pay => {
            let row = store.pay_by_mch_order_no(mch_no, number).await.ok()??;
            intake::owner(rt, &row.mch_no, &row.app_id, &row.upstream).ok()?
        }
        SettlementKind::Refund => {
            let row = store.refund_by_mch_refund_no(mch_no, number).await.ok()??;
            refund_owner(rt, store, &row).await.ok()?.ok()?
        }
    };
    Some(owner.1.request_expiry)
}
