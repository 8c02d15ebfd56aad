#!/usr/bin/env bash
# scripts/test-vm.sh [amd64|arm64]: install and run the PiCloud package in a
# real Debian 12 guest with systemd as PID 1 and the unified cgroup (v2)
# hierarchy, under qemu (TCG: no KVM needed), and check what README's
# install section promises:
#
#   boot 1: apt install ./picloud_*.deb (Type=notify, limits in cgroup2
#           mode, systemd-analyze security), Caddy in front, the cgroup v2
#           limits through Caddy (memory bomb, cpu quota, pids, stop,
#           kill -9), the supervisor/ and worker/ Go tests (cross-built),
#           a schedule and a delivery pending at shutdown; systemctl reboot.
#   boot 2: (nothing typed after boot) the service is up, answers through
#           Caddy, the schedule fires, the pending delivery completes; then
#           apt purge, and an upgrade from the previous commit's package
#           with data in the database.
#   boot 3: the kernel booted with cgroup_disable=memory (a Raspberry Pi
#           kernel without cgroup_enable=memory): the server starts, says
#           so once with the fix, and --require-limits runs no worker.
#
# The guest image is built once by scripts/vm-image.sh and cached outside
# the repository (/var/cache/picloud-vm); each run boots a copy-on-write
# overlay of it. The host reaches the guest only through user-mode
# networking with loopback-only port forwards (ssh, and Caddy's :80); the
# guest reaches nothing. Serial console: the run's serial.log.
#
# Environment: PICLOUD_VM_CACHE, PICLOUD_VM_KEEP=1 (keep the run directory),
# PICLOUD_VM_PREV (git revision of the package to upgrade from; default the
# last tag, else HEAD~), PICLOUD_VM_STEPS (default "main gotests reboot
# upgrade nomem"; arm64 "main reboot"), GO.
set -euo pipefail

arch=${1:-amd64}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
export PATH="/usr/local/go/bin:$PATH"
# arm64 (slower under emulation) runs install, limits and the reboot only.
default_steps="main gotests reboot upgrade nomem"
[ "$arch" = arm64 ] && default_steps="main reboot"
steps=${PICLOUD_VM_STEPS:-$default_steps}
t_start=$(date +%s)

log() { echo "test-vm[$arch] $(date -u +%H:%M:%S) +$(($(date +%s) - t_start))s: $*"; }
fail() {
	echo "test-vm[$arch]: FAIL: $*" >&2
	if [ -n "${run:-}" ] && [ -f "$run/serial.log" ]; then
		echo "--- last lines of the serial console ($run/serial.log)" >&2
		tail -n 30 "$run/serial.log" >&2 || true
	fi
	exit 1
}

case "$arch" in
amd64)
	qemu_bin=qemu-system-x86_64 qemu_pkg=qemu-system-x86 console=ttyS0
	qemu_machine=(-machine q35 -accel tcg,thread=multi -cpu max)
	;;
arm64)
	qemu_bin=qemu-system-aarch64 qemu_pkg=qemu-system-arm console=ttyAMA0
	qemu_machine=(-machine virt -accel tcg,thread=multi -cpu cortex-a72)
	;;
*) fail "unknown arch $arch (amd64, arm64)" ;;
esac

