#!/usr/bin/env bash
# scripts/test-deb.sh: install test of the amd64 .deb, run as root by
# `make test-deb` (CI). It builds the package, lints it, installs it with
# dpkg on this machine, checks what postinst made (files, modes, the picloud
# user, the PostgreSQL role and database), starts `picloud serve` exactly as
# picloud.service's ExecStart would (same user, environment file, working
# directory, umask, state and runtime directories and a NOTIFY_SOCKET that
# must receive READY=1 and STOPPING=1; no systemd is PID 1 here), puts a
# real Caddy in front with a configuration made from Caddyfile.example,
# deploys and calls a function through Caddy, reads the event stream
# through Caddy, stops everything by PID, then removes and purges the
# package and checks nothing of it is left.
#
# PostgreSQL: postinst works with the system cluster on /var/run/postgresql
# (peer authentication), so this test starts Debian's own cluster (creating
# it if needed) and stops it afterwards if it was down. scripts/pg.sh's
# cluster (port 54329) is not involved.
#
# This script is destructive by design: it purges an installed picloud
# package first and drops the picloud database of the system cluster at the
# end. Run it on a test machine or in CI. It cleans up after itself on
# failure too and can be re-run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
export PATH="/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export DEBIAN_FRONTEND=noninteractive

exec 3>&2 # for messages from inside wait_for's silenced polls
step() { echo "test-deb: $*" >&2; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
	step "skipped: needs root (dpkg -i, adduser, PostgreSQL's system cluster); CI runs it as root"
	exit 0
fi

tmp=$(mktemp -d /tmp/picloud-test-deb.XXXXXX)
chmod 0755 "$tmp" # the picloud user must reach the notify socket in here
serve_pid= caddy_pid= socat_pid= stream_pid= pg_started= pg_created= pg_ver=

cleanup() {
	local rc=$?
	set +e
	for pid in $stream_pid $caddy_pid $socat_pid; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	# serve drains on SIGTERM and its workers die with it (Pdeathsig).
	if [ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null; then
		for ((i = 0; i < 300; i++)); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$serve_pid" 2>/dev/null
		wait "$serve_pid" 2>/dev/null
	fi
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/serve.log "$tmp"/caddy.log; do
			[ -s "$f" ] && { echo "----- tail of $(basename "$f")"; tail -40 "$f"; } >&2
		done
	fi
	if dpkg-query -W -f='${Status}' picloud 2>/dev/null | grep -q 'installed\|config-files'; then
		dpkg --purge picloud >/dev/null 2>&1
	fi
	if [ -n "$pg_ver" ] && pg_running; then
		psql_pg -c 'DROP DATABASE IF EXISTS picloud' >/dev/null 2>&1
		psql_pg -c 'DROP ROLE IF EXISTS picloud' >/dev/null 2>&1
	fi
	if [ -n "$pg_created" ]; then
		pg_dropcluster --stop "$pg_ver" main >/dev/null 2>&1
	elif [ -n "$pg_started" ]; then
		pg_ctlcluster "$pg_ver" main stop >/dev/null 2>&1
	fi
	rm -rf "$tmp"
	if [ $rc -eq 0 ]; then step "PASS"; else step "FAILED (exit $rc)"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_pg() { (cd / && runuser -u postgres -- env PGOPTIONS='-c client_min_messages=warning' psql -X -q -At -v ON_ERROR_STOP=1 -h /var/run/postgresql -d postgres "$@"); }
pg_running() { ls /var/run/postgresql/.s.PGSQL.5432 >/dev/null 2>&1; }

free_port() {
	local p
	for p in $(seq "$1" "$(($1 + 500))"); do
		if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
	done
	return 1
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out after ${secs}s waiting for $what"
}

# check_stat PATH MODE OWNER:GROUP
check_stat() {
	local got
	got=$(stat -c '%a %U:%G' "$1" 2>/dev/null) || fail "$1 is missing"
	[ "$got" = "$2 $3" ] || fail "$1 is '$got', want '$2 $3'"
}

gone() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$1 is still there"; }

# --- tools --------------------------------------------------------------------
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v caddy >/dev/null || need+=(caddy)
command -v socat >/dev/null || need+=(socat)
command -v curl >/dev/null || need+=(curl)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	step "installing ${need[*]}"
	apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
# Debian's caddy package starts its own service only under systemd; make
# sure no caddy of ours is expected on :80.

# --- a leftover from an earlier run -------------------------------------------
if dpkg-query -W -f='${Status}' picloud 2>/dev/null | grep -q 'installed\|config-files'; then
	step "purging a picloud package left installed"
	dpkg --purge picloud >/dev/null
fi

# --- build and lint -----------------------------------------------------------
step "building the amd64 package"
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
deb_version=$(packaging/version.sh "$VERSION")
VERSION=$VERSION GO=$GO packaging/build-deb.sh amd64
deb=$root/dist/picloud_${deb_version}_amd64.deb
[ -f "$deb" ] || fail "$deb was not built"
step "package: $(basename "$deb"), $(du -h "$deb" | cut -f1)"

step "lintian $(basename "$deb")"
lintian_out=$(lintian --pedantic "$deb" 2>&1 | grep -v 'running with root privileges' || true)
[ -n "$lintian_out" ] && echo "$lintian_out" >&2
if grep -q '^E:' <<<"$lintian_out"; then fail "lintian reported errors"; fi
step "lintian: no errors ($(grep -c '^W:' <<<"$lintian_out" || true) warnings)"

# --- PostgreSQL's system cluster ----------------------------------------------
pg_ver=$(ls /usr/lib/postgresql/ | sort -V | tail -1)
[ -n "$pg_ver" ] || fail "PostgreSQL is not installed"
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$pg_ver main"; then
	step "creating PostgreSQL $pg_ver cluster main"
	pg_createcluster "$pg_ver" main >/dev/null
	pg_created=1
fi
if ! pg_running; then
	step "starting PostgreSQL $pg_ver/main on /var/run/postgresql"
	pg_ctlcluster "$pg_ver" main start
	pg_started=1
fi
wait_for "PostgreSQL's socket" 60 psql_pg -c 'SELECT 1'
psql_pg -c 'DROP DATABASE IF EXISTS picloud' >/dev/null
psql_pg -c 'DROP ROLE IF EXISTS picloud' >/dev/null

# --- install ------------------------------------------------------------------
step "dpkg -i"
dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log" >&2; fail "dpkg -i failed"; }
dpkg-query -W -f='${Status}\n' picloud | grep -qx 'install ok installed' || fail "picloud is not installed"

step "checking files, modes and owners"
check_stat /usr/bin/picloud 755 root:root
[ -e "$root/cmd/picloud-worker" ] && check_stat /usr/bin/picloud-worker 755 root:root
check_stat /lib/systemd/system/picloud.service 644 root:root
check_stat /etc/picloud/picloud.env 640 root:root
for f in copyright changelog.gz Caddyfile.example README.Debian; do
	check_stat "/usr/share/doc/picloud/$f" 644 root:root
done
check_stat /usr/share/man/man1/picloud.1.gz 644 root:root
dpkg-query -W -f='${Conffiles}\n' picloud | grep -q '^ /etc/picloud/picloud.env ' || fail "picloud.env is not a conffile"
/usr/bin/picloud version | grep -qF "$VERSION" || fail "picloud version does not say $VERSION: $(/usr/bin/picloud version)"

step "checking the picloud user and /var/lib/picloud"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd picloud) || fail "no picloud user"
[ "$uid" -lt 1000 ] || fail "picloud is not a system user (uid $uid)"
[ "$home" = /var/lib/picloud ] || fail "picloud's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "picloud's shell is $shell"
[ "$(getent group picloud | cut -d: -f3)" = "$gid" ] || fail "picloud's primary group is not picloud"
check_stat /var/lib/picloud 750 picloud:picloud
[ -L /etc/systemd/system/multi-user.target.wants/picloud.service ] || fail "picloud.service is not enabled"
IFS=: read -r _ _ wuid _ _ whome wshell < <(getent passwd picloud-worker) || fail "no picloud-worker user"
[ "$wuid" -lt 1000 ] || fail "picloud-worker is not a system user (uid $wuid)"
[ "$whome" = /nonexistent ] || fail "picloud-worker's home is $whome"
[ "$wshell" = /usr/sbin/nologin ] || fail "picloud-worker's shell is $wshell"
id -nG picloud | tr ' ' '\n' | grep -qx picloud-worker || fail "picloud is not in the picloud-worker group"
id -nG picloud-worker | tr ' ' '\n' | grep -qx picloud && fail "picloud-worker is in the picloud group"

step "checking the PostgreSQL role and database postinst made"
[ "$(psql_pg -c "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'picloud'")" = "t|f|f|f" ] ||
	fail "role picloud: want LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
[ "$(psql_pg -c "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'picloud'")" = picloud ] ||
	fail "database picloud is missing or not owned by picloud"
[ "$(psql_pg -c "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'picloud'")" = t ] ||
	fail "role picloud has a password"

step "re-running postinst (idempotent)"
DPKG_MAINTSCRIPT_PACKAGE=picloud DPKG_MAINTSCRIPT_NAME=postinst \
	/var/lib/dpkg/info/picloud.postinst configure "$deb_version" || fail "postinst configure failed on a configured system"
check_stat /var/lib/picloud 750 picloud:picloud

step "systemd-analyze verify on the installed unit"
verify=$(systemd-analyze verify --man=no /lib/systemd/system/picloud.service 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify printed: $verify"

# --- run it as the unit would -------------------------------------------------
listen=$(sed -n 's/^PICLOUD_LISTEN=//p' /etc/picloud/picloud.env)
env_override=()
if ss -Htln "sport = :${listen##*:}" | grep -q .; then
	listen=127.0.0.1:$(free_port 18080)
	env_override=(PICLOUD_LISTEN="$listen") # as a drop-in's Environment= would
	step "$(sed -n 's/^PICLOUD_LISTEN=//p' /etc/picloud/picloud.env) is busy here: serving on $listen"
fi

notify=$tmp/notify
socat -u "UNIX-RECV:$notify,mode=0777" "OPEN:$tmp/notify.log,creat,append" &
socat_pid=$!
wait_for "the notify socket" 10 test -S "$notify"

mapfile -t unit_env < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' /etc/picloud/picloud.env)
# systemd's RuntimeDirectory= and StateDirectory=.
install -d -m 0750 -o picloud -g picloud /run/picloud
step "starting picloud serve as the picloud user (ExecStart=/usr/bin/picloud serve)"
(
	cd /var/lib/picloud
	umask 0077
	exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin \
		HOME=/var/lib/picloud USER=picloud LOGNAME=picloud SHELL=/usr/sbin/nologin \
		STATE_DIRECTORY=/var/lib/picloud RUNTIME_DIRECTORY=/run/picloud \
		NOTIFY_SOCKET="$notify" "${unit_env[@]}" "${env_override[@]}" \
		setpriv --reuid=picloud --regid=picloud --init-groups --no-new-privs \
		--inh-caps=-all,+setuid,+setgid,+setpcap,+kill --ambient-caps=-all,+setuid,+setgid,+setpcap,+kill \
		--bounding-set=-all,+setuid,+setgid,+setpcap,+kill \
		/usr/bin/picloud serve
) >"$tmp/serve.log" 2>&1 &
serve_pid=$!
ready() { grep -q 'READY=1' "$tmp/notify.log" 2>/dev/null; }
for ((i = 0; i < 600; i++)); do
	ready && break
	kill -0 "$serve_pid" 2>/dev/null || { wait "$serve_pid" || true; serve_pid=; fail "picloud serve exited before READY=1"; }
	sleep 0.2
done
ready || fail "picloud serve sent no READY=1 within 120s (Type=notify would fail the start)"
step "READY=1 received"
curl -fsS "http://$listen/healthz" >/dev/null || fail "/healthz is not OK after READY=1"

check_stat /var/lib/picloud/admin.token 600 picloud:picloud
token=$(cat /var/lib/picloud/admin.token)

# --- Caddy in front -----------------------------------------------------------
cport=$(free_port 18480)
{
	cat <<CADDY
{
	admin off
	auto_https off
}

CADDY
	# The shared snippet of the example, pointed at this run's address.
	awk '/^\(picloud\) \{/,/^\}/' packaging/Caddyfile.example | sed "s/127\.0\.0\.1:8080/$listen/"
	cat <<CADDY

http://127.0.0.1:$cport {
	import picloud
}
CADDY
} >"$tmp/Caddyfile"
grep -q "reverse_proxy $listen" "$tmp/Caddyfile" || fail "could not derive a Caddyfile from the example"
step "starting caddy on 127.0.0.1:$cport"
HOME=$tmp XDG_DATA_HOME=$tmp/caddy-data XDG_CONFIG_HOME=$tmp/caddy-config \
	caddy run --adapter caddyfile --config "$tmp/Caddyfile" >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
base=http://127.0.0.1:$cport
caddy_up() { kill -0 "$caddy_pid" 2>/dev/null || { echo "test-deb: FAIL: caddy exited" >&3; exit 1; }; curl -fsS "$base/healthz"; }
wait_for "caddy to proxy /healthz" 60 caddy_up

# --- deploy and call through Caddy --------------------------------------------
cat >"$tmp/hello.lua" <<'LUA'
function handle(req)
  return { status = 200, headers = { ["content-type"] = "text/plain" },
           body = "hello from the package, " .. req.method }
end
LUA
chmod 0644 "$tmp/hello.lua"
export PICLOUD_URL=$base PICLOUD_TOKEN=$token
step "picloud deploy through Caddy"
/usr/bin/picloud deploy "$tmp/hello.lua" --name pkgtest >"$tmp/deploy.out" 2>&1 || { cat "$tmp/deploy.out" >&2; fail "deploy failed"; }
step "picloud invoke through Caddy"
out=$(/usr/bin/picloud invoke pkgtest 2>&1) || fail "invoke failed: $out"
grep -q 'hello from the package' <<<"$out" || fail "invoke answered: $out"
out=$(curl -fsS -X POST "$base/fn/pkgtest") || fail "POST /fn/pkgtest through Caddy failed"
[ "$out" = "hello from the package, POST" ] || fail "/fn/pkgtest answered: $out"
step "function answered through Caddy"
workers=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/workers") || fail "GET /api/v1/workers failed"
grep -q '"worker_user":"picloud-worker (uid' <<<"$workers" || fail "workers do not run as picloud-worker: $workers"
grep -q '"complete":true' <<<"$workers" || fail "no worker with a complete sandbox: $workers"
step "the function's worker runs as picloud-worker with every sandbox layer"
pgrep -u picloud -f 'picloud' >/dev/null || fail "no process runs as picloud"

# --- the event stream through Caddy -------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $token" "$base/api/v1/events/stream" || true)
if [ "$code" = 404 ]; then
	step "skipped: /api/v1/events/stream answers 404 (no event stream in this build)"
else
	marker=test-deb-$$-$RANDOM
	first=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		--data "{\"marker\":\"$marker-1\"}" "$base/api/v1/events/test-deb") || fail "publish through Caddy failed"
	first_id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$first")
	[ -n "$first_id" ] || fail "publish answered: $first"
	# Resume just before the first event (Last-Event-ID), then publish a
	# second one live: both must come through Caddy while the stream is open.
	curl -sN --max-time 120 -H "Authorization: Bearer $token" -H "Last-Event-ID: $((first_id - 1))" \
		-D "$tmp/stream.headers" "$base/api/v1/events/stream" >"$tmp/stream.out" 2>/dev/null &
	stream_pid=$!
	wait_for "the event stream to replay the first event" 60 grep -q "$marker-1" "$tmp/stream.out"
	grep -qi '^content-type: text/event-stream' "$tmp/stream.headers" || fail "the stream is not text/event-stream"
	curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		--data "{\"marker\":\"$marker-2\"}" "$base/api/v1/events/test-deb" >/dev/null || fail "second publish failed"
	wait_for "a live event through Caddy (flush_interval -1)" 60 grep -q "$marker-2" "$tmp/stream.out"
	kill "$stream_pid" 2>/dev/null; wait "$stream_pid" 2>/dev/null || true
	stream_pid=
	step "event stream through Caddy: replayed and live events arrived"
fi

# --- metrics through Caddy ----------------------------------------------------
code=$(curl -s -o "$tmp/metrics.txt" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/metrics" || true)
if [ "$code" = 200 ]; then
	grep -q '^picloud_invocations_total{' "$tmp/metrics.txt" || fail "/metrics has no picloud_invocations_total after a call: is metrics.ObserveInvocation wired into the invocation path?"
	promtool=${PROMTOOL:-$(command -v promtool || echo "$root/.picloud/tools/prometheus/usr/bin/promtool")}
	if [ -x "$promtool" ]; then
		"$promtool" check metrics <"$tmp/metrics.txt" || fail "promtool check metrics on the served /metrics"
		step "promtool check metrics: clean"
	fi
	step "/metrics through Caddy: $(grep -c '^picloud_' "$tmp/metrics.txt") picloud series"
else
	step "skipped: /metrics answers $code"
fi

# --- stop ---------------------------------------------------------------------
kill "$caddy_pid"; wait "$caddy_pid" 2>/dev/null || true
caddy_pid=
step "SIGTERM to picloud serve"
kill -TERM "$serve_pid"
set +e
wait "$serve_pid"
serve_rc=$?
set -e
serve_pid=
[ "$serve_rc" = 0 ] || fail "picloud serve exited $serve_rc after SIGTERM, want 0"
grep -q 'STOPPING=1' "$tmp/notify.log" || fail "picloud serve sent no STOPPING=1"
if pgrep -u picloud >/dev/null; then
	ps -o pid,args -u picloud >&2
	fail "processes of picloud are left after serve exited"
fi
kill "$socat_pid" 2>/dev/null; wait "$socat_pid" 2>/dev/null || true
socat_pid=
step "serve drained and exited 0 with STOPPING=1; no worker left"

# --- upgrade (reinstall) keeps data and configuration -------------------------
echo "# local change kept by upgrades" >>/etc/picloud/picloud.env
step "reinstalling the package (upgrade path)"
dpkg -i "$deb" >"$tmp/dpkg-i2.log" 2>&1 || { cat "$tmp/dpkg-i2.log" >&2; fail "reinstall failed"; }
grep -q '^# local change kept by upgrades' /etc/picloud/picloud.env || fail "the upgrade lost a change to picloud.env"
[ "$(cat /var/lib/picloud/admin.token)" = "$token" ] || fail "the upgrade lost admin.token"

# --- remove, then purge -------------------------------------------------------
step "dpkg -r"
dpkg -r picloud >"$tmp/dpkg-r.log" 2>&1 || { cat "$tmp/dpkg-r.log" >&2; fail "dpkg -r failed"; }
gone /usr/bin/picloud
gone /usr/bin/picloud-worker
gone /lib/systemd/system/picloud.service
gone /usr/share/doc/picloud
[ -f /etc/picloud/picloud.env ] || fail "dpkg -r removed the conffile (only purge may)"
[ -d /var/lib/picloud ] || fail "dpkg -r removed /var/lib/picloud (only purge may)"
getent passwd picloud >/dev/null || fail "dpkg -r removed the picloud user (only purge may)"

step "dpkg --purge"
dpkg --purge picloud >"$tmp/dpkg-purge.log" 2>&1 || { cat "$tmp/dpkg-purge.log" >&2; fail "dpkg --purge failed"; }
gone /etc/picloud
gone /var/lib/picloud
gone /run/picloud
getent passwd picloud >/dev/null && fail "the picloud user is still there"
getent group picloud >/dev/null && fail "the picloud group is still there"
getent passwd picloud-worker >/dev/null && fail "the picloud-worker user is still there"
getent group picloud-worker >/dev/null && fail "the picloud-worker group is still there"
left=$(find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
	-name '*picloud*' 2>/dev/null || true)
[ -z "$left" ] || fail "systemd leftovers: $left"
dpkg-query -W picloud >/dev/null 2>&1 && fail "dpkg still knows picloud"
# By design the database outlives the purge (postrm says how to drop it).
[ "$(psql_pg -c "SELECT count(*) FROM pg_database WHERE datname = 'picloud'")" = 1 ] ||
	fail "purge dropped the database (it must keep it)"
grep -q 'dropdb picloud' "$tmp/dpkg-purge.log" || fail "purge did not say how to drop the database"
step "purged: no file, directory, user or systemd state left; the database is kept by design (dropped now by this test)"
