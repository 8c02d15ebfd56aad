-- The events package's tables: the event log (outbox), triggers, dead
-- letters, cron schedules and the ticks they fired. River's own tables
-- (river_job, river_leader, ...) are created by rivermigrate at start, not
-- here.

-- The event log. id is the position of the event in the log: inserts are
-- serialized with a transaction-level advisory lock (see store/events.go),
-- so ids become visible in increasing order and a reader that has seen id N
-- has seen every committed event below N. The SSE stream uses id as its
-- Last-Event-ID.
CREATE TABLE events (
    id           bigserial   PRIMARY KEY,
    topic        text        NOT NULL CHECK (topic <> ''),
    payload      jsonb       NOT NULL,
    source       text        NOT NULL DEFAULT '',
    published_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_topic_id_idx ON events (topic, id);
CREATE INDEX events_published_at_idx ON events (published_at);

-- A trigger subscribes a function to a topic (kind 'topic') or to dead
-- letters (kind 'dead_letters', topic '').
CREATE TABLE triggers (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    function   text        NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('topic', 'dead_letters')),
    topic      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'topic') = (topic <> '')),
    UNIQUE (function, kind, topic)
);

CREATE INDEX triggers_kind_topic_idx ON triggers (kind, topic);

-- A delivery that failed on its last attempt. The event is copied (the
-- event log is pruned); attempts is a JSON array of
-- {"attempt": n, "at": time, "error": text}.
CREATE TABLE dead_letters (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    function     text        NOT NULL,
    trigger      text        NOT NULL,
    event_id     bigint      NOT NULL DEFAULT 0,
    topic        text        NOT NULL DEFAULT '',
    payload      jsonb       NOT NULL DEFAULT 'null',
    published_at timestamptz NOT NULL DEFAULT now(),
    attempts     jsonb       NOT NULL DEFAULT '[]',
    retries      integer     NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dead_letters_function_idx ON dead_letters (function, id);

-- Cron schedules. expr is a robfig/cron/v3 expression (5 fields or a
-- descriptor), tz an IANA zone name.
CREATE TABLE schedules (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    function     text        NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    expr         text        NOT NULL,
    tz           text        NOT NULL DEFAULT 'UTC',
    payload      jsonb,
    enabled      boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per fired tick: the primary key makes each tick fire once across
-- every node and every restart.
CREATE TABLE schedule_ticks (
    schedule_id bigint      NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    tick_at     timestamptz NOT NULL,
    node        text        NOT NULL DEFAULT '',
    fired_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, tick_at)
);

CREATE INDEX schedule_ticks_fired_at_idx ON schedule_ticks (fired_at);

-- Any change of schedules wakes every node's scheduler.
CREATE FUNCTION picloud_schedules_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('picloud_schedules', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER schedules_notify
    AFTER INSERT OR UPDATE OR DELETE ON schedules
    FOR EACH STATEMENT EXECUTE FUNCTION picloud_schedules_notify();
