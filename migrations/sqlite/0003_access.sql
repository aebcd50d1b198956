-- Access (issue 6), SQLite dialect. Keep in step with ../postgres/0003_access.sql.
-- Runs outside a transaction (see db.rs): the users table is rebuilt to widen its role CHECK,
-- which SQLite only allows with foreign keys off (a DROP TABLE with them on would cascade
-- into sessions and devices).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL
        CHECK (role IN ('admin', 'dispatcher', 'officer', 'owner', 'integrator')),
    created_at    TEXT    NOT NULL
);
INSERT INTO users_new (id, email, name, password_hash, role, created_at)
    SELECT id, email, name, password_hash,
           CASE role WHEN 'admin' THEN 'admin' ELSE 'owner' END, created_at
    FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- Officers belong to patrol units (the units table is the alarms module's; referenced by id).
CREATE TABLE unit_members (
    unit_id    INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (unit_id, user_id)
);
CREATE INDEX unit_members_user ON unit_members (user_id);

-- Read-only shares of a device with another user.
CREATE TABLE device_shares (
    device_id  INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (device_id, user_id)
);
CREATE INDEX device_shares_user ON device_shares (user_id);
CREATE INDEX devices_owner ON devices (owner_id);

-- API keys: only the SHA-256 of the key is stored; scopes are space-separated.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Commands and their lifecycle: queued -> sent -> acknowledged / failed / expired.
CREATE TABLE commands (
    id            INTEGER PRIMARY KEY,
    device_id     INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    params        TEXT    NOT NULL DEFAULT '{}',
    status        TEXT    NOT NULL
        CHECK (status IN ('queued', 'held', 'sent', 'acknowledged', 'failed', 'expired')),
    requested_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    api_key_id    INTEGER REFERENCES api_keys (id) ON DELETE SET NULL,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    sent_at       TEXT,
    not_before    TEXT,
    finished_at   TEXT,
    correlation   TEXT,
    reply         TEXT,
    failure       TEXT
);
CREATE INDEX commands_device ON commands (device_id, status);

-- Append-only audit of every command request and refusal (no UPDATE/DELETE from the code;
-- the triggers make it so for everyone else too).
CREATE TABLE command_audit (
    id          INTEGER PRIMARY KEY,
    time        TEXT    NOT NULL,
    user_id     INTEGER,
    api_key_id  INTEGER,
    device_id   INTEGER,
    command_id  INTEGER,
    kind        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX command_audit_device ON command_audit (device_id, id);
CREATE TRIGGER command_audit_no_update BEFORE UPDATE ON command_audit
    BEGIN SELECT RAISE(ABORT, 'command_audit is append-only'); END;
CREATE TRIGGER command_audit_no_delete BEFORE DELETE ON command_audit
    BEGIN SELECT RAISE(ABORT, 'command_audit is append-only'); END;

COMMIT;
PRAGMA foreign_keys = ON;
