-- Per-function, per-minute aggregates of finished runs, kept for every run
-- whatever the record policy (picloud serve --record-calls): calls, errors,
-- the sum of durations and a histogram of durations, from which the
-- dashboard computes p50/p99. Written in batches by the invocation writer;
-- each write adds to the row of its minute. buckets[i] counts runs whose
-- duration falls in bucket i of store.DurationBucketBounds (fixed,
-- exponential; the last counts everything beyond).

CREATE TABLE invocation_minutes (
    function        text        NOT NULL,
    minute          timestamptz NOT NULL,
    calls           bigint      NOT NULL DEFAULT 0,
    errors          bigint      NOT NULL DEFAULT 0,
    duration_us_sum bigint      NOT NULL DEFAULT 0,
    buckets         bigint[]    NOT NULL,
    PRIMARY KEY (function, minute)
);

CREATE INDEX invocation_minutes_minute_idx ON invocation_minutes (minute);
