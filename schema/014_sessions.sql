-- Dashboard sessions. A session is opened by signing in with an API token
-- and acts with that token's scopes. Only the sha256 of the session id (the
-- cookie's value) is stored. A session ends at expires_at, on sign-out
-- (row deleted), or when its token is revoked (lookups join live tokens;
-- the row goes with the token if the token row is ever deleted).

CREATE TABLE ui_sessions (
    id_sha256    bytea       PRIMARY KEY CHECK (length(id_sha256) = 32),
    token_id     bigint      NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX ui_sessions_expires_at_idx ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_token_id_idx ON ui_sessions (token_id);
