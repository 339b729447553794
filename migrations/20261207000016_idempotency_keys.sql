-- Issue 14: idempotent submissions. A POST that creates something (a request, an
-- application, a payment, a declaration) may carry an `Idempotency-Key` header (the pages: a
-- hidden `idempotency_key` field). The first answer is kept here for 24 hours; a repeat
-- with the same key and body gets it again instead of a second case.
--
-- Neither the key nor the caller's credential is stored: `id` is the SHA-256 of the route,
-- the credential (bearer token or cookie) and the key. The answer may carry a secret (an
-- anonymous request's tracking code), so its body is encrypted (ChaCha20-Poly1305) under a
-- key derived from the idempotency key, which only the client knows.
CREATE TABLE idempotency_keys
(
    id             text PRIMARY KEY,
    request_sha256 text        NOT NULL,
    -- NULL while the first request runs.
    status         smallint,
    headers        jsonb,
    nonce          bytea,
    body           bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
