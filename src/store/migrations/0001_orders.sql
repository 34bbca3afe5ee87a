-- Pay orders and refunds paybridge asked DaxPay to create, keyed by the merchant's own numbers.
-- Written in the SQL both SQLite and PostgreSQL read. Amounts in fen and times in epoch ms, BIGINT.
-- state: 'pending' (written before DaxPay was called) or 'created' (DaxPay's answer recorded).

CREATE TABLE pay_orders (
    mch_no        TEXT   NOT NULL,
    mch_order_no  TEXT   NOT NULL,
    app_id        TEXT   NOT NULL,
    pay_order_id  TEXT,
    way_code      TEXT   NOT NULL,
    currency      TEXT   NOT NULL,
    client_ip     TEXT,
    amount_fen    BIGINT NOT NULL,
    subject       TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    ext_param     TEXT,
    notify_url    TEXT,
    return_url    TEXT,
    upstream      TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    state         TEXT   NOT NULL,
    PRIMARY KEY (mch_no, mch_order_no)
);

CREATE INDEX pay_orders_by_order_id ON pay_orders (mch_no, pay_order_id);

CREATE TABLE refund_orders (
    mch_no            TEXT   NOT NULL,
    mch_refund_no     TEXT   NOT NULL,
    app_id            TEXT   NOT NULL,
    refund_order_id   TEXT,
    pay_order_id      TEXT,
    mch_order_no      TEXT,
    refund_amount_fen BIGINT NOT NULL,
    pay_amount_fen    BIGINT,
    currency          TEXT   NOT NULL,
    ext_param         TEXT,
    notify_url        TEXT,
    created_at_ms     BIGINT NOT NULL,
    state             TEXT   NOT NULL,
    PRIMARY KEY (mch_no, mch_refund_no)
);

CREATE INDEX refund_orders_by_order_id ON refund_orders (mch_no, refund_order_id);
