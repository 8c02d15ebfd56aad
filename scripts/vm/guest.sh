#!/usr/bin/env bash
# scripts/vm/guest.sh PHASE [ARGS]: the checks scripts/test-vm.sh runs
# inside the Debian guest (as root, over ssh), one phase per call. Every
# step follows README's "Install from the .deb" section; the functions it
# deploys are in this directory (copied next to this script).
#
# Phases: install DEB, caddy, limits, gotests, prereboot, postreboot,
# purge, upgrade OLD NEW, nomem.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
phase=$1
shift

step() { echo "  guest: $*"; }
fail() {
	echo "  guest: FAIL: $*" >&2
	echo "  guest: --- journalctl -u picloud (last 40 lines)" >&2
	journalctl -u picloud -b --no-pager -n 40 -o short-monotonic >&2 || true
	exit 1
}

# wait_for WHAT SECONDS COMMAND...
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	fail "timed out after ${secs}s waiting for $what"
}

# Caddy faces the network; every call below goes through it.
export PICLOUD_URL=http://127.0.0.1
token() { cat /var/lib/picloud/admin.token; }
pc() { PICLOUD_TOKEN=$(token) picloud "$@"; }
# call PATH [CURL ARGS]: body and status of a call through Caddy.
call() {
	local path=$1
	shift
	curl -sS -o /tmp/call.body -w '%{http_code}' --max-time 120 "$@" "$PICLOUD_URL$path"
}

svc() { systemctl show -p "$1" --value picloud; }
active() { [ "$(systemctl is-active picloud)" = active ]; }

# unit_cgroup: the service's cgroup directory.
unit_cgroup() { echo "/sys/fs/cgroup$(svc ControlGroup)"; }

# proc_cgroup PID: the cgroup directory of a process.
proc_cgroup() { echo "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$1/cgroup")"; }

# worker_pids: the worker processes (as the picloud user, whatever their name).
worker_pids() { pgrep -x picloud-worker || true; }

# cgroup_with FILE VALUE: the cgroup of a worker whose FILE reads VALUE.
cgroup_with() {
	local p c
	for p in $(worker_pids); do
		c=$(proc_cgroup "$p")
		[ "$(cat "$c/$1" 2>/dev/null)" = "$2" ] && { echo "$c"; return 0; }
	done
	return 0
}

wait_active() {
	local secs=${1:-120}
	wait_for "picloud.service to be active" "$secs" active
}

phase_install() {
	local deb=$1 t0
	t0=$(date +%s)
	step "apt install $(basename "$deb") (offline: postgresql and caddy are in the image)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >/tmp/apt-install.log 2>&1 ||
		{ cat /tmp/apt-install.log >&2; fail "apt install ./$(basename "$deb") failed"; }
	step "installed in $(($(date +%s) - t0))s: $(picloud version)"
	# postinst ran `deb-systemd-invoke start`, which waits for READY=1 with
	# Type=notify: active here means systemd itself got READY=1.
	wait_active 60
	[ "$(svc Type)" = notify ] || fail "picloud.service is Type=$(svc Type), want notify"
	[ "$(svc NotifyAccess)" = main ] || fail "NotifyAccess=$(svc NotifyAccess)"
	[ "$(svc SubState)" = running ] || fail "SubState=$(svc SubState)"
	step "picloud.service: ActiveState=active SubState=running Type=notify (systemd saw READY=1), NRestarts=$(svc NRestarts), enabled=$(systemctl is-enabled picloud)"
	[ "$(systemctl is-enabled picloud)" = enabled ] || fail "picloud.service is not enabled"
	local line
	line=$(journalctl -u picloud -b --no-pager -o cat | grep -m1 'worker limits' || true)
	step "journal: $line"
	grep -q 'worker limits enforced' <<<"$line" && grep -q 'mode=cgroup2' <<<"$line" ||
		fail "the journal does not say limits are enforced in cgroup2 mode"
	local ctl
	ctl=$(cat "$(unit_cgroup)/cgroup.controllers")
	step "delegated controllers in $(unit_cgroup): $ctl; subtree: $(cat "$(unit_cgroup)/cgroup.subtree_control")"
	local sec
	sec=$(systemd-analyze security --no-pager picloud 2>&1 | tail -1)
	step "systemd-analyze security picloud: $sec"
	echo "$sec" >/tmp/security-level
	[ -f /var/lib/picloud/admin.token ] || fail "no admin.token"
	[ "$(stat -c '%a %U' /var/lib/picloud/admin.token)" = "600 picloud" ] || fail "admin.token is $(stat -c '%a %U' /var/lib/picloud/admin.token)"
}

