-- How a notification goes to the merchant (issue 22: a second merchant dialect). Existing jobs
-- are Jeepay's.
--   'jeepay'   POST `body` (a form) to `url`; acknowledged by `SUCCESS` (any case, whole body);
--              Jeepay's schedule.
--   'epay'     GET `url` with `body` (the query, MD5-signed once) appended; acknowledged when the
--              answer contains success/SUCCESS/Success; epay's schedule.
--   'epay-rsa' the same, but `body` holds the parameters without `timestamp` and signature: each
--              attempt adds a fresh timestamp and signs with the platform key (never stored).
ALTER TABLE notifications ADD COLUMN wire TEXT NOT NULL DEFAULT 'jeepay';
