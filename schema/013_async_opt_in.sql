-- Asynchronous calls of a public function are opt-in (allow_async, set at
-- deploy), and the async calls waiting for a function are bounded in count
-- and bytes: request_bytes is the size of a queued call's request, and the
-- partial index finds a function's pending calls without scanning its
-- history.
ALTER TABLE functions ADD COLUMN allow_async boolean NOT NULL DEFAULT false;

ALTER TABLE invocations ADD COLUMN request_bytes bigint NOT NULL DEFAULT 0;

CREATE INDEX invocations_pending_idx ON invocations (function)
    WHERE status IN ('queued', 'running');
