-- bench/blobs/storage.sql: chunked bytea rows vs a large object, 128 MiB
-- written 1 MiB at a time, then read back. psql "$(scripts/pg.sh url)" -q -f bench/blobs/storage.sql
-- (temporary table; the large object is unlinked at the end). BENCHMARKS.md has the figures.
CREATE TEMP TABLE r AS SELECT decode(string_agg(md5(random()::text), ''), 'hex') AS b FROM generate_series(1,65536);
CREATE TEMP TABLE c (seq int, data bytea);
ALTER TABLE c ALTER data SET STORAGE EXTERNAL;
SELECT lo_create(0) AS oid \gset
\timing on
-- write: chunked bytea
INSERT INTO c SELECT g, (SELECT b FROM r) FROM generate_series(1,128) g;
-- write: large object
SELECT count(lo_put(:oid, (g-1)::bigint * 1048576, (SELECT b FROM r))) FROM generate_series(1,128) g;
-- read: chunked bytea (md5 forces the detoasting)
SELECT count(DISTINCT md5(data)) FROM c;
-- read: large object
SELECT count(DISTINCT md5(lo_get(:oid, (g-1)::bigint * 1048576, 1048576))) FROM generate_series(1,128) g;
\timing off
SELECT pg_total_relation_size('c') AS chunk_bytes, (SELECT pg_total_relation_size('pg_largeobject')) AS lo_bytes;
SELECT lo_unlink(:oid);
