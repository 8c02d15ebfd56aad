# Outbound HTTP of functions (issue 13). Included by the Makefile.

.PHONY: test-outbound
test-outbound: ## outbound HTTP tests: address classes, grants, caps (local servers only)
	$(GO) test -race -count=1 ./outbound/...

.PHONY: bench-outbound
bench-outbound: ## outbound calls/s through the supervisor vs a direct Go client (BENCHMARKS.md)
	$(GO) test -run '^$$' -bench Outbound -benchtime 2s -count 3 ./supervisor/
