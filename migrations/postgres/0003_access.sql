-- Access (issue 6), PostgreSQL dialect. Keep in step with ../sqlite/0003_access.sql.

UPDATE users SET role = 'owner' WHERE role <> 'admin';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'dispatcher', 'officer', 'owner', 'integrator'));

-- Officers belong to patrol units (the units table is the alarms module's; referenced by id).
CREATE TABLE unit_members (
    unit_id    BIGINT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (unit_id, user_id)
);
CREATE INDEX unit_members_user ON unit_members (user_id);

-- Read-only shares of a device with another user.
CREATE TABLE device_shares (
    device_id  BIGINT      NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, user_id)
);
CREATE INDEX device_shares_user ON device_shares (user_id);
CREATE INDEX devices_owner ON devices (owner_id);

-- API keys: only the SHA-256 of the key is stored; scopes are space-separated.
CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL,
    prefix       TEXT        NOT NULL,
    key_hash     TEXT        NOT NULL UNIQUE,
    scopes       TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Commands and their lifecycle: queued -> sent -> acknowledged / failed / expired.
CREATE TABLE commands (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id     BIGINT      NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind          TEXT        NOT NULL,
    params        JSONB       NOT NULL DEFAULT '{}',
    status        TEXT        NOT NULL
        CHECK (status IN ('queued', 'held', 'sent', 'acknowledged', 'failed', 'expired')),
    requested_by  BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    api_key_id    BIGINT      REFERENCES api_keys (id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    sent_at       TIMESTAMPTZ,
    not_before    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    correlation   JSONB,
    reply         JSONB,
    failure       TEXT
);
CREATE INDEX commands_device ON commands (device_id, status);

-- Append-only audit of every command request and refusal.
CREATE TABLE command_audit (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
    user_id     BIGINT,
    api_key_id  BIGINT,
    device_id   BIGINT,
    command_id  BIGINT,
    kind        TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    reason      TEXT        NOT NULL DEFAULT '',
    detail      JSONB       NOT NULL DEFAULT '{}'
);
CREATE INDEX command_audit_device ON command_audit (device_id, id);
CREATE FUNCTION command_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'command_audit is append-only';
END $$;
CREATE TRIGGER command_audit_no_change BEFORE UPDATE OR DELETE ON command_audit
    FOR EACH ROW EXECUTE FUNCTION command_audit_append_only();
