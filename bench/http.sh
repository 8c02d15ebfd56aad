#!/usr/bin/env bash
# bench/http.sh — `make bench-http`: PiCloud's /fn/hello against a bare Go
# net/http handler returning the same body, with wrk, at concurrency 1, 16
# and 64. Starts the local PostgreSQL, a fresh database, `picloud serve`
# and bench/baseline on 127.0.0.1, prints a markdown table and stops what it
# started, by PID.
# Environment: BENCH_DURATION (default 10s), BENCH_CONCURRENCY ("1 16 64").
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
duration=${BENCH_DURATION:-10s}
concurrency=${BENCH_CONCURRENCY:-1 16 64}
work=$(mktemp -d /tmp/picloud-bench.XXXXXX)
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

make -s build >/dev/null
go build -o "$work/baseline" ./bench/baseline

pgurl=$(scripts/pg.sh start)
dbname=picloud_bench_$$
psql "$pgurl" -qAt -c "CREATE DATABASE $dbname" >/dev/null
dburl=${pgurl/\/picloud\?/\/$dbname?}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
pc_port=$(free_port)
base_port=$(free_port)

DATABASE_URL=$dburl bin/picloud serve --listen "127.0.0.1:$pc_port" --data-dir "$work/data" --log-level warn \
	>"$work/serve.log" 2>&1 &
pids+=($!)
"$work/baseline" --listen "127.0.0.1:$base_port" >"$work/baseline.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
	curl -fsS -o /dev/null "http://127.0.0.1:$pc_port/readyz" 2>/dev/null && break
	sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$pc_port/readyz" || { cat "$work/serve.log" >&2; exit 1; }

token=$(cat "$work/data/admin.token")
src=$(python3 -c 'import json,sys; print(json.dumps({"name":"hello","source":open("examples/hello.lua").read()}))')
curl -fsS -o /dev/null -H "Authorization: Bearer $token" -d "$src" "http://127.0.0.1:$pc_port/api/v1/functions"

pc_url="http://127.0.0.1:$pc_port/fn/hello"
base_url="http://127.0.0.1:$base_port/"
# Same body from both.
a=$(curl -fsS "$pc_url"); b=$(curl -fsS "$base_url")
[ "$a" = "$b" ] || { echo "bench: bodies differ: $a vs $b" >&2; exit 1; }

# Warm up both (worker started, caches filled).
wrk -t1 -c4 -d2s "$pc_url" >/dev/null
wrk -t1 -c4 -d2s "$base_url" >/dev/null

# run URL CONNS → "req/s p50 p99" (latencies in µs)
run() {
	local threads=2
	[ "$2" -lt 2 ] && threads=1
	wrk -t"$threads" -c"$2" -d"$duration" --latency "$1" | awk '
		function us(v) {
			if (v ~ /us$/) { sub(/us$/, "", v); return v + 0 }
			if (v ~ /ms$/) { sub(/ms$/, "", v); return v * 1000 }
			if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000000 }
			return v
		}
		$1 == "50%" { p50 = us($2) }
		$1 == "99%" { p99 = us($2) }
		$1 == "Requests/sec:" { rps = $2 }
		/Non-2xx/ { non2xx = $NF }
		END { printf "%.0f %.0f %.0f %d\n", rps, p50, p99, non2xx }'
}

echo
echo "| concurrency | bare Go req/s | bare p50 | bare p99 | PiCloud req/s | PiCloud p50 | PiCloud p99 | ratio | non-2xx |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $concurrency; do
	read -r brps bp50 bp99 _ < <(run "$base_url" "$c")
	read -r prps pp50 pp99 pbad < <(run "$pc_url" "$c")
	ratio=$(awk -v a="$prps" -v b="$brps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	printf "| %d | %s | %s µs | %s µs | %s | %s µs | %s µs | %s× | %s |\n" \
		"$c" "$brps" "$bp50" "$bp99" "$prps" "$pp50" "$pp99" "$ratio" "$pbad"
done
# Explain non-2xx answers, if any: the failed invocation records.
sleep 1
failed=$(curl -fsS -H "Authorization: Bearer $token" \
	"http://127.0.0.1:$pc_port/api/v1/invocations?function=hello&status=failed&limit=20" |
	python3 -c 'import json,sys; l=json.load(sys.stdin)["invocations"]; print("\n".join("  %s %s" % (i.get("http_status"), i.get("error")) for i in l))')
if [ -n "$failed" ]; then
	echo
	echo "failed invocations of hello (newest first, at most 20):"
	echo "$failed"
	grep -E "WARN|ERROR" "$work/serve.log" | tail -5 || true
fi
echo
echo "wrk ${duration} per cell, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
