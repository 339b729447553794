-- Account security (issue 12): sessions a person can see and end, an inactivity limit,
-- staff accounts that can be disabled, and a record of changes to staff accounts.

-- A session's public id (the token's hash stays private), the device it was opened from
-- and its last use (for the inactivity limit; NULL: not used since it was opened).
ALTER TABLE sessions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE sessions ADD COLUMN user_agent text;
ALTER TABLE sessions ADD COLUMN client_ip text;
ALTER TABLE sessions ADD COLUMN last_used_at timestamptz;
CREATE UNIQUE INDEX sessions_id_idx ON sessions (id);

-- A disabled account cannot log in and its sessions end (staff who left).
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
ALTER TABLE accounts ADD COLUMN password_changed_at timestamptz;

-- Every change to a staff account (added, role changed, disabled, enabled), who made it
-- and when: what the auditors' staff page shows. Append-only like the event log.
CREATE TABLE staff_changes
(
    id         bigserial PRIMARY KEY,
    account_id uuid        NOT NULL REFERENCES accounts (id),
    change     text        NOT NULL CHECK (change IN ('added', 'role_changed', 'disabled', 'enabled')),
    detail     text        NOT NULL DEFAULT '',
    changed_by text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_changes_account_idx ON staff_changes (account_id);

CREATE FUNCTION staff_changes_are_append_only() RETURNS trigger AS
$$
BEGIN
    RAISE EXCEPTION 'staff_changes is append-only';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER staff_changes_append_only
    BEFORE UPDATE OR DELETE ON staff_changes
    FOR EACH ROW EXECUTE FUNCTION staff_changes_are_append_only();