phase_caddy() {
	# README: copy the LAN-only site block with the shared snippet.
	step "Caddy: /usr/share/doc/picloud/Caddyfile.example without the domain-name site → /etc/caddy/Caddyfile"
	sed '/^picloud\.example\.com {/,/^}/d' /usr/share/doc/picloud/Caddyfile.example >/etc/caddy/Caddyfile
	caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile >/tmp/caddy-validate.log 2>&1 ||
		{ cat /tmp/caddy-validate.log >&2; fail "caddy validate"; }
	systemctl reload caddy || systemctl restart caddy
	wait_for "Caddy to proxy /healthz" 60 curl -fsS "$PICLOUD_URL/healthz"
	step "Caddy on :80 proxies to 127.0.0.1:8080"
}

phase_limits() {
	local code
	step "deploy hello through Caddy"
	pc deploy /usr/share/doc/picloud/examples/hello.lua >/dev/null || fail "deploy hello"
	code=$(call /fn/hello)
	[ "$code" = 200 ] && grep -q '"hello":"world"' /tmp/call.body || fail "/fn/hello: $code $(cat /tmp/call.body)"
	step "/fn/hello through Caddy: $code $(cat /tmp/call.body)"

	# Every worker is in its own cgroup under the service's.
	local wpid wcg
	wpid=$(worker_pids | head -1)
	[ -n "$wpid" ] || fail "no worker process after a call"
	wcg=$(proc_cgroup "$wpid")
	step "worker $wpid (user $(ps -o user= -p "$wpid")) in $wcg"
	# w<N>: a worker exec'd for its function; s<N>: a spare (taken ones
	# keep their cgroup, which gets the function's limits).
	case "$wcg" in "$(unit_cgroup)"/*/[ws][0-9]*) ;; *) fail "worker cgroup $wcg is not under $(unit_cgroup)" ;; esac
	step "supervisor in $(proc_cgroup "$(svc MainPID)")"

	# Memory: 32 MiB.
	pc deploy "$here/bomb.lua" --memory 32MiB --timeout 60s >/dev/null || fail "deploy bomb"
	code=$(call /fn/bomb)
	[ "$code" = 200 ] || fail "/fn/bomb (no bomb): $code $(cat /tmp/call.body)"
	local bcg
	bcg=$(cgroup_with memory.max 33554432)
	[ -n "$bcg" ] || fail "no worker cgroup with memory.max 32 MiB"
	step "bomb worker cgroup $bcg: memory.max=$(cat "$bcg/memory.max") memory.swap.max=$(cat "$bcg/memory.swap.max" 2>/dev/null || echo -) pids.max=$(cat "$bcg/pids.max") cpu.max='$(cat "$bcg/cpu.max")'"
	[ "$(cat "$bcg/memory.max")" = 33554432 ] || fail "memory.max is $(cat "$bcg/memory.max"), want 33554432"
	[ "$(cat "$bcg/pids.max")" = 64 ] || fail "pids.max is $(cat "$bcg/pids.max"), want 64"
	code=$(call '/fn/bomb?bomb=1')
	step "memory bomb under --memory 32MiB: $code $(head -c 300 /tmp/call.body)"
	[ "$code" -ge 500 ] || fail "the memory bomb answered $code"
	grep -qi 'memory limit of 32 MiB exceeded' /tmp/call.body || fail "no clear memory-limit error: $(cat /tmp/call.body)"
	if [ -d "$bcg" ]; then
		step "memory.events of $bcg: $(tr '\n' ' ' <"$bcg/memory.events")"
	else
		step "the bomb's worker and its cgroup are gone"
	fi
	code=$(call /fn/bomb)
	[ "$code" = 200 ] || fail "the call after the bomb: $code $(cat /tmp/call.body)"
	step "next call after the bomb: $code $(cat /tmp/call.body)"
	pc logs bomb 2>/dev/null | head -5 || true

	# CPU: 0.25 of a core for a busy loop.
	pc deploy "$here/spin.lua" --cpu 0.25 --timeout 60s >/dev/null || fail "deploy spin"
	call /fn/spin >/dev/null # start the worker
	local scg u0 u1 t0 t1 th0 th1
	scg=$(cgroup_with cpu.max "25000 100000")
	[ -n "$scg" ] || fail "no worker cgroup with cpu.max '25000 100000'"
	u0=$(awk '$1=="usage_usec"{print $2}' "$scg/cpu.stat")
	th0=$(awk '$1=="nr_throttled"{print $2}' "$scg/cpu.stat")
	t0=$(date +%s%N)
	code=$(call '/fn/spin?seconds=8')
	t1=$(date +%s%N)
	u1=$(awk '$1=="usage_usec"{print $2}' "$scg/cpu.stat")
	th1=$(awk '$1=="nr_throttled"{print $2}' "$scg/cpu.stat")
	[ "$code" = 200 ] || fail "/fn/spin: $code $(cat /tmp/call.body)"
	local share
	share=$(awk -v u=$((u1 - u0)) -v w=$(((t1 - t0) / 1000)) 'BEGIN{printf "%.3f", u/w}')
	step "busy loop at --cpu 0.25: cpu.stat usage $(((u1 - u0) / 1000)) ms in $(((t1 - t0) / 1000000)) ms wall = $share of a core, nr_throttled +$((th1 - th0)) ($scg)"
	# The quota is a ceiling: on a loaded host the emulated guest itself may
	# get less than a quarter of a core, so only the upper side is checked.
	awk -v s="$share" 'BEGIN{exit !(s < 0.35)}' || fail "the busy loop got $share of a core, want at most about 0.25"
	[ $((th1 - th0)) -gt 0 ] || fail "the busy loop was never throttled"
	grep -h . "$scg/cpu.stat" | tr '\n' ' ' | sed 's/^/  guest:   cpu.stat: /'
	echo

	# pids.max holds: the cgroup's task count stays under it.
	step "pids: pids.max=$(cat "$scg/pids.max") pids.current=$(cat "$scg/pids.current") pids.events: $(cat "$scg/pids.events" | tr '\n' ' ')"
	[ "$(cat "$scg/pids.current")" -le 64 ] || fail "pids.current above pids.max"

	# systemctl stop: nothing of ours left.
	step "systemctl stop picloud"
	systemctl stop picloud
	[ -z "$(worker_pids)" ] || fail "worker processes left after stop: $(worker_pids)"
	local left
	left=$(find /sys/fs/cgroup -path '*picloud*' -type d 2>/dev/null || true)
	[ -z "$left" ] || fail "cgroups left after stop: $left"
	journalctl -u picloud -b --no-pager -o cat | grep -q 'could not remove worker cgroup' && fail "the journal says a worker cgroup could not be removed"
	step "after stop: no worker process, no picloud cgroup"

	# kill -9: systemd restarts it; the new server removes the dead one's cgroups.
	systemctl start picloud
	wait_active 60
	call /fn/hello >/dev/null
	call /fn/spin >/dev/null
	local old_pid old_inst restarts
	old_pid=$(svc MainPID)
	restarts=$(svc NRestarts)
	old_inst=$(find "$(unit_cgroup)" -mindepth 2 -maxdepth 2 -type d | grep -v '/supervisor' | head -1)
	step "instance cgroup of server $old_pid: $old_inst ($(find "$old_inst" -mindepth 1 -maxdepth 1 -type d | wc -l) workers)"
	kill -9 "$old_pid"
	wait_for "systemd to restart picloud" 60 sh -c "[ \"\$(systemctl show -p NRestarts --value picloud)\" -gt $restarts ] && [ \"\$(systemctl is-active picloud)\" = active ]"
	step "kill -9 $old_pid: restarted as $(svc MainPID), NRestarts=$(svc NRestarts)"
	[ ! -e "$old_inst" ] || fail "the dead server's cgroup $old_inst is still there"
	local stale
	stale=$(journalctl -u picloud -b --no-pager -o cat | grep 'removed stale worker cgroups' | tail -1 || true)
	step "dead server's cgroups gone ($([ -n "$stale" ] && echo "new server: $stale" || echo "removed by systemd when the unit's processes were killed"))"
	code=$(call /fn/hello)
	[ "$code" = 200 ] || fail "/fn/hello after kill -9: $code"
	step "/fn/hello after the restart: $code"
}

phase_gotests() {
	# The tests' TestMain builds the worker with `go build`; the guest has no
	# Go: a stand-in `go` copies the cross-built worker instead.
	local dir=$here/gotests rc=0 pkg
	mkdir -p "$dir/fakego"
	cat >"$dir/fakego/go" <<'GO'
#!/bin/sh
# Stand-in for `go build [-tags sandboxprobe] -o OUT ...` in the guest: copy
# the prebuilt worker (or the one built with the sandbox probe).
out= src=picloud-worker
while [ $# -gt 0 ]; do
	case "$1" in
	-o) out=$2; shift ;;
	-tags) [ "$2" = sandboxprobe ] && src=picloud-worker-probe; shift ;;
	esac
	shift
done
case "$out" in */) out=${out}picloud-worker ;; esac
exec cp "$(dirname "$0")/../bin/$src" "$out"
GO
	chmod +x "$dir/fakego/go"
	mkdir -p "$(cat "$dir/srcroot")"
	# Each suite runs in a transient service with the cgroup delegation and
	# the RestrictNamespaces=yes of picloud.service (which makes clone3
	# fail); the cgroup tests run once more without it (clone3 works).
	local runs=("supervisor RestrictNamespaces=yes" "worker RestrictNamespaces=yes" "supervisor RestrictNamespaces=no -test.run=Cgroup")
	local spec
	for spec in "${runs[@]}"; do
		set -- $spec
		pkg=$1
		local prop=$2 name="$1-${2#RestrictNamespaces=}"
		shift 2
		step "go test $pkg (cross-built) $*, in a transient service with Delegate=yes $prop"
		set +e
		systemd-run --quiet --wait --pipe --collect -p Delegate=yes -p "$prop" -p WorkingDirectory="$dir" \
			-E PATH="$dir/fakego:/usr/sbin:/usr/bin:/sbin:/bin" -E HOME=/root -E TMPDIR=/tmp -E PICLOUD_TEST_SLOW=10 \
			"$dir/$pkg.test" -test.v -test.count=1 -test.timeout=10m "$@" >"$dir/$name.out" 2>&1 </dev/null
		local r=$?
		set -e
		pkg=$name
		# Timing tests can miss their window in an emulated guest on a
		# loaded host: run the failed ones once more, and say so.
		local failed
		failed=$(grep -E '^--- FAIL: ' "$dir/$pkg.out" | awk '{print $3}' | paste -sd'|' || true)
		if [ $r != 0 ] && [ -n "$failed" ]; then
			step "$pkg: retrying once: $failed"
			set +e
			systemd-run --quiet --wait --pipe --collect -p Delegate=yes -p "$prop" -p WorkingDirectory="$dir" \
				-E PATH="$dir/fakego:/usr/sbin:/usr/bin:/sbin:/bin" -E HOME=/root -E TMPDIR=/tmp -E PICLOUD_TEST_SLOW=10 \
				"$dir/${pkg%%-*}.test" -test.v -test.count=1 -test.timeout=10m -test.run "^($failed)\$" >"$dir/$pkg.retry.out" 2>&1 </dev/null
			local r2=$?
			set -e
			if [ $r2 = 0 ]; then
				step "$pkg: FLAKY (failed, then passed on retry): $failed"
				grep -A8 -E '^\s*--- FAIL' "$dir/$pkg.out" | grep -E 'Error:|_test.go' | head -6 | sed 's/^ */  guest:     first failure: /'
				sed -i 's/^--- FAIL: /--- FLAKY: /' "$dir/$pkg.out"
				r=0
			fi
		fi
		grep -E '^(--- |=== RUN|PASS|FAIL|ok)' "$dir/$pkg.out" | grep -E '^--- (PASS|FAIL|SKIP)' >"$dir/$pkg.summary" || true
		step "$pkg: rc=$r, $(grep -c '^--- PASS' "$dir/$pkg.summary") passed, $(grep -c '^--- FAIL' "$dir/$pkg.summary") failed, $(grep -c '^--- SKIP' "$dir/$pkg.summary") skipped"
		grep -E '^--- (FAIL|SKIP)' "$dir/$pkg.summary" | sed 's/^/  guest:     /' || true
		grep -A3 -E '^\s+--- SKIP' "$dir/$pkg.out" | grep -E 'SKIP|_test.go' | head -20 | sed 's/^/  guest:     /' || true
		grep -h 'clone3 available' "$dir/$pkg.out" | sed 's/^ */  guest:     /' || true
		[ $r = 0 ] || rc=1
	done
	# The cgroup tests must have run.
	local ran
	ran=$(grep -hE '^--- PASS: Test[A-Za-z_]*[Cc]group' "$dir"/supervisor-*.summary | sed 's/ (.*//; s/--- PASS: //' | sort | uniq -c | awk '{printf "%s(x%s) ", $2, $1}')
	step "cgroup tests that ran and passed: $ran"
	if grep -E '^\s*--- SKIP: Test[A-Za-z_]*[Cc]group' "$dir"/supervisor-*.out; then
		fail "a cgroup test skipped in the guest"
	fi
	[ $rc = 0 ] || { grep -B2 -A20 -E '^\s*--- FAIL' "$dir"/*.out | head -80 >&2; fail "Go tests failed in the guest"; }
}

phase_prereboot() {
	# Retries 30 s apart (default 1 s), so the retry after a released
	# failure is still queued when the guest goes down. Set before the
	# reboot: nothing is changed after it.
	mkdir -p /etc/systemd/system/picloud.service.d
	printf '[Service]\nEnvironment=PICLOUD_RETRY_BASE=30s\n' >/etc/systemd/system/picloud.service.d/test-retry.conf
	systemctl daemon-reload
	systemctl restart picloud
	wait_active 60
	wait_for "Caddy to proxy /healthz" 60 curl -fsS "$PICLOUD_URL/healthz"
	step "deploy tick (schedule @every 10s) and flaky (a delivery that fails until released), PICLOUD_RETRY_BASE=30s"
	pc deploy "$here/tick.lua" >/dev/null || fail "deploy tick"
	pc schedule add tick '@every 10s' >/dev/null || fail "schedule add"
	pc deploy "$here/flaky.lua" --max-attempts 12 >/dev/null || fail "deploy flaky"
	pc trigger add flaky --topic vm.pending >/dev/null || fail "trigger add"
	pc events publish vm.pending '{"n": 1}' >/dev/null || fail "publish"
	wait_for "the first failed attempt of the delivery" 120 sh -c "curl -fsS $PICLOUD_URL/fn/flaky | grep -q '\"attempts\":[1-9]'"
	# Released now: the next attempt (about 30 s away) succeeds, after the reboot.
	curl -fsS "$PICLOUD_URL/fn/flaky?release=1" >/dev/null
	step "before the reboot: flaky $(curl -fsS $PICLOUD_URL/fn/flaky); tick $(curl -fsS $PICLOUD_URL/fn/tick)"
	curl -fsS $PICLOUD_URL/fn/flaky | grep -q '"delivered":false' || fail "the delivery completed before the reboot"
}

phase_postreboot() {
	# Nothing is started by hand: only looked at.
	local boot
	boot=$(($(date +%s) - $(cut -d. -f1 /proc/uptime)))
	wait_active 120
	step "after the reboot: picloud.service active (NRestarts=$(svc NRestarts)), $(journalctl -u picloud -b -o cat --no-pager | grep -m1 'worker limits')"
	wait_for "/fn/hello through Caddy" 60 curl -fsS "$PICLOUD_URL/fn/hello"
	step "/fn/hello through Caddy: $(curl -fsS "$PICLOUD_URL/fn/hello")"
	wait_for "a schedule tick after boot" 120 sh -c "[ \"\$(curl -fsS $PICLOUD_URL/fn/tick | sed -n 's/.*\"last\":\([0-9]*\).*/\1/p')\" -gt $boot ]"
	step "schedule fired after boot: $(curl -fsS "$PICLOUD_URL/fn/tick") (boot at $boot)"
	wait_for "the delivery pending at shutdown to complete" 180 sh -c "curl -fsS $PICLOUD_URL/fn/flaky | grep -q '\"delivered\":true'"
	local at
	at=$(curl -fsS "$PICLOUD_URL/fn/flaky" | sed -n 's/.*"delivered_at":\([0-9]*\).*/\1/p')
	[ "$at" -gt "$boot" ] || fail "the delivery went through at $at, before the boot at $boot"
	step "pending delivery completed after boot: $(curl -fsS "$PICLOUD_URL/fn/flaky") (boot at $boot)"
	rm -rf /etc/systemd/system/picloud.service.d
	systemctl daemon-reload
}

