-- The outbox of the declaration worker (S13): one row per final payment of a municipal
-- tax declaration (the payment id is the key, so a row is written once however often the
-- worker looks). `outcome` is applied to the declaration once ('applied' or 'ignored' when
-- the payment is no longer the declaration's current filing's); a captured payment is then
-- told to the revenue system, retried with backoff while it is down, until it records it
-- ('notified') or refuses it for good ('refused').
CREATE TABLE declaration_outcomes (
    payment_id      text        PRIMARY KEY,
    declaration_id  text        NOT NULL,
    payment_status  text        NOT NULL,
    applied         text        NOT NULL DEFAULT 'pending'
                    CHECK (applied IN ('pending', 'applied', 'ignored')),
    notice          text        NOT NULL DEFAULT 'none'
                    CHECK (notice IN ('none', 'pending', 'notified', 'refused')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX declaration_outcomes_due_idx ON declaration_outcomes (next_attempt_at)
    WHERE applied = 'pending' OR notice = 'pending';
