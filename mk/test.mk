# Extra test targets (packaging, cross-arch...) that `make test` runs after the Go tests.
TEST_EXTRA ?= test-metrics test-unit test-fuzz test-arm test-deb test-cluster test-vm

# `make test`: every test a fresh machine can run. CI calls it through .ci/run.
TEST_TIMEOUT ?= 30m

.PHONY: test
test: lint pg build test-deps ## run every test (starts PostgreSQL; installs what the tests need)
	DATABASE_URL="$$(scripts/pg.sh url)" PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

.PHONY: test-go
test-go: pg build ## run the Go tests only
	DATABASE_URL="$$(scripts/pg.sh url)" PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Tools the Go tests use when present (curl reads the event stream in one
# test); installed when missing and root, so a fresh machine runs them too.
.PHONY: test-deps
test-deps: chromium
	@command -v curl >/dev/null || [ "$$(id -u)" != 0 ] || { \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }; }

# `make test-fuzz`: each fuzz target for FUZZ_TIME from its seed corpus (and
# testdata/fuzz); a failing input is written to testdata/fuzz/<target>/.
FUZZ_TIME ?= 10s
FUZZ_TARGETS ?= ./protocol/wire:FuzzDecodeFrames ./protocol/wire:FuzzClientConnReadsWorker ./worker:FuzzJSONBridge

.PHONY: test-fuzz
test-fuzz: ## run every fuzz target briefly (FUZZ_TIME each: frame decoder, JSON bridge)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZ_TIME))"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZ_TIME) $${t%%:*} || exit 1; \
	done
