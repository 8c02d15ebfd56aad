# The picloud command line (cli/, cmd/picloud). `make test` covers it
# through ./...; test-cli runs it alone.

.PHONY: test-cli
test-cli: pg ## CLI tests: flags, help, and end to end through bin/picloud against a real server
	DATABASE_URL="$$(scripts/pg.sh url)" $(GO) test -race -count=1 -timeout 10m ./cli/... ./cmd/picloud/...
