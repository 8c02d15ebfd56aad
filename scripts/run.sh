#!/usr/bin/env bash
# scripts/run.sh [start|stop|status] — `make run`: bring PiCloud up on
# 127.0.0.1:8080 with the local PostgreSQL (scripts/pg.sh) and the example
# function `hello` deployed; `stop` stops it. The server runs in the
# background: PID in .picloud/serve.pid, log in .picloud/serve.log.
# Environment: PICLOUD_LISTEN (default 127.0.0.1:8080), PICLOUD_UI_LISTEN
# (the dashboard, default 127.0.0.1:8081; empty turns it off).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
state=$here/.picloud
pidfile=$state/serve.pid
logfile=$state/serve.log
listen=${PICLOUD_LISTEN:-127.0.0.1:8080}
ui_listen=${PICLOUD_UI_LISTEN-127.0.0.1:8081}
base="http://$listen"

log() { echo "run.sh: $*" >&2; }

running_pid() {
	[ -f "$pidfile" ] || return 1
	local pid; pid=$(cat "$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Only our server: the PID may have been reused.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "picloud serve" || return 1
	echo "$pid"
}

ready() { curl -fsS -o /dev/null --max-time 2 "$base/readyz" 2>/dev/null; }

# need_curl installs curl (readiness checks, and the README's first call)
# when it is missing and we are root; a fresh Debian may not have it.
need_curl() {
	command -v curl >/dev/null && return 0
	if [ "$(id -u)" = 0 ]; then
		log "installing curl with apt-get (one time)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }
	else
		log "curl is missing: sudo apt-get install curl"
		exit 1
	fi
}

start() {
	mkdir -p "$state"
	need_curl
	local url; url=$(scripts/pg.sh start)
	log "building bin/picloud"
	make -s build >/dev/null
	local pid
	if pid=$(running_pid); then
		log "PiCloud is already running (PID $pid)"
	else
		log "starting picloud serve on $listen (log: $logfile)"
		DATABASE_URL=$url PICLOUD_DATA_DIR=$state PICLOUD_LISTEN=$listen PICLOUD_UI_LISTEN=$ui_listen \
			nohup bin/picloud serve >>"$logfile" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$pidfile"
	fi
	local i
	for i in $(seq 1 120); do
		ready && break
		if ! kill -0 "$pid" 2>/dev/null; then
			log "picloud serve exited; the end of its log:"
			tail -n 20 "$logfile" >&2
			rm -f "$pidfile"
			exit 1
		fi
		sleep 0.5
	done
	ready || { log "PiCloud did not become ready in 60s; see $logfile"; exit 1; }
	PICLOUD_URL=$base PICLOUD_DATA_DIR=$state bin/picloud deploy examples/hello.lua --name hello >/dev/null
	cat <<MSG

PiCloud is running at $base (PID $pid, log $logfile).
The admin token is in $state/admin.token.
${ui_listen:+The dashboard is at http://$ui_listen/ (sign in with the admin token).}

Try:
  curl $base/fn/hello

Deploy your own:
  export PICLOUD_URL=$base PICLOUD_DATA_DIR=$state
  bin/picloud deploy examples/echo.lua
  bin/picloud ls
Stop everything with: make stop
MSG
}

stop() {
	local pid
	if ! pid=$(running_pid); then
		rm -f "$pidfile"
		log "PiCloud is not running"
		return 0
	fi
	kill -TERM "$pid"
	local i
	for i in $(seq 1 80); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "PiCloud (PID $pid) did not stop in 40s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	log "PiCloud stopped"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) if pid=$(running_pid); then echo "running: PID $pid at $base"; else echo "stopped"; exit 3; fi ;;
*) echo "usage: scripts/run.sh [start|stop|status]" >&2; exit 2 ;;
esac
