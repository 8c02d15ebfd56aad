#!/usr/bin/env bash
# bench/blobs.sh — `make bench-blobs`: how much `picloud serve` grows while
# it streams a large blob in and out (goal: at most 32 MiB). Starts the
# local PostgreSQL, a fresh database and `picloud serve` on 127.0.0.1, runs
# bench/blobs (upload then download of BENCH_BLOB_SIZE bytes, default
# 500 MiB, sampling /proc/PID/status), and stops what it started, by PID.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
size=${BENCH_BLOB_SIZE:-524288000}
work=$(mktemp -d /tmp/picloud-bench-blobs.XXXXXX)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"

make -s build >/dev/null
go build -o "$work/blobs" ./bench/blobs

pgurl=$(scripts/pg.sh start)
dbname=picloud_bench_blobs_$$
psql "$pgurl" -qAt -c "CREATE DATABASE $dbname" >/dev/null
dburl=${pgurl/\/picloud\?/\/$dbname?}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

DATABASE_URL=$dburl bin/picloud serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn \
	--blob-max-size 2GiB >"$work/serve.log" 2>&1 &
serve=$!
pids+=($serve)
for _ in $(seq 1 120); do
	curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
	sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || { cat "$work/serve.log" >&2; exit 1; }

echo "load: $(uptime)"
"$work/blobs" -url "http://127.0.0.1:$port" -token "$(cat "$work/data/admin.token")" -pid "$serve" -size "$size"
