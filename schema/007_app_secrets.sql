-- Keys the server generates for itself (for example the HMAC key of SSE
-- tickets), shared by every node so what they sign works cluster-wide and
-- survives restarts. Created once, get-or-create.

CREATE TABLE app_secrets (
    name       text        PRIMARY KEY,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
