# The real-host test (issue 9): a Debian 12 guest with systemd and cgroup v2
# under qemu (TCG). Scripts: scripts/test-vm.sh, scripts/vm-image.sh,
# scripts/vm/. The guest image is cached in /var/cache/picloud-vm.

.PHONY: test-vm
test-vm: ## as root: install the amd64 .deb in a Debian 12 guest (systemd, cgroup v2) under qemu; limits, reboot, upgrade, purge
	VERSION='$(VERSION)' GO='$(GO)' scripts/test-vm.sh amd64

.PHONY: test-vm-arm64
test-vm-arm64: ## as root: the same on an arm64 guest (qemu-system-aarch64 -M virt); slow, not in make test
	VERSION='$(VERSION)' GO='$(GO)' scripts/test-vm.sh arm64