phase_purge() {
	step "apt purge picloud"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q picloud >/tmp/apt-purge.log 2>&1 || { cat /tmp/apt-purge.log >&2; fail "apt purge"; }
	local p
	for p in /usr/bin/picloud /usr/bin/picloud-worker /lib/systemd/system/picloud.service /etc/picloud /var/lib/picloud /run/picloud /usr/share/doc/picloud; do
		[ ! -e "$p" ] || fail "$p is left after purge"
	done
	getent passwd picloud >/dev/null && fail "user picloud left after purge"
	getent group picloud >/dev/null && fail "group picloud left after purge"
	[ -z "$(find /etc/systemd /var/lib/systemd -name '*picloud*' 2>/dev/null)" ] || fail "systemd state left: $(find /etc/systemd /var/lib/systemd -name '*picloud*')"
	[ -z "$(worker_pids)" ] || fail "workers left after purge"
	# README: the database and role are kept.
	[ "$(runuser -u postgres -- psql -XAtc "SELECT count(*) FROM pg_database WHERE datname='picloud'")" = 1 ] || fail "purge dropped the database"
	[ "$(runuser -u postgres -- psql -XAtc "SELECT count(*) FROM pg_roles WHERE rolname='picloud'")" = 1 ] || fail "purge dropped the role"
	step "purged: no files, user, group or systemd state left; database and role picloud kept (README)"
	runuser -u postgres -- dropdb picloud
	runuser -u postgres -- dropuser picloud
	step "dropped them as README says (dropdb picloud; dropuser picloud)"
}

