#!/usr/bin/env bash
# bench/soak.sh [DURATION] — `make soak`: builds PiCloud, starts the local
# PostgreSQL, runs `picloud serve` on a fresh database on 127.0.0.1, runs
# bench/soak against it for DURATION (default 30m), prints its figures,
# and stops the server by its PID. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30m}
port=${SOAK_PORT:-18181}
export PATH=/usr/local/go/bin:$PATH

make --no-print-directory build >/dev/null
url=$(scripts/pg.sh start)
db="soak_$$"
psql "$url" -qc "CREATE DATABASE $db" >/dev/null
dburl=${url/\/picloud\?//$db?}
tmp=$(mktemp -d /tmp/picloud-soak.XXXXXX)
go build -o "$tmp/soak" ./bench/soak

DATABASE_URL=$dburl bin/picloud serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" --log-level warn >"$tmp/serve.log" 2>&1 &
pid=$!
cleanup() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	psql "$url" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
	echo "soak: serve log kept in $tmp/serve.log"
}
trap cleanup EXIT
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
	sleep 0.2
done
echo "soak: picloud serve PID $pid on 127.0.0.1:$port"
"$tmp/soak" -url "http://127.0.0.1:$port" -token "$(cat "$tmp/data/admin.token")" -duration "$duration"