# --- tools --------------------------------------------------------------------
need=()
command -v "$qemu_bin" >/dev/null || need+=("$qemu_pkg")
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
[ "$arch" = arm64 ] && [ ! -e /usr/share/qemu-efi-aarch64 ] && ! command -v qemu-aarch64-static >/dev/null && need+=(qemu-user-static binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

# --- this run's directory, and cleanup of everything we start -------------------
mkdir -p "$root/dist"
run=$(mktemp -d "$root/dist/test-vm-$arch.XXXXXX")
qemu_pid=
prev_wt=
cleanup() {
	local rc=$?
	[ -n "${ssh_opts:-}" ] && ssh_stop
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill "$qemu_pid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	[ -n "$prev_wt" ] && { git -C "$root" worktree remove --force "$prev_wt" >/dev/null 2>&1 || true; }
	if [ "${PICLOUD_VM_KEEP:-}" = 1 ] || [ $rc != 0 ]; then
		echo "test-vm[$arch]: run directory kept: $run" >&2
		rm -f "$run/disk.qcow2" "$run/share.img"
	else
		rm -rf "$run"
	fi
	return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- image ----------------------------------------------------------------------
t0=$(date +%s)
img=$(scripts/vm-image.sh "$arch") || fail "building the guest image"
log "guest image $img ready in $(($(date +%s) - t0))s"

# --- packages and test binaries --------------------------------------------------
t0=$(date +%s)
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
deb_version=$(packaging/version.sh "$VERSION")
mkdir -p "$run/share/gotests/bin" "$run/share/prev"
log "building picloud $deb_version for $arch"
VERSION=$VERSION GO=$GO DIST=$run/share packaging/build-deb.sh "$arch" 2>"$run/build-deb.log" || { cat "$run/build-deb.log" >&2; fail "build-deb"; }
deb=$run/share/picloud_${deb_version}_${arch}.deb

if [[ " $steps " == *" upgrade "* ]]; then
	prev_rev=${PICLOUD_VM_PREV:-$(git describe --tags --abbrev=0 HEAD~ 2>/dev/null || echo HEAD~)}
	prev_wt=$run/prev-src
	git worktree add --detach --quiet "$prev_wt" "$prev_rev" || fail "git worktree add $prev_rev"
	prev_describe=$(git -C "$prev_wt" describe --tags --always 2>/dev/null)
	# This tree's version.sh, so both versions are made the same way.
	cp packaging/version.sh "$prev_wt/packaging/version.sh"
	prev_version=$(cd "$prev_wt" && packaging/version.sh "$prev_describe")
	log "building the previous package ($prev_rev = $prev_describe, $prev_version) to upgrade from"
	(cd "$prev_wt" && VERSION=$prev_describe GO=$GO DIST=$run/share/prev packaging/build-deb.sh "$arch") 2>"$run/build-prev.log" ||
		{ cat "$run/build-prev.log" >&2; fail "build-deb of $prev_rev"; }
	prev_deb=$(ls "$run"/share/prev/picloud_*_"$arch".deb)
	[ "$(dpkg-deb -f "$prev_deb" Version)" != "$deb_version" ] || fail "previous and current package have the same version $deb_version"
	dpkg --compare-versions "$(dpkg-deb -f "$prev_deb" Version)" lt "$deb_version" ||
		fail "previous version $(dpkg-deb -f "$prev_deb" Version) does not sort before $deb_version"
	git -C "$root" worktree remove --force "$prev_wt" && prev_wt=
fi

log "cross-building the supervisor/ and worker/ tests for $arch (go test -c)"
# Not next to the test binaries: TestConfig_WorkerCommand needs no worker there.
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -o "$run/share/gotests/bin/picloud-worker" ./cmd/picloud-worker
# The sandbox probe's worker (TestSandboxProbe_EveryEscapeFails builds it
# with -tags sandboxprobe; the guest's stand-in `go` copies this one).
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -tags sandboxprobe -o "$run/share/gotests/bin/picloud-worker-probe" ./cmd/picloud-worker
for pkg in supervisor worker; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" test -c -vet=off -o "$run/share/gotests/$pkg.test" "./$pkg" ||
		fail "go test -c ./$pkg"
done
# workertest.Build runs `go build` in the source tree's directory: it must
# exist in the guest (empty).
echo "$root" >"$run/share/gotests/srcroot"
cp scripts/vm/*.sh scripts/vm/*.lua "$run/share/"
# worker's TestSyntaxDepth_RealScriptsPass reads ../examples/*.lua.
cp -r examples "$run/share/examples"
mkfs.ext4 -q -L picloud-share -d "$run/share" "$run/share.img" 512M >/dev/null
log "packages and test binaries built in $(($(date +%s) - t0))s"

# --- the guest --------------------------------------------------------------------
free_port() {
	local p
	for p in $(shuf -i 20000-29999 -n 50); do
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
ssh_port=$(free_port) http_port=$(free_port)
[ "$ssh_port" != "$http_port" ] || http_port=$(free_port)
qemu-img create -q -f qcow2 -F raw -b "$img/root.img" "$run/disk.qcow2"
key=$run/id_ed25519
install -m 0600 "$img/id_ed25519" "$key"
ssh_opts=(-i "$key" -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=30 -o ServerAliveInterval=10 -o ServerAliveCountMax=12
	# One connection per boot, shared by every command: an emulated guest on
	# a loaded host can miss a new connection's banner exchange.
	-o ControlMaster=auto -o "ControlPath=$run/ssh-%p.sock" -o ControlPersist=600)
g() { ssh "${ssh_opts[@]}" root@127.0.0.1 "$@"; }
# ssh_stop: end the shared connection (its master process is ours).
ssh_stop() { ssh "${ssh_opts[@]}" -O exit root@127.0.0.1 >/dev/null 2>&1 || true; }
gphase() { g "bash /root/t/guest.sh $*"; }

# boot [EXTRA KERNEL ARGS]: start qemu on the run's disk and wait for ssh.
boot() {
	local t0 extra="$*"
	t0=$(date +%s)
	echo "=== boot $(date -u +%T) $extra" >>"$run/serial.log"
	"$qemu_bin" "${qemu_machine[@]}" -smp 2 -m 1536 -nodefaults -display none -no-reboot \
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
		-append "root=/dev/vda rw console=$console systemd.unified_cgroup_hierarchy=1 $extra" \
		-drive "file=$run/disk.qcow2,if=none,id=d0,format=qcow2,cache=unsafe" -device virtio-blk-pci,drive=d0 \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$ssh_port-:22,hostfwd=tcp:127.0.0.1:$http_port-:80" \
		-device virtio-net-pci,netdev=n0 \
		-drive "file=$run/share.img,if=none,id=d1,format=raw,cache=unsafe" -device virtio-blk-pci,drive=d1 \
		-chardev "file,id=s0,path=$run/serial.log,append=on" -serial chardev:s0 \
		-monitor none >"$run/qemu.log" 2>&1 &
	qemu_pid=$!
	log "qemu $qemu_pid started ($qemu_bin, TCG, 2 vCPUs${extra:+, $extra}); waiting for ssh on 127.0.0.1:$ssh_port"
	local i
	for ((i = 0; i < 600; i++)); do
		if ! kill -0 "$qemu_pid" 2>/dev/null; then
			# qemu's TCG itself crashed once here (general protection
			# fault in qemu-system-x86_64): start it once more.
			wait "$qemu_pid" 2>/dev/null || true
			qemu_pid=
			cat "$run/qemu.log" >&2
			[ -z "${boot_retried:-}" ] || fail "qemu exited during boot, twice"
			boot_retried=1
			log "qemu exited during boot; starting it once more"
			boot "$@"
			return
		fi
		g true 2>/dev/null && break
		sleep 2
	done
	((i < 600)) || fail "no ssh after 20 min"
	g 'systemctl is-system-running --wait >/dev/null 2>&1 || true'
	boot_secs=$(($(date +%s) - t0))
	mount_share
	log "guest up in ${boot_secs}s: $(g 'uname -r; stat -fc %T /sys/fs/cgroup; systemctl is-system-running' | tr '\n' ' ')"
}

# shutdown_guest CMD: reboot or poweroff inside the guest; qemu exits
# (-no-reboot) once the guest is down.
shutdown_guest() {
	local t0 i
	t0=$(date +%s)
	g "systemctl $1" >/dev/null 2>&1 || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$qemu_pid" 2>/dev/null; then fail "the guest did not go down within 5 min of systemctl $1"; fi
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
	ssh_stop
	log "guest down after systemctl $1 in $(($(date +%s) - t0))s"
}

# The packages, test binaries and scripts reach the guest on a second disk
# (an ext4 image of $run/share), mounted at /root/t.
mount_share() {
	g 'mkdir -p /root/t && { mountpoint -q /root/t || mount -L picloud-share /root/t; }'
}

debname=$(basename "$deb")
times=()
if [[ " $steps " == *" main "* ]]; then
	t0=$(date +%s)
	boot
	times+=("boot1 ${boot_secs}s")
	log "boot 1: apt install ./$debname"
	gphase install "/root/t/$debname"
	gphase caddy
	code=$(curl -s -o "$run/hello.out" -w '%{http_code}' --max-time 60 "http://127.0.0.1:$http_port/healthz" || true)
	[ "$code" = 200 ] || fail "the host cannot reach Caddy in the guest through 127.0.0.1:$http_port ($code)"
	log "host → 127.0.0.1:$http_port → guest Caddy :80 → picloud: /healthz $code"
	log "boot 1: cgroup v2 limits through Caddy"
	gphase limits
	code=$(curl -s -o "$run/hello.out" -w '%{http_code}' --max-time 60 "http://127.0.0.1:$http_port/fn/hello" || true)
	[ "$code" = 200 ] || fail "/fn/hello from the host: $code"
	log "host: /fn/hello through Caddy $code $(cat "$run/hello.out")"
	if [[ " $steps " == *" gotests "* ]]; then
		log "boot 1: Go tests of supervisor/ and worker/ in the guest"
		t1=$(date +%s)
		gphase gotests
		times+=("gotests $(($(date +%s) - t1))s")
	fi
	if [[ " $steps " == *" reboot "* ]]; then
		gphase prereboot
		shutdown_guest reboot
		times+=("boot1-phase $(($(date +%s) - t0))s")
		t0=$(date +%s)
		boot
		times+=("boot2 ${boot_secs}s")
		log "boot 2 (after the reboot; nothing run but checks)"
		gphase postreboot
		code=$(curl -s -o "$run/hello.out" -w '%{http_code}' --max-time 60 "http://127.0.0.1:$http_port/fn/hello" || true)
		[ "$code" = 200 ] || fail "/fn/hello from the host after the reboot: $code"
		log "host: /fn/hello through Caddy after the reboot: $code"
	fi
	log "apt purge"
	gphase purge
	if [[ " $steps " == *" upgrade "* ]]; then
		log "upgrade from $(basename "$prev_deb") to $debname"
		gphase upgrade "/root/t/prev/$(basename "$prev_deb")" "/root/t/$debname"
	else
		gphase install "/root/t/$debname" >/dev/null
	fi
	shutdown_guest poweroff
	times+=("boot2-phase $(($(date +%s) - t0))s")
fi

if [[ " $steps " == *" nomem "* ]]; then
	t0=$(date +%s)
	if [[ " $steps " != *" main "* ]]; then
		boot
		gphase install "/root/t/$debname" >/dev/null
		gphase caddy >/dev/null
		g 'bash -c "PICLOUD_TOKEN=\$(cat /var/lib/picloud/admin.token) PICLOUD_URL=http://127.0.0.1 picloud deploy /usr/share/doc/picloud/examples/hello.lua"' >/dev/null
		shutdown_guest poweroff
	fi
	boot cgroup_disable=memory
	times+=("boot3 ${boot_secs}s")
	log "boot 3: cgroup_disable=memory"
	gphase nomem
	shutdown_guest poweroff
	times+=("boot3-phase $(($(date +%s) - t0))s")
fi

log "PASS in $(($(date +%s) - t_start))s (${times[*]})"
