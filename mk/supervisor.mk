# Supervisor: worker pools, cgroups (issue 2). Included by the Makefile.

.PHONY: test-supervisor
test-supervisor: ## supervisor tests (real workers; cgroup tests need root)
	$(GO) test -race -count=1 ./supervisor/...

.PHONY: bench-supervisor
bench-supervisor: ## supervisor benchmarks (figures in bench/supervisor.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./supervisor/
