-- Web Push (SQLite dialect; keep in step with ../postgres/0010_push.sql): the browsers that
-- asked for alarm notifications (RFC 8030 push subscriptions: the push service's endpoint and
-- the subscription's P-256 key and auth secret, base64url as the browser gives them), and the
-- server's VAPID key pair (RFC 8292), generated on first start and kept so that existing
-- subscriptions, which are bound to its public key, stay valid. Numbered 0010 so it does not
-- collide with 0007–0009 of branches in flight.
CREATE TABLE push_subscriptions (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint       TEXT    NOT NULL UNIQUE,
    p256dh         TEXT    NOT NULL,
    auth           TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    last_sent_at   TEXT,
    last_error     TEXT,
    last_error_at  TEXT
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- One row (id = 1): the private scalar and the uncompressed public point, base64url.
CREATE TABLE push_vapid_keys (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    private_key  TEXT    NOT NULL,
    public_key   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);
