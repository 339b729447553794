-- The protocol registrar's own queue (commands::registrar::ProtocolQueue), folded from
-- `CertificateApplication` events by a checkpointed consumer of the log: each application
-- and when its next attempt at the protocol system is due (a minute after submission, in
-- case the submitting process stopped before its own attempt; then as each failed attempt
-- says), until it is registered. The registrar reads only this, not the read models that
-- serve the screens.
CREATE TABLE protocol_queue (
    application_id  text        PRIMARY KEY,
    next_attempt_at timestamptz NOT NULL,
    registered      boolean     NOT NULL DEFAULT false,
    last_sequence   bigint      NOT NULL
);
CREATE INDEX protocol_queue_due_idx ON protocol_queue (next_attempt_at) WHERE NOT registered;