phase_upgrade() {
	local old=$1 new=$2
	phase_install "$old" >/dev/null
	step "previous package installed: $(picloud version)"
	pc deploy "$here/counter.lua" --name keep >/dev/null || fail "deploy keep"
	curl -fsS "$PICLOUD_URL/fn/keep" >/dev/null
	[ "$(curl -fsS "$PICLOUD_URL/fn/keep")" = 2 ] || fail "kv counter is not 2"
	local tok pid0 inv0 started0
	tok=$(pc token create vm-upgrade --scope read | tail -1)
	pid0=$(svc MainPID)
	inv0=$(svc InvocationID)
	started0=$(journalctl -u picloud -b --no-pager -o cat | grep -c '^Started ' || true)
	step "data before the upgrade: function keep, kv counter 2, token vm-upgrade (server pid $pid0)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$new" >/tmp/apt-upgrade.log 2>&1 ||
		{ cat /tmp/apt-upgrade.log >&2; fail "upgrade"; }
	wait_active 60
	step "upgraded: $(picloud version), server pid $(svc MainPID)"
	[ "$(svc InvocationID)" != "$inv0" ] || fail "the service was not restarted by the upgrade"
	local started1
	started1=$(journalctl -u picloud -b --no-pager -o cat | grep -c '^Started ' || true)
	[ $((started1 - started0)) = 1 ] || fail "the service started $((started1 - started0)) times during the upgrade, want 1"
	PICLOUD_TOKEN=$tok picloud ls | grep -qw keep || fail "the token or the function did not survive the upgrade"
	[ "$(curl -fsS "$PICLOUD_URL/fn/keep")" = 3 ] || fail "kv did not survive the upgrade"
	step "after the upgrade: restarted once; token vm-upgrade works, function keep answers, its kv counter went on to 3"
}

