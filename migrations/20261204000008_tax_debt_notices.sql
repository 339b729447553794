-- The outbox of notices to the revenue system about certified municipal-tax debts paid
-- through the portal (S14): one row per captured payment of a debt (the payment id is the
-- key, so a row is written once however often the notifier looks), retried with backoff
-- until the revenue system records it ('notified') or refuses it for good ('refused').
CREATE TABLE tax_debt_notices (
    payment_id      text        PRIMARY KEY,
    debt_stream_id  text        NOT NULL,
    payment_ref     text        NOT NULL,
    amount_cents    bigint      NOT NULL,
    paid_at         timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'notified', 'refused')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX tax_debt_notices_due_idx ON tax_debt_notices (next_attempt_at)
    WHERE status = 'pending';
