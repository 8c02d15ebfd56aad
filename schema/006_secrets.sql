-- User secrets, encrypted at rest with AES-256-GCM under the key in
-- <data-dir>/secret.key; the secret's name is the additional authenticated
-- data, so a ciphertext cannot be moved to another name. Secrets are
-- app-wide: every function can read every secret (any token that may deploy
-- may deploy code that reads any secret, so per-function scoping would not
-- protect anything).

CREATE TABLE secrets (
    name       text        PRIMARY KEY CHECK (name <> ''),
    nonce      bytea       NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
