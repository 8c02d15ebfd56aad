-- API tokens. Only the sha256 of the secret is stored. A name is unique
-- among tokens that are not revoked, so a revoked name can be reused.

CREATE TABLE tokens (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL CHECK (name <> ''),
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    scopes        text[]      NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE UNIQUE INDEX tokens_name_active_key ON tokens (name) WHERE revoked_at IS NULL;
