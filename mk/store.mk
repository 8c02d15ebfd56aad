# Store and schema (PostgreSQL layer). `make test` already covers these
# through ./...; test-store runs them alone.

.PHONY: test-store
test-store: pg ## run the store and schema tests against the local PostgreSQL
	DATABASE_URL="$$(scripts/pg.sh url)" \
		$(GO) test -race -count=1 -timeout 10m ./schema/... ./store/...

