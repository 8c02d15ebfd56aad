# make run, the HTTP tests and the HTTP benchmark (owner: the HTTP server).

.PHONY: run
run: ## start PiCloud on 127.0.0.1:8080 with the example `hello` deployed
	@scripts/run.sh start

.PHONY: test-http
test-http: ## API, server and end-to-end tests through the real binaries (starts PostgreSQL)
	DATABASE_URL=$${DATABASE_URL:-$$(scripts/pg.sh start)} $(GO) test -race -count=1 ./api/... ./server/... ./e2e/...

.PHONY: bench-http
bench-http: ## benchmark /fn/hello against a bare Go handler (bench/http.md)
	@bench/http.sh

.PHONY: soak
soak: ## 30 minutes of mixed load (sync, async, events, SSE, deploys, memory bombs, crashes) against one node; SOAK_DURATION=5m for less
	@bench/soak.sh $${SOAK_DURATION:-30m}

.PHONY: bench-blobs
bench-blobs: ## RSS growth of picloud serve while a 500 MiB blob streams in and out (BENCHMARKS.md)
	@bench/blobs.sh
