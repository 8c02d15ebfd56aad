#!/usr/bin/env bash
# bench/peers/peers.sh — `make bench-peers`: PiCloud's warm /fn/hello side by
# side with its peers, all answering {"hello":"world"} as application/json on
# 127.0.0.1:
#   bare Go      bench/baseline (net/http, one handler)
#   nginx+Lua    nginx with Debian's libnginx-mod-http-lua (content_by_lua)
#   nginx+PHP    nginx → PHP-FPM over a unix socket (pool: ondemand, 4 children)
#   PiCloud      picloud serve, examples/hello.lua deployed
# It installs nginx, libnginx-mod-http-lua, php-fpm and wrk from Debian if
# missing, runs wrk at each concurrency for each peer in turn, repeats
# BENCH_ROUNDS rounds, prints the median of each cell with ratios vs
# nginx+PHP and vs bare Go, plus PiCloud's CPU per request (serve, workers,
# PostgreSQL, from /proc), and stops everything it started, by PID.
# Environment: BENCH_DURATION (5s), BENCH_CONCURRENCY ("1 16 64"),
# BENCH_ROUNDS (3), BENCH_PEERS ("php lua go picloud"), BENCH_SERVE_FLAGS
# (extra flags for picloud serve, e.g. "--record-calls all").
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
duration=${BENCH_DURATION:-5s}
concurrency=${BENCH_CONCURRENCY:-1 16 64}
rounds=${BENCH_ROUNDS:-3}
peers=${BENCH_PEERS:-php lua go picloud}
serve_flags=${BENCH_SERVE_FLAGS:-}
work=$(mktemp -d /tmp/picloud-peers.XXXXXX)
chmod 755 "$work"
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"

# --- install what is missing (Debian packages; services are not started) ---
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
phpfpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | head -1 || true)
[ -n "$phpfpm" ] || need+=(php-fpm)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench-peers: installing ${need[*]} from Debian" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
	phpfpm=$(ls /usr/sbin/php-fpm* | head -1)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # URL
	for _ in $(seq 1 120); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	echo "bench-peers: $1 never answered" >&2
	return 1
}
declare -A url

# --- bare Go ---
if [[ " $peers " == *" go "* ]]; then
	go build -o "$work/baseline" ./bench/baseline
	port=$(free_port)
	"$work/baseline" --listen "127.0.0.1:$port" >"$work/baseline.log" 2>&1 &
	pids+=($!)
	url[go]="http://127.0.0.1:$port/"
fi

# --- PHP-FPM (ondemand, 4 children) ---
if [[ " $peers " == *" php "* ]]; then
	mkdir -p "$work/php"
	cat >"$work/php/hello.php" <<'PHP'
<?php
header('Content-Type: application/json');
echo json_encode(['hello' => 'world']);
PHP
	cat >"$work/php/fpm.conf" <<CONF
[global]
pid = $work/php/fpm.pid
error_log = $work/php/fpm.log
daemonize = no
[hello]
user = www-data
group = www-data
listen = $work/php/fpm.sock
listen.mode = 0666
pm = ondemand
pm.max_children = 4
pm.process_idle_timeout = 10s
; Debian's php.ini and conf.d apply (opcache on), as in a stock install.
CONF
	"$phpfpm" -y "$work/php/fpm.conf" -F >"$work/php/stdout.log" 2>&1 &
	pids+=($!)
fi

# --- nginx: one master, a server for Lua and one for PHP ---
if [[ " $peers " == *" php "* || " $peers " == *" lua "* ]]; then
	lua_port=$(free_port)
	php_port=$(free_port)
	mkdir -p "$work/nginx/logs"
	cat >"$work/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	fastcgi_temp_path $work/nginx/fastcgi;
	proxy_temp_path $work/nginx/proxy;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$lua_port;
		location / {
			default_type application/json;
			content_by_lua_block { ngx.print('{"hello":"world"}') }
		}
	}
	server {
		listen 127.0.0.1:$php_port;
		location / {
			include /etc/nginx/fastcgi_params;
			fastcgi_param SCRIPT_FILENAME $work/php/hello.php;
			fastcgi_pass unix:$work/php/fpm.sock;
		}
	}
}
CONF
	nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >"$work/nginx/stdout.log" 2>&1 &
	pids+=($!)
	url[lua]="http://127.0.0.1:$lua_port/"
	url[php]="http://127.0.0.1:$php_port/"
fi

# --- PiCloud ---
if [[ " $peers " == *" picloud "* ]]; then
	make -s build >/dev/null
	pgurl=$(scripts/pg.sh start)
	dbname=picloud_peers_$$
	psql "$pgurl" -qAt -c "CREATE DATABASE $dbname" >/dev/null
	dburl=${pgurl/\/picloud\?/\/$dbname?}
	pc_port=$(free_port)
	# shellcheck disable=SC2086
	DATABASE_URL=$dburl bin/picloud serve --listen "127.0.0.1:$pc_port" --data-dir "$work/data" \
		--log-level warn $serve_flags >"$work/serve.log" 2>&1 &
	serve_pid=$!
	pids+=($serve_pid)
	wait_http "http://127.0.0.1:$pc_port/readyz" || { cat "$work/serve.log" >&2; exit 1; }
	token=$(cat "$work/data/admin.token")
	src=$(python3 -c 'import json; print(json.dumps({"name":"hello","source":open("examples/hello.lua").read()}))')
	curl -fsS -o /dev/null -H "Authorization: Bearer $token" -d "$src" "http://127.0.0.1:$pc_port/api/v1/functions"
	url[picloud]="http://127.0.0.1:$pc_port/fn/hello"
	pg_pid=$(head -1 "${PICLOUD_PG_DIR:-$here/.picloud/pg}/data/postmaster.pid")
