//! Jeepay's `/api/pay/query` (`QueryOrderController`), as much of it as the legacy orders know:
//! `payOrderId`, `mchNo`, `appId`, `mchOrderNo` and `state`, signed like every Jeepay answer.

use http::Method;

use super::{lock, Inner, Refusal};
use crate::sign::jeepay as sign;

pub(super) const PATH: &str = "/api/pay/query";

impl Inner {
    /// The order, scoped by `mchNo`, by `payOrderId` when given, else by `mchOrderNo`: the
    /// answer body.
    pub(super) fn query(
        &self,
        method: &Method,
        content_type: Option<&[u8]>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<String, Refusal> {
        let (rq, app) = self.verified(method, content_type, query, body)?;
        let pay_order_id = rq.pay_order_id.as_deref().filter(|s| !s.is_empty());
        let mch_order_no = rq.mch_order_no.as_deref().filter(|s| !s.is_empty());
        if pay_order_id.is_none() && mch_order_no.is_none() {
            // Jeepay's own text for the query: no space before 不能.
            return Err(Refusal::Biz("mchOrderNo 和 payOrderId不能同时为空"));
        }
        let orders = lock(&self.orders);
        let order = orders
            .iter()
            .filter(|o| o.mch_no == rq.mch_no)
            .find(|o| match pay_order_id {
                Some(id) => o.pay_order_id == id,
                None => Some(o.mch_order_no.as_str()) == mch_order_no,
            })
            .ok_or(Refusal::Biz("订单不存在"))?;
        let state = order.state.to_string();
        // Alphabetical, as Jeepay writes its JSON objects.
        let fields = [
            ("appId", app.app_id.as_str()),
            ("mchNo", order.mch_no.as_str()),
            ("mchOrderNo", order.mch_order_no.as_str()),
            ("payOrderId", order.pay_order_id.as_str()),
            ("state", state.as_str()),
        ];
        let sign = sign::sign(&fields, app.secret.expose());
        let text = |v: &str| serde_json::to_string(v).unwrap_or_default();
        Ok(format!(
            r#"{{"code":0,"data":{{"appId":{},"mchNo":{},"mchOrderNo":{},"payOrderId":{},"state":{state}}},"msg":"SUCCESS","sign":"{sign}"}}"#,
            text(&app.app_id),
            text(&order.mch_no),
            text(&order.mch_order_no),
            text(&order.pay_order_id),
        ))
    }
}
