-- The dashboard (issue 10).
--
-- A live tail of invocations: every statement that writes invocation
-- records (COPY of the batched writer, the upsert of async invocations,
-- the updates of deliveries) notifies picloud_invocations once, with the
-- functions it wrote, one per line ("*" when the list would not fit a
-- notification). A node's one LISTEN connection hears it and wakes the
-- dashboard streams tailing those functions; nothing runs per row.
CREATE FUNCTION picloud_invocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fns text;
BEGIN
    SELECT string_agg(DISTINCT function, E'\n') INTO fns FROM written;
    IF fns IS NULL THEN
        RETURN NULL;
    END IF;
    IF octet_length(fns) > 7000 THEN
        fns := '*';
    END IF;
    PERFORM pg_notify('picloud_invocations', fns);
    RETURN NULL;
END
$$;

CREATE TRIGGER invocations_notify_insert AFTER INSERT ON invocations
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION picloud_invocations_notify();
CREATE TRIGGER invocations_notify_update AFTER UPDATE ON invocations
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION picloud_invocations_notify();

-- A schedule's last runs: a function's newest cron invocations without
-- walking its other calls.
CREATE INDEX invocations_cron_idx ON invocations (function, id DESC) WHERE trigger = 'cron';
