# Supervisor: worker pools, cgroups (issue 2). Included by the Makefile.

.PHONY: test-supervisor
test-supervisor: ## supervisor tests (real workers; cgroup tests need root)
	$(GO) test -race -count=1 ./supervisor/...

.PHONY: bench-supervisor
bench-supervisor: ## supervisor benchmarks (figures in bench/supervisor.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./supervisor/

.PHONY: bench-spares
bench-spares: ## cold start with a spare vs without vs a bare exec of the worker (p50/p90/p99), and an idle spare's cost over 60 s (figures in bench/supervisor.md)
	uptime
	$(GO) test -run '^$$' -bench 'ColdStart$$|ColdStartSpare|BareForkExec' -benchtime 200x -count 1 ./supervisor/
	PICLOUD_BENCH_IDLE=60s $(GO) test -run '^$$' -bench IdleSpare -benchtime 1x -count 1 ./supervisor/
	uptime