fi

# Same body everywhere, then warm each up.
want='{"hello":"world"}'
for p in $peers; do
	wait_http "${url[$p]}"
	got=$(curl -fsS "${url[$p]}")
	[ "$got" = "$want" ] || { echo "bench-peers: $p answered $got, want $want" >&2; exit 1; }
	wrk -t1 -c4 -d2s "${url[$p]}" >/dev/null
done

# ticks PID... → CPU ticks of the processes and all their descendants, live
# or reaped (a process's own utime+stime, plus cutime+cstime: its waited-for
# children's), so that a worker or backend ending mid-cell is still counted.
ticks() {
	python3 - "$@" <<'PY'
import os, sys
kids = {}
for d in os.listdir('/proc'):
    if d.isdigit():
        try:
            s = open('/proc/%s/stat' % d).read()
        except OSError:
            continue
        f = s[s.rindex(')') + 2:].split()
        kids.setdefault(int(f[1]), []).append((int(d), sum(int(x) for x in f[11:15])))
own = {}
for d in sys.argv[1:]:
    try:
        s = open('/proc/%s/stat' % d).read()
        f = s[s.rindex(')') + 2:].split()
        own[int(d)] = sum(int(x) for x in f[11:15])
    except (OSError, ValueError):
        pass
total, todo = sum(own.values()), list(own)
while todo:
    for pid, t in kids.get(todo.pop(), []):
        total += t
        todo.append(pid)
print(total)
PY
}
hz=$(getconf CLK_TCK)

# run URL CONNS → "req/s p50 p99 non2xx" (latencies in µs)
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

results=$work/results
: >"$results"
echo "bench-peers: $rounds rounds × concurrency ($concurrency) × peers ($peers), wrk $duration per cell; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$rounds"); do
	for c in $concurrency; do
		for p in $peers; do
			if [ "$p" = picloud ]; then
				s0=$(ticks "$serve_pid"); g0=$(ticks "$pg_pid")
			fi
			read -r rps p50 p99 bad < <(run "${url[$p]}" "$c")
			cpu="- - -"
			if [ "$p" = picloud ]; then
				s1=$(ticks "$serve_pid"); g1=$(ticks "$pg_pid")
				# serve+workers µs/req, PostgreSQL µs/req, PostgreSQL share of the PiCloud side
				n=$(awk -v r="$rps" -v d="${duration%s}" 'BEGIN { print r * d }')
				cpu=$(awk -v s="$((s1 - s0))" -v g="$((g1 - g0))" -v n="$n" -v hz="$hz" 'BEGIN {
					if (n <= 0) { print "- - -"; exit }
					printf "%.0f %.0f %.0f", s * 1e6 / hz / n, g * 1e6 / hz / n, (s + g > 0 ? 100 * g / (s + g) : 0) }')
			fi
			echo "$r $c $p $rps $p50 $p99 $bad $cpu" >>"$results"
			echo "  round $r c=$c $p: $rps req/s p50 ${p50}µs p99 ${p99}µs non-2xx $bad cpu $cpu" >&2
		done
	done
done

python3 - "$results" "$concurrency" "$peers" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
conc = sys.argv[2].split()
peers = sys.argv[3].split()
names = {"go": "bare Go", "lua": "nginx+Lua", "php": "nginx+PHP-FPM", "picloud": "PiCloud"}
def med(c, p, i):
    v = [float(r[i]) for r in rows if r[1] == c and r[2] == p and r[i] != "-"]
    return statistics.median(v) if v else None
print()
print("| c | peer | req/s | p50 | p99 | vs nginx+PHP-FPM | vs bare Go | non-2xx | PiCloud CPU µs/req: serve+worker / PostgreSQL (PG share) |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
for c in conc:
    php, go = med(c, "php", 3), med(c, "go", 3)
    for p in peers:
        rps = med(c, p, 3)
        ratio = lambda ref: ("%.2f×" % (rps / ref)) if ref else "-"
        bad = int(sum(float(r[6]) for r in rows if r[1] == c and r[2] == p))
        cpu = ""
        if p == "picloud":
            s, g, sh = med(c, p, 7), med(c, p, 8), med(c, p, 9)
            if s is not None:
                cpu = "%.0f / %.0f (%.0f %%)" % (s, g, sh)
        print("| %s | %s | %.0f | %.0f µs | %.0f µs | %s | %s | %d | %s |" % (
            c, names[p], rps, med(c, p, 4), med(c, p, 5), ratio(php), ratio(go), bad, cpu))
PY
echo
echo "medians of $rounds rounds, wrk ${duration} per cell, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
