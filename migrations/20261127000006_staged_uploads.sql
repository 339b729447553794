-- A PDF a clerk uploaded to issue a certificate, kept until they confirm on the next page
-- (or for 30 minutes). In the database, not in one process's memory, so the confirmation
-- may reach another portal process behind the load balancer, or a restarted one.
CREATE TABLE staged_uploads (
    token          text PRIMARY KEY,
    clerk_id       uuid        NOT NULL,
    application_id text        NOT NULL,
    filename       text        NOT NULL,
    bytes          bytea       NOT NULL,
    staged_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staged_uploads_age_idx ON staged_uploads (staged_at);
