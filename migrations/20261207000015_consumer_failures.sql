-- Issue 14: a consumer is never stuck silently.
--
-- The event a consumer (read model or process manager) cannot decode or apply: one row per
-- consumer while it is stuck, written by the consumer runtime at every failed attempt and
-- deleted when the event goes through (or is skipped). `portal projections status` and
-- `/metrics` show it.
CREATE TABLE consumer_failures
(
    name            text PRIMARY KEY REFERENCES consumer_checkpoints (name) ON DELETE CASCADE,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now()
);

-- An operator's decision to pass over one event for one consumer
-- (`portal projections skip NAME --position N --reason "…"`): kept for ever, as the record
-- of why that read model lacks the event. A rebuild passes over the same events.
CREATE TABLE consumer_skips
(
    name            text        NOT NULL,
    global_position bigint      NOT NULL,
    transaction_id  xid8        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    error           text,
    reason          text        NOT NULL CHECK (btrim(reason) <> ''),
    decided_by      text        NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, global_position)
);

-- The age of the oldest registration waiting for the protocol system (outbox metrics).
ALTER TABLE protocol_queue ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
