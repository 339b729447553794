-- Issue 15: the API keys of Open311 GeoReport v2 clients (an app, a city's 311 tool).
-- Filing a request needs one. Only the SHA-256 of a key is kept; the key itself is printed
-- once by `portal open311 keys add`. A revoked key stays, so the requests it filed still
-- name their client.
CREATE TABLE open311_keys
(
    id         uuid PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    key_sha256 text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
