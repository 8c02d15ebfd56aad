#!/usr/bin/env bash
# scripts/pg.sh start|stop|status|url|psql [ARGS] — a throwaway local PostgreSQL for
# `make run` and `make test`. Data lives under $PICLOUD_PG_DIR (default
# .picloud/pg). Idempotent: start on a running server only prints its URL.
# Installs Debian's postgresql packages with apt-get when absent and root.
# As root, the server runs as the `postgres` user.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
PGDIR=${PICLOUD_PG_DIR:-$here/.picloud/pg}
PGPORT=${PICLOUD_PG_PORT:-54329}
PGUSER_DB=picloud
url="postgres://$PGUSER_DB@127.0.0.1:$PGPORT/picloud?sslmode=disable"

log() { echo "pg.sh: $*" >&2; }

pgbin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

ensure_installed() {
	if pgbin >/dev/null; then return 0; fi
	if [ "$(id -u)" != 0 ]; then
		log "PostgreSQL is not installed: run 'sudo apt-get install postgresql' and try again"
		exit 1
	fi
	log "installing PostgreSQL with apt-get (one time)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq postgresql postgresql-contrib >/dev/null
	# Debian starts a system cluster on install; ours is separate, stop theirs.
	command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r v c _; do
		pg_ctlcluster "$v" "$c" stop 2>/dev/null || true
	done
	pgbin >/dev/null || { log "postgresql installed but initdb not found"; exit 1; }
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

is_running() {
	local bin; bin=$(pgbin) || return 1
	[ -f "$PGDIR/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1
}

start() {
	ensure_installed
	local bin; bin=$(pgbin)
	if is_running; then echo "$url"; return 0; fi
	mkdir -p "$PGDIR"
	if [ "$(id -u)" = 0 ]; then
		# postgres must be able to reach the directory.
		local d=$PGDIR
		while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
		chown postgres:postgres "$PGDIR"
	fi
	if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
		log "initialising a cluster in $PGDIR/data"
		as_owner "$bin/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGDIR/initdb.log" 2>&1 \
			|| { cat "$PGDIR/initdb.log" >&2; exit 1; }
		cat >>"$PGDIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDIR'
max_connections = 300
shared_preload_libraries = 'pg_stat_statements'
fsync = off
synchronous_commit = off
full_page_writes = off
# Dynamic shared memory in files under the data directory, not /dev/shm:
# something that cleans /dev/shm (seen on a shared development machine)
# then cannot break the running server.
dynamic_shared_memory_type = mmap
CONF
	fi
	if ! grep -q '^dynamic_shared_memory_type = mmap' "$PGDIR/data/postgresql.conf"; then
		echo 'dynamic_shared_memory_type = mmap' >>"$PGDIR/data/postgresql.conf"
	fi
	as_owner "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null \
		|| { tail -20 "$PGDIR/server.log" >&2; exit 1; }
	as_owner "$bin/psql" -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE $PGUSER_DB LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PGUSER_DB')\gexec
SELECT 'CREATE DATABASE picloud OWNER $PGUSER_DB' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'picloud')\gexec
SQL
	as_owner "$bin/psql" -h "$PGDIR" -p "$PGPORT" -U postgres -d picloud -qAt -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
	log "PostgreSQL is up on 127.0.0.1:$PGPORT (data in $PGDIR)"
	echo "$url"
}

stop() {
	local bin; bin=$(pgbin) || return 0
	if is_running; then
		as_owner "$bin/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null
		log "PostgreSQL stopped"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if is_running; then echo "running: $url"; else echo "stopped"; exit 3; fi ;;
url) echo "$url" ;;
psql) shift; bin=$(pgbin) || { log "PostgreSQL is not installed"; exit 1; }; exec "$bin/psql" "$url" "$@" ;;
*) echo "usage: scripts/pg.sh start|stop|status|url|psql [ARGS]" >&2; exit 2 ;;
esac
