-- Functions and their immutable versions. A function's name is its primary
-- key: other tables (triggers, schedules) reference functions(name) with
-- ON DELETE CASCADE. current_version points at one row of
-- function_versions; the circular reference is checked at commit.

CREATE TABLE functions (
    name            text        PRIMARY KEY,
    private         boolean     NOT NULL DEFAULT false,
    max_attempts    integer     NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    current_version integer     NOT NULL CHECK (current_version > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE function_versions (
    function   text        NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    version    integer     NOT NULL CHECK (version > 0),
    source     text        NOT NULL,
    sha256     text        NOT NULL,
    limits     jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL DEFAULT '',
    PRIMARY KEY (function, version)
);

ALTER TABLE functions
    ADD CONSTRAINT functions_current_version_fkey
    FOREIGN KEY (name, current_version) REFERENCES function_versions (function, version)
    DEFERRABLE INITIALLY DEFERRED;

-- Versions are immutable: a deploy adds a row, it never changes one.
CREATE FUNCTION picloud_function_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'function_versions rows are immutable (% version %)', OLD.function, OLD.version
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER function_versions_immutable
    BEFORE UPDATE ON function_versions
    FOR EACH ROW EXECUTE FUNCTION picloud_function_versions_immutable();
