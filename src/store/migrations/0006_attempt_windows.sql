-- When may an attempt still land on DaxPay (issue 19, the gaps)? Each attempt says when its
-- request may last have been sent, and whether DaxPay answered it (then it landed, once, and
-- cannot land again). Read by `crate::store::landing`; the rule is `crate::replay::landing`.
--
-- sent_until_ms: the request's call ended with an unknown outcome at this moment (it was sent
-- at the latest then); NULL while it may still be sending (bounded by created_at_ms and the
-- send window paybridge enforces before signing a call).
-- answered_at_ms: DaxPay's verified answer to this attempt's call came (it landed).
ALTER TABLE pay_attempts ADD COLUMN sent_until_ms BIGINT;
ALTER TABLE pay_attempts ADD COLUMN answered_at_ms BIGINT;
ALTER TABLE refund_attempts ADD COLUMN sent_until_ms BIGINT;
ALTER TABLE refund_attempts ADD COLUMN answered_at_ms BIGINT;
