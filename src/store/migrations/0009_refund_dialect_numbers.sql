-- A merchant dialect's own number for a refund (issue 22's review, epay's `refund_no`): paybridge
-- gives it to DaxPay as the refund's `attach` and keeps it in the row's `ext_param`, and epay V2's
-- refund query finds the refund by it (src/dialect/epay/refund_no.rs). Only values 19 characters
-- long are indexed: an epay `refund_no` always is, a Jeepay `extParam` seldom, so Jeepay's refunds
-- pay next to nothing for it. The lookup repeats the index's condition so that both SQLite and
-- PostgreSQL use it.
CREATE INDEX refund_orders_by_dialect_no ON refund_orders (mch_no, ext_param)
    WHERE length(ext_param) = 19;
