-- Attempts (issue 19): each request that may reach DaxPay for a merchant number is an attempt with
-- its own fields and its own notification token. The order row carries the fields of one attempt,
-- `attempt` (the one DaxPay accepted, once known); `attempts` counts the attempts that joined the
-- pending row and have not been given up, so that a clean-up never removes a row another attempt
-- relies on. Written in the SQL both SQLite and PostgreSQL read.

ALTER TABLE pay_orders ADD COLUMN attempt TEXT;
ALTER TABLE pay_orders ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
ALTER TABLE refund_orders ADD COLUMN attempt TEXT;
ALTER TABLE refund_orders ADD COLUMN attempts BIGINT NOT NULL DEFAULT 1;
-- DaxPay's refund status as last learnt ('progress', 'success', 'fail', 'close'; NULL: not yet).
-- A final status is never replaced by a lower one (success > fail = close > progress).
ALTER TABLE refund_orders ADD COLUMN status TEXT;

-- Each attempt's own fields (the columns of its order row), kept while its order row lives.
CREATE TABLE pay_attempts (
    mch_no        TEXT   NOT NULL,
    mch_order_no  TEXT   NOT NULL,
    attempt       TEXT   NOT NULL,
    app_id        TEXT   NOT NULL,
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
    token         TEXT,
    PRIMARY KEY (mch_no, mch_order_no, attempt)
);
CREATE UNIQUE INDEX pay_attempts_by_token ON pay_attempts (token);

CREATE TABLE refund_attempts (
    mch_no            TEXT   NOT NULL,
    mch_refund_no     TEXT   NOT NULL,
    attempt           TEXT   NOT NULL,
    app_id            TEXT   NOT NULL,
    pay_order_id      TEXT,
    mch_order_no      TEXT,
    refund_amount_fen BIGINT NOT NULL,
    pay_amount_fen    BIGINT,
    currency          TEXT   NOT NULL,
    ext_param         TEXT,
    notify_url        TEXT,
    created_at_ms     BIGINT NOT NULL,
    token             TEXT,
    PRIMARY KEY (mch_no, mch_refund_no, attempt)
);
CREATE UNIQUE INDEX refund_attempts_by_token ON refund_attempts (token);
