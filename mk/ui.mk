# The dashboard (api/ui/, api/ui*.go, e2e/dashboard). Its assets are plain
# HTML, CSS and ES modules embedded with go:embed: no Node.js, no build
# step, so there is no bundle that could drift from its source.

.PHONY: ui-size
ui-size: ## print the dashboard's asset sizes, gzipped, against its budgets
	@$(GO) test -count=1 -run 'TestUIAssets_WithinBudget' -v ./api/ | grep -E 'bytes|budget|FAIL|ok'

.PHONY: test-ui
test-ui: pg build chromium ## dashboard journey in headless Chromium (screenshots in .picloud/artifacts/dashboard)
	set -o pipefail; DATABASE_URL="$$(scripts/pg.sh url)" PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" $(GO) test -race -count=1 -timeout 10m -v -run . ./e2e/dashboard/ | grep -vE '\[(INFO|DEBUG)\]'

# chromium installs Debian's chromium package when it is missing (root).
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || { \
		echo "installing Debian's chromium (one time)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; }

# The realtime client's source is clients/js/picloud-realtime.js; the
# dashboard serves (and uses) the copy in api/ui/, which go:embed can reach.
.PHONY: ui
ui: ## copy clients/js/picloud-realtime.js into the dashboard's assets
	cp clients/js/picloud-realtime.js api/ui/picloud-realtime.js