phase_nomem() {
	wait_active 120
	grep -o 'cgroup_disable=memory' /proc/cmdline >/dev/null || fail "not booted with cgroup_disable=memory"
	step "booted with cgroup_disable=memory: /sys/fs/cgroup/cgroup.controllers = $(cat /sys/fs/cgroup/cgroup.controllers)"
	local lines n
	lines=$(journalctl -u picloud -b --no-pager -o cat | grep -i 'not enforced' || true)
	n=$(grep -c . <<<"$lines" || true)
	step "journal ($n line): $lines"
	[ "$n" = 1 ] || fail "want the warning exactly once, got $n"
	grep -q 'cgroup_enable=memory' <<<"$lines" && grep -q 'cmdline.txt' <<<"$lines" ||
		fail "the warning does not say how to fix it (cgroup_enable=memory in cmdline.txt)"
	step "/fn/hello answers (limits off)"
	mkdir -p /etc/systemd/system/picloud.service.d
	printf '[Service]\nEnvironment=PICLOUD_REQUIRE_LIMITS=true\n' >/etc/systemd/system/picloud.service.d/require-limits.conf
	systemctl daemon-reload
	local since
	since=$(date '+%Y-%m-%d %H:%M:%S')
	systemctl restart picloud || true
	sleep 2
	local code
	code=$(curl -s -o /tmp/call.body -w '%{http_code}' --max-time 30 "$PICLOUD_URL/fn/hello" || true)
	step "with PICLOUD_REQUIRE_LIMITS=true: service $(systemctl is-active picloud), /fn/hello $code $(head -c 200 /tmp/call.body)"
	journalctl -u picloud --since "$since" --no-pager -o cat | grep -iE 'limit|error' | head -5 | sed 's/^/  guest:   /'
	[ "$code" != 200 ] || fail "a worker ran although limits are required and not enforced"
	rm -rf /etc/systemd/system/picloud.service.d
	systemctl daemon-reload
}

"phase_$phase" "$@"
