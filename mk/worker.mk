# Worker and protocol: the sandboxed Lua subprocess and its RPC (issue 2).
# Included by the Makefile.

.PHONY: test-worker
test-worker: ## worker and protocol tests (real worker subprocesses)
	$(GO) test -race -count=1 ./worker/... ./protocol/...

.PHONY: bench-worker
bench-worker: ## worker benchmarks: RPC vs raw echo, cold start, idle RSS (figures in bench/worker.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./protocol/

.PHONY: strace-worker
strace-worker: ## count a busy sandboxed worker's system calls (the seccomp allow-list's measurement)
	scripts/strace-worker.sh
