-- Background settlement (src/settle): every pay order and refund paybridge wrote is followed up by
-- a signed query until DaxPay says it is final, however paybridge would otherwise have learnt it
-- (a callback that never came, an answer that was lost, a refund that failed synchronously).
-- Written in the SQL both SQLite and PostgreSQL read, except `@ID_PRIMARY_KEY@` (sql::migration_text).
--
-- kind: 'pay' or 'refund'; (mch_no, number): the row's key in pay_orders (mch_order_no) or
-- refund_orders (mch_refund_no). status: 'open' (followed up: due once next_check_at_ms has come,
-- free unless lease_owner holds it until lease_until_ms), 'final' (DaxPay said a final state,
-- dax_state), 'gone' (the row was removed: its call certainly failed) or 'abandoned' (still not
-- final after the configured age: left to the operator and `paybridge reconcile`).
CREATE TABLE settlements (
    id               @ID_PRIMARY_KEY@,
    kind             TEXT   NOT NULL,
    mch_no           TEXT   NOT NULL,
    number           TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    dax_state        TEXT,
    checks           BIGINT NOT NULL,
    next_check_at_ms BIGINT NOT NULL,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_until_ms   BIGINT,
    created_at_ms    BIGINT NOT NULL,
    settled_at_ms    BIGINT,
    UNIQUE (kind, mch_no, number)
);

CREATE INDEX settlements_due ON settlements (status, next_check_at_ms);

-- What pruning (src/store/retention.rs) and `paybridge reconcile --from/--to` look rows up by.
CREATE INDEX pay_orders_by_created ON pay_orders (created_at_ms);
CREATE INDEX refund_orders_by_created ON refund_orders (created_at_ms);
CREATE INDEX refund_orders_by_pay_order ON refund_orders (mch_no, pay_order_id);
CREATE INDEX refund_orders_by_mch_order ON refund_orders (mch_no, mch_order_no);
