-- Blobs: byte strings in buckets, stored as chunks of bytea rows.
--
-- An upload writes its chunks under a fresh chunk set id, each chunk in
-- its own statement, while blob_chunksets holds a row for the set; only
-- the final commit (one transaction) points blobs at the set and deletes
-- its blob_chunksets row. An interrupted upload (client gone, server
-- killed) so leaves no visible blob, only a set that the sweeper deletes
-- once its touched_at is older than the grace period. A replaced or
-- deleted blob's set goes back into blob_chunksets (touched_at = now), so
-- a download still reading it has the grace period to finish.
CREATE TABLE blob_chunksets (
    id         bigint      PRIMARY KEY,
    bucket     text        NOT NULL,
    key        text        NOT NULL,
    touched_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_chunksets_touched ON blob_chunksets (touched_at);

CREATE SEQUENCE blob_chunkset_ids;

CREATE TABLE blob_chunks (
    chunkset bigint  NOT NULL,
    seq      integer NOT NULL,
    data     bytea   NOT NULL,
    PRIMARY KEY (chunkset, seq)
);
-- Out of line and uncompressed: most blobs are compressed already, and a
-- Pi should not spend its CPU on pglz.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE blobs (
    bucket       text        COLLATE "C" NOT NULL,
    key          text        COLLATE "C" NOT NULL,
    chunkset     bigint      NOT NULL,
    chunk_size   integer     NOT NULL CHECK (chunk_size > 0),
    size         bigint      NOT NULL CHECK (size >= 0),
    content_type text        NOT NULL,
    etag         text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, key)
);

-- Buckets other than its own that a function version may use: entries
-- "bucket:r" or "bucket:rw" (picloud deploy --blobs photos:rw,public:r).
-- A version deployed before this migration has none (its own bucket only).
ALTER TABLE function_versions ADD COLUMN blobs text[] NOT NULL DEFAULT '{}';
