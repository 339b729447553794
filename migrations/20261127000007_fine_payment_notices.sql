-- The outbox of notices to the fines-management system: one row per captured payment of a
-- traffic fine (the payment id is the key, so a row is written once however often the
-- notifier looks), retried with backoff until the fines system takes it.
CREATE TABLE fine_payment_notices (
    payment_id      text        PRIMARY KEY,
    fine_id         text        NOT NULL,
    payment_ref     text        NOT NULL,
    amount_cents    bigint      NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'notified', 'refused')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX fine_payment_notices_due_idx ON fine_payment_notices (next_attempt_at)
    WHERE status = 'pending';
