-- The payment engine's own state (commands::payment_process), folded from `Payment` events
-- by a checkpointed consumer of the log: a payment's order id, its obligation, where it
-- stands and until when, so that the engine finds a payment by the bank's order id, refuses
-- a second payment of one obligation, and the reconciler finds stale and expired payments,
-- without reading the read models that serve the screens. The same consumer writes each
-- finished payment's notice into the outbox of its kind (fine_payment_notices,
-- tax_debt_notices, declaration_outcomes), in the transaction of its checkpoint.
CREATE TABLE payment_process (
    payment_id           text        PRIMARY KEY,
    order_id             text        NOT NULL,
    obligation_kind      text        NOT NULL,
    obligation_reference text        NOT NULL,
    amount_cents         bigint      NOT NULL,
    status               text        NOT NULL,
    payment_ref          text,
    expires_at           timestamptz NOT NULL,
    redirected_at        timestamptz,
    updated_at           timestamptz NOT NULL,
    last_sequence        bigint      NOT NULL
);
-- Not unique: order ids carry 60 random bits and do not repeat in practice, but a consumer
-- must never refuse an event (a refused event would stop it for good).
CREATE INDEX payment_process_order_idx ON payment_process (order_id);
CREATE INDEX payment_process_obligation_idx
    ON payment_process (obligation_kind, obligation_reference);
CREATE INDEX payment_process_open_idx ON payment_process (expires_at)
    WHERE status IN ('created', 'redirected');
