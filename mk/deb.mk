# Packaging, systemd unit, metrics and cross-architecture targets (issue 5).
# Scripts: packaging/build-deb.sh, scripts/test-deb.sh, scripts/test-arm.sh.

DEB_ARCHS ?= amd64 arm64 armhf
TOOLS     := .picloud/tools
# promtool comes from Debian's prometheus package, unpacked (installing the
# package would also install and start a Prometheus server).
PROMTOOL  ?= $(or $(shell command -v promtool 2>/dev/null),$(CURDIR)/$(TOOLS)/prometheus/usr/bin/promtool)

.PHONY: deb
deb: ## build dist/picloud_<version>_{amd64,arm64,armhf}.deb (DEB_ARCHS=...)
	VERSION='$(VERSION)' GO='$(GO)' packaging/build-deb.sh $(DEB_ARCHS)

.PHONY: test-deb
test-deb: ## install the amd64 .deb, run it behind Caddy, remove and purge it (root)
	VERSION='$(VERSION)' GO='$(GO)' scripts/test-deb.sh

.PHONY: test-arm
test-arm: ## run worker/supervisor/protocol tests for arm64 and armhf under qemu-user
	GO='$(GO)' scripts/test-arm.sh

.PHONY: test-metrics
test-metrics: $(PROMTOOL) ## metrics and sdnotify tests, with promtool check metrics
	PROMTOOL='$(PROMTOOL)' $(GO) test -race -count=1 ./metrics/... ./sdnotify/...

$(CURDIR)/$(TOOLS)/prometheus/usr/bin/promtool:
	@mkdir -p $(TOOLS)/prometheus
	cd $(TOOLS)/prometheus && rm -f prometheus_*.deb && \
		{ apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; } && \
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool && rm -f prometheus_*.deb
	@$@ --version | head -1

.PHONY: test-unit
test-unit: ## systemd-analyze verify the unit (must print nothing) and show its security exposure
	@command -v systemd-analyze >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }; }
	@root=$$(mktemp -d) && trap 'rm -rf "$$root"' EXIT && \
	mkdir -p "$$root/usr/bin" "$$root/etc/picloud" "$$root/lib/systemd" && \
	cp -a /lib/systemd/system "$$root/lib/systemd/" && \
	cp systemd/picloud.service "$$root/lib/systemd/system/" && \
	cp packaging/picloud.env "$$root/etc/picloud/" && \
	cp /bin/true "$$root/usr/bin/picloud" && \
	out=$$(systemd-analyze verify --man=no --root="$$root" "$$root/lib/systemd/system/picloud.service" 2>&1) ; rc=$$? ; \
	if [ $$rc -ne 0 ] || [ -n "$$out" ]; then echo "systemd-analyze verify (rc $$rc):"; echo "$$out"; exit 1; fi; \
	echo "systemd-analyze verify systemd/picloud.service: clean"; \
	systemd-analyze security --offline=true --root="$$root" picloud.service 2>&1 | tail -1
