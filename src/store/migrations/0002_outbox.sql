-- Notification tokens and the outbox. Written in the SQL both SQLite and PostgreSQL read, except
-- `@ID_PRIMARY_KEY@`, which each backend spells its own way (sql::migration_text).

-- The opaque id in the callback and return URLs paybridge gives DaxPay. NULLs do not collide.
ALTER TABLE pay_orders ADD COLUMN token TEXT;
CREATE UNIQUE INDEX pay_orders_by_token ON pay_orders (token);
ALTER TABLE refund_orders ADD COLUMN token TEXT;
CREATE UNIQUE INDEX refund_orders_by_token ON refund_orders (token);

-- Jeepay notifications to merchants, each job delivered at least once.
-- kind: 'pay' or 'refund'; order_id: DaxPay's orderNo or refundNo; state: the Jeepay state.
-- status: 'pending', 'delivered' or 'failed'. A pending job is due once next_attempt_at_ms has
-- come and is free unless lease_owner holds it until lease_until_ms.
CREATE TABLE notifications (
    id                 @ID_PRIMARY_KEY@,
    mch_no             TEXT   NOT NULL,
    app_id             TEXT   NOT NULL,
    kind               TEXT   NOT NULL,
    order_id           TEXT   NOT NULL,
    state              BIGINT NOT NULL,
    url                TEXT   NOT NULL,
    body               TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    attempts           BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_error         TEXT,
    lease_owner        TEXT,
    lease_until_ms     BIGINT,
    created_at_ms      BIGINT NOT NULL,
    delivered_at_ms    BIGINT,
    UNIQUE (mch_no, kind, order_id, state)
);

CREATE INDEX notifications_due ON notifications (status, next_attempt_at_ms);
