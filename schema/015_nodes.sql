-- The node registry of a cluster: every `picloud serve` upserts its row
-- every heartbeat interval. A node whose heartbeat is older than its own
-- lease is dead: the first surviving node to see it deletes the row and
-- re-queues the jobs the dead node was running (store/nodes.go,
-- store/river.go). pool is the node's worker pool status as the API shows
-- it (GET /api/v1/workers), so a control node can show every node's
-- workers.
CREATE TABLE nodes (
    id           text             PRIMARY KEY CHECK (id <> ''),
    address      text             NOT NULL,
    roles        text[]           NOT NULL,
    version      text             NOT NULL,
    started_at   timestamptz      NOT NULL,
    heartbeat_at timestamptz      NOT NULL DEFAULT now(),
    lease        interval         NOT NULL CHECK (lease > interval '0'),
    workers      integer          NOT NULL DEFAULT 0,
    in_flight    integer          NOT NULL DEFAULT 0,
    load         double precision NOT NULL DEFAULT 0,
    pool         jsonb            NOT NULL DEFAULT '{}'
);
