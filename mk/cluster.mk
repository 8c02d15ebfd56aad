# `make test-cluster`: issue 11's fault matrix (e2e/clusterfault): nodes,
# Caddy and PostgreSQL each in a network namespace of their own, killed,
# cut off and restarted under load. Needs root and iproute2; installs Caddy
# and iproute2 from Debian when missing. Skipped (with the reason) when not
# root.
CLUSTER_TEST_TIMEOUT ?= 10m

.PHONY: test-cluster
test-cluster: build ## run the cluster fault tests (root: network namespaces, Caddy, PostgreSQL)
	@if [ "$$(id -u)" = 0 ]; then \
		need=; command -v caddy >/dev/null || need="$$need caddy"; command -v ip >/dev/null || need="$$need iproute2"; \
		command -v setpriv >/dev/null || need="$$need util-linux"; \
		if [ -n "$$need" ]; then echo "installing$$need"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null 2>&1 || \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; }; fi; \
		scripts/pg.sh status >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
			{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; \
	fi
	PICLOUD_TEST_CLUSTER=1 PICLOUD_BIN_DIR="$(CURDIR)/$(BIN)" \
		$(GO) test -count=1 -v -timeout $(CLUSTER_TEST_TIMEOUT) ./e2e/clusterfault/
