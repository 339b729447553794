-- E-mail notices (issue 4). The `mail_notices` consumer writes one row per notifying event
-- (unique `event_key`, in the same transaction as its checkpoint: exactly one notice per
-- event however often the log is read); the sender delivers rows to SMTP and marks them.
-- Not a read model: never rebuilt (that would send every notice again).
CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    event_key       text        NOT NULL UNIQUE,
    account_id      text        NOT NULL,
    to_address      text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
