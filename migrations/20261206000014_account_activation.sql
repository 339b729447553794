-- Issue 12: registration without account enumeration. A new citizen account is activated
-- through a link e-mailed to its address; registering an address that has an account
-- answers the same and e-mails that address instead. Every account that exists already
-- was usable at once, so it counts as activated.
ALTER TABLE accounts ADD COLUMN activated_at timestamptz;
UPDATE accounts SET activated_at = created_at;
-- Accounts inserted by a process of the previous release (during a rolling upgrade) are
-- usable at once, as they were; this release's registration sets NULL itself.
ALTER TABLE accounts ALTER COLUMN activated_at SET DEFAULT now();

-- An activation link: single use, 48 hours; the database keeps only the token's SHA-256.
-- It carries the password hash and name of the registration that sent it: activating sets
-- those, so a registration made earlier by someone else (with a password of theirs) for an
-- address they do not own is replaced by the owner's own when the owner opens their link.
CREATE TABLE account_activations
(
    token_sha256  text PRIMARY KEY,
    account_id    uuid        NOT NULL REFERENCES accounts (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    password_hash text,
    full_name     text
);
CREATE INDEX account_activations_account_idx ON account_activations (account_id, created_at);
