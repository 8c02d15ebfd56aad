# Events: async invocations, topics, triggers, retries, dead letters, cron,
# the SSE stream (package events, store/events*.go, cli/events.go).

.PHONY: test-events
test-events: pg ## events tests: queue semantics, cron, SSE over 127.0.0.1 (and curl), kill -9 and two servers end to end
	DATABASE_URL="$$(scripts/pg.sh url)" PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" \
		$(GO) test -race -count=1 -timeout 15m ./events/...

.PHONY: bench-events
bench-events: pg ## events benchmarks: River alone side by side with end-to-end events/s (single and batch publishes), publish latency, idle cost (figures in bench/events.md)
	DATABASE_URL="$$(scripts/pg.sh url)" PICLOUD_BENCH=1 PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" \
		$(GO) test -count=1 -run 'TestBench' -v -timeout 20m ./events/
