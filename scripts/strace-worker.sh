#!/usr/bin/env bash
# scripts/strace-worker.sh [OUT]: count the system calls of a busy, sandboxed
# worker (strace -f -c, attached once its function is loaded) for the seccomp
# allow-list in worker/seccomp_linux.go: 8 clients x 300 calls with
# kv/secrets/events host calls, logs, json, script errors, timeouts and a
# memory bomb, Stats calls, 3 s idle, then a graceful stop. The errors
# column shows calls the filter refused: it must stay empty but for the
# runtime's expected EAGAIN/ETIMEDOUT/EINTR (futex, read, accept4,
# rt_sigreturn) and unlinkat of a directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-/tmp/picloud-strace-worker.txt}
command -v strace >/dev/null || { echo "strace-worker: install strace" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$tmp/picloud-worker" ./cmd/picloud-worker
go run ./bench/straceworker "$tmp/picloud-worker" "$out" >/dev/null
cat "$out"
