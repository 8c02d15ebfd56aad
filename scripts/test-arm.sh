#!/usr/bin/env bash
# scripts/test-arm.sh [ARCH...]: run the unit tests of worker/, supervisor/
# and protocol/ (the Lua sandbox and the worker boundary) as arm64 and armhf
# (ARMv7) binaries under qemu-user, so what runs on a Raspberry Pi is tested,
# not only built. ARCH is arm64 or armhf (default both).
#
# How: `go test -c` cross-compiles each package's tests (CGO_ENABLED=0, as
# the release builds). They run in a private user and mount namespace
# (unshare) holding its own binfmt_misc instance (Linux >= 6.7), in which
# qemu-user-static is registered for ARM ELF files: the tests' own
# subprocesses (the worker binary their TestMain builds with `go build`,
# which inherits GOARCH/GOARM from here, and re-executions of the test
# binary) run under qemu too, and the host's binfmt settings are untouched.
# /sys/fs/cgroup is hidden in that namespace (an empty tmpfs on top): cgroup
# limits under an emulator would limit qemu, not the worker, so the cgroup
# tests skip themselves with their reason. PICLOUD_UNDER_QEMU=1 is set for
# tests that must know (seccomp filters cannot be installed through qemu).
#
# Without unshare/binfmt_misc support the test binaries run directly under
# qemu-*-static, and tests that start subprocesses fail: the script says so.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
export PATH="/usr/local/go/bin:$PATH"
PKGS=${TEST_ARM_PKGS:-./worker ./supervisor ./protocol}
TIMEOUT=${TEST_ARM_TIMEOUT:-8m}
# Tests skipped under qemu-user (set TEST_ARM_SKIP= to run them all). The
# worker's process-sandbox tests skip themselves there (PICLOUD_UNDER_QEMU=1:
# seccomp(2) is ENOSYS under qemu-user) and the supervisor's tests find
# emulated workers by their command line. Left:
#  - TestSupervisor_KillNineMidCallThenRecovers: flaky under qemu-arm on a
#    loaded machine (1 run in 4: the call to the replacement worker sees a
#    broken transport and the worker is killed 2s later); it runs natively
#    in `make test`.
#  - TestSupervisor_MissingWorkerBinaryIsStartError: starting a binary that
#    does not exist hangs in os.StartProcess under qemu-arm (the emulated
#    child never reports its failed execve; seen twice in three armhf runs,
#    stuck in wait4 until the test timeout); it runs natively in `make test`.
DEFAULT_SKIP='^(TestSupervisor_KillNineMidCallThenRecovers|TestSupervisor_MissingWorkerBinaryIsStartError)$'
export TEST_ARM_SKIP=${TEST_ARM_SKIP-$DEFAULT_SKIP}
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(arm64 armhf)

log() { echo "test-arm: $*" >&2; }

if ! command -v qemu-aarch64-static >/dev/null || ! command -v qemu-arm-static >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		log "qemu-user-static is missing: sudo apt-get install qemu-user-static"
		exit 1
	fi
	log "installing qemu-user-static"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq qemu-user-static >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq qemu-user-static >/dev/null; }
fi

# A directory of this run's own: runs may overlap (several checkouts'
# helpers, a lead re-running it).
mkdir -p "$root/dist"
out=$(mktemp -d "$root/dist/test-arm.XXXXXX")
trap 'rm -rf "$out"' EXIT

# Compile every package's tests for every arch first (on the host).
declare -a runs=()
compile_failed=0
for arch in "${archs[@]}"; do
	case "$arch" in
	arm64) goarch=arm64 goarm= qemu=qemu-aarch64-static ;;
	armhf) goarch=arm goarm=7 qemu=qemu-arm-static ;;
	*) log "unknown arch $arch (arm64, armhf)"; exit 2 ;;
	esac
	for pkg in $PKGS; do
		name=$(basename "$pkg")
		bin=$out/$arch/$name.test
		mkdir -p "$out/$arch"
		log "compiling $pkg tests for $arch"
		if ! CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
			"$GO" test -c -vet=off -o "$bin" "$pkg"; then
			log "FAIL: $pkg tests do not compile for $arch"
			compile_failed=1
			continue
		fi
		# A package without test files produces no binary.
		[ -f "$bin" ] && runs+=("$arch $goarch ${goarm:-_} $qemu $pkg $bin")
	done
done

# The runner: executed inside the namespace (or directly as a fallback).
runner=$out/run.sh
cat >"$runner" <<'RUNNER'
#!/usr/bin/env bash
# $1 = mode (ns|direct); the rest: "arch goarch goarm qemu pkg bin" lines.
set -uo pipefail
mode=$1; shift
if [ "$mode" = ns ]; then
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 90
	for a in aarch64 arm; do
		grep -v '^#' "/usr/lib/binfmt.d/qemu-$a.conf" | tr -d '\n' >/proc/sys/fs/binfmt_misc/register || exit 91
	done
	mount -t tmpfs -o ro,size=64k,mode=0755 picloud-no-cgroups /sys/fs/cgroup || exit 92
fi
fail=0
for r in "$@"; do
	read -r arch goarch goarm qemu pkg bin <<<"$r"
	[ "$goarm" = _ ] && goarm=
	echo "=== $pkg on $arch (qemu-user, $mode)"
	if [ "$mode" = ns ]; then cmd=("$bin"); else cmd=("$qemu" "$bin"); fi
	run_pkg() {
		(cd "$pkg" && env GOARCH="$goarch" GOARM="$goarm" CGO_ENABLED=0 PICLOUD_UNDER_QEMU=1 \
			"${cmd[@]}" -test.timeout "$TIMEOUT" -test.count 1 ${TEST_ARM_RUN:+-test.run "$TEST_ARM_RUN"} \
			${TEST_ARM_SKIP:+-test.skip "$TEST_ARM_SKIP"} ${TEST_ARM_VERBOSE:+-test.v})
	}
	if run_pkg >"$bin.log" 2>&1; then
		cat "$bin.log"
		echo "--- ok   $pkg on $arch"
		continue
	fi
	# qemu-user can deadlock a child between fork and exec when the
	# emulated parent has many threads (seen once here, under heavy load:
	# os.StartProcess stuck in wait4 for 25 minutes). That is the
	# emulator, not PiCloud, so a package that failed gets one more run;
	# the first failure stays in the output, and a second one fails.
	tail -n 40 "$bin.log"
	echo "--- FAIL (first run) $pkg on $arch: running it once more"
	if run_pkg; then
		echo "--- ok   $pkg on $arch (second run)"
	else
		echo "--- FAIL $pkg on $arch"
		fail=1
	fi
done
exit $fail
RUNNER
chmod +x "$runner"
export TIMEOUT

[ -n "$TEST_ARM_SKIP" ] && log "skipping under qemu (see DEFAULT_SKIP in this script): $TEST_ARM_SKIP"

if unshare --user --map-root-user --mount --propagation private true 2>/dev/null; then
	set +e
	unshare --user --map-root-user --mount --propagation private "$runner" ns "${runs[@]}"
	rc=$?
	set -e
	if [ $rc -lt 90 ]; then
		[ $compile_failed = 0 ] || rc=1
		[ $rc -eq 0 ] && log "all passed" || log "FAILED"
		exit $rc
	fi
	log "no private binfmt_misc here (step $rc failed; needs Linux >= 6.7): running the test binaries directly under qemu"
fi
log "tests that start subprocesses cannot run ARM binaries without binfmt_misc and may fail"
rc=0
"$runner" direct "${runs[@]}" || rc=$?
[ $compile_failed = 0 ] || rc=1
exit $rc
