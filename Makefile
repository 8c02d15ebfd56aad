# PiCloud — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/picloud/picloud/cli.Version=$(VERSION)
BIN     := bin

export PATH := /usr/local/go/bin:$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN{FS=":.*## "}{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/picloud and bin/picloud-worker
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: pg
pg: ## start the local PostgreSQL (scripts/pg.sh)
	@scripts/pg.sh start >/dev/null

.PHONY: stop
stop: ## stop what make run started (PiCloud and the local PostgreSQL)
	@scripts/run.sh stop || true
	@scripts/pg.sh stop

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## gofmt, go mod tidy -diff and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run 'go mod tidy'"; exit 1; }
	$(GO) vet ./...

-include mk/*.mk
