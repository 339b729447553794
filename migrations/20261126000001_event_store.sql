-- The event log: postgres-es's `events` table, extended with a global position, the
-- inserting transaction's id, the time it was recorded and a per-case hash chain.
-- Append-only: UPDATE, DELETE and TRUNCATE are refused by triggers.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 1) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         jsonb                        NOT NULL,
    metadata        jsonb                        NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT clock_timestamp(),
    prev_hash       text                         NOT NULL,
    hash            text                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position_idx ON events (global_position);
-- Consumers read in commit-safe order: (transaction_id, global_position).
CREATE INDEX events_commit_order_idx ON events (transaction_id, global_position);

-- Each event's hash covers the previous event's hash and its own content, so altering or
-- removing an event breaks the chain. The Rust side (domain::audit) recomputes it.
CREATE FUNCTION events_chain_hash() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    previous text;
BEGIN
    -- The database, not the writer, decides these.
    NEW.transaction_id := pg_current_xact_id();
    NEW.recorded_at := clock_timestamp();
    IF NEW.sequence = 1 THEN
        previous := repeat('0', 64);
    ELSE
        SELECT e.hash INTO previous
          FROM events e
         WHERE e.aggregate_type = NEW.aggregate_type
           AND e.aggregate_id = NEW.aggregate_id
           AND e.sequence = NEW.sequence - 1;
        IF previous IS NULL THEN
            RAISE EXCEPTION 'event %/% #% has no predecessor', NEW.aggregate_type, NEW.aggregate_id, NEW.sequence;
        END IF;
    END IF;
    NEW.prev_hash := previous;
    NEW.hash := encode(sha256(convert_to(previous || concat_ws('|',
        NEW.aggregate_type,
        NEW.aggregate_id,
        NEW.sequence::text,
        NEW.event_type,
        NEW.event_version,
        NEW.payload::text,
        NEW.metadata::text,
        ((extract(epoch FROM NEW.recorded_at) * 1000000)::bigint)::text), 'UTF8')), 'hex');
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_chain_hash
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain_hash();

CREATE FUNCTION events_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Wake the consumers when new events commit (delivered at commit, collapsed per transaction).
CREATE FUNCTION events_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('portal_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- postgres-es's snapshot table. Unused: snapshot mode is broken in 0.5.0 (DESIGN.md §3),
-- but kept so that the library's schema is whole.
CREATE TABLE snapshots
(
    aggregate_type   text                                NOT NULL,
    aggregate_id     text                                NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                               NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- One row per checkpointed consumer (read model or process manager): every event up to
-- and including (last_transaction_id, last_position) in commit order has been handled.
CREATE TABLE consumer_checkpoints
(
    name                text PRIMARY KEY,
    last_transaction_id xid8        NOT NULL DEFAULT '0',
    last_position       bigint      NOT NULL DEFAULT 0,
    schema_version      integer     NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
