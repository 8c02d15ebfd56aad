-- Key-value data, one namespace per function. Keys use the "C" collation so
-- the primary key's btree serves prefix scans (kv.list) and orders keys
-- bytewise. Rows past expires_at are invisible and pruned lazily.

CREATE TABLE kv (
    function   text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    value      jsonb            NOT NULL,
    expires_at timestamptz,
    updated_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (function, key)
);

CREATE INDEX kv_expires_at_idx ON kv (expires_at) WHERE expires_at IS NOT NULL;
