-- Issue 12: password reset by e-mail, and per-account login throttling.

-- A reset link: single use, 30 minutes; the database keeps only the token's SHA-256.
CREATE TABLE password_resets
(
    token_sha256 text PRIMARY KEY,
    account_id   uuid        NOT NULL REFERENCES accounts (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX password_resets_account_idx ON password_resets (account_id, created_at);

-- Failed logins per e-mail and client address: after 5 in a row from one address, that
-- address waits longer and longer before it may try that e-mail again (other addresses,
-- the owner's among them, are not held back). Keyed by the e-mail as typed (normalised),
-- not by account, so that an address without an account is held back the same way and the
-- throttle tells nobody whether an account exists. A success clears the row.
CREATE TABLE login_failures
(
    email_normalized text        NOT NULL,
    client_ip        text        NOT NULL,
    failures         integer     NOT NULL,
    last_failed_at   timestamptz NOT NULL,
    PRIMARY KEY (email_normalized, client_ip)
);
