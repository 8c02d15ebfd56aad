-- One row per invocation, written in batches off the request path. The id
-- is a UUIDv7, so ids sort by creation time and serve as pagination cursors.
-- function is not a foreign key: the history of a deleted function stays
-- until retention prunes it.

CREATE TABLE invocations (
    id               uuid        PRIMARY KEY,
    function         text        NOT NULL,
    version          integer     NOT NULL DEFAULT 0,
    trigger          text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    method           text        NOT NULL DEFAULT '',
    path             text        NOT NULL DEFAULT '',
    http_status      integer     NOT NULL DEFAULT 0,
    error            text        NOT NULL DEFAULT '',
    logs             jsonb       NOT NULL DEFAULT '[]',
    logs_dropped     integer     NOT NULL DEFAULT 0,
    result           bytea,
    result_truncated boolean     NOT NULL DEFAULT false,
    started_at       timestamptz,
    duration_us      bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX invocations_function_id_idx ON invocations (function, id DESC);
CREATE INDEX invocations_status_id_idx ON invocations (status, id DESC);
CREATE INDEX invocations_created_at_idx ON invocations (created_at);
