-- Accounts and sessions. An account is identity, not a case: it lives in ordinary tables
-- with a unique e-mail (a constraint the event log cannot enforce across aggregates).
CREATE TABLE accounts
(
    id               uuid PRIMARY KEY,
    email            text        NOT NULL,
    email_normalized text        NOT NULL UNIQUE,
    password_hash    text        NOT NULL,
    full_name        text        NOT NULL,
    father_name      text,
    address          text,
    phone            text,
    role             text        NOT NULL CHECK (role IN ('citizen', 'clerk', 'auditor', 'admin')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions
(
    token_sha256        text PRIMARY KEY,
    account_id          uuid        NOT NULL REFERENCES accounts (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    revoked_at          timestamptz,
    -- The position of the last event this session wrote: its reads wait for it.
    last_transaction_id bigint,
    last_position       bigint
);

CREATE INDEX sessions_account_idx ON sessions (account_id);
