#!/usr/bin/env bash
# scripts/vm-image.sh ARCH: build (or reuse) the Debian 12 guest image that
# scripts/test-vm.sh boots, and print the directory holding it:
#   root.img (raw ext4), vmlinuz, initrd.img, id_ed25519 (root's ssh key).
#
# The image is cached outside the repository in $PICLOUD_VM_CACHE
# (/var/cache/picloud-vm), under a key made of the arch, the suite, the
# package list and this script's guest configuration, so a rerun (or any
# checkout with the same recipe) reuses it. mmdebstrap builds the tree from
# Debian's mirror; initramfs-tools is told to include only the few modules
# a virtio guest needs (MODULES=list): the stock initrd takes minutes to
# build, and far longer under qemu-user for arm64.
set -euo pipefail

arch=${1:-amd64}
cache=${PICLOUD_VM_CACHE:-/var/cache/picloud-vm}
suite=bookworm
mirror=${PICLOUD_VM_MIRROR:-http://deb.debian.org/debian}

log() { echo "vm-image: $*" >&2; }

case "$arch" in
amd64) kernel_pkg=linux-image-amd64 console=ttyS0 modules="virtio_pci virtio_blk virtio_net ext4 crc32c_generic" ;;
arm64) kernel_pkg=linux-image-arm64 console=ttyAMA0 modules="virtio_pci virtio_mmio virtio_blk virtio_net ext4 crc32c_generic" ;;
*) log "unknown arch $arch (amd64, arm64)"; exit 2 ;;
esac

# What the guest has: systemd as PID 1, PostgreSQL and Caddy from Debian
# (the package's recommends and suggests: the guest has no network to fetch
# them), sshd for the test to drive it, curl for the checks.
packages=(systemd systemd-sysv udev dbus "$kernel_pkg" initramfs-tools kmod
	postgresql caddy openssh-server curl iproute2 procps psmisc)

# Guest configuration, run by mmdebstrap after the packages are installed
# ($1 is the root). Part of the cache key.
customize=$(cat <<'HOOK'
set -e
r=$1
echo picloud-vm >"$r/etc/hostname"
printf '127.0.1.1\tpicloud-vm\n' >>"$r/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$r/etc/fstab"
cat >"$r/etc/systemd/network/10-virtio.network" <<NET
[Match]
Name=e*
[Network]
DHCP=ipv4
LinkLocalAddressing=no
NET
chroot "$r" systemctl enable systemd-networkd.service >/dev/null 2>&1
# No network beyond the host's loopback forwarding: nothing to update,
# nothing to wait for.
chroot "$r" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer man-db.timer systemd-networkd-wait-online.service >/dev/null 2>&1 || true
mkdir -p "$r/root/.ssh"
chmod 0700 "$r/root/.ssh"
cp "$PICLOUD_VM_KEY.pub" "$r/root/.ssh/authorized_keys"
chmod 0600 "$r/root/.ssh/authorized_keys"
mkdir -p "$r/etc/ssh/sshd_config.d"
printf 'UseDNS no\nPasswordAuthentication no\n' >"$r/etc/ssh/sshd_config.d/picloud-vm.conf"
passwd -R "$r" -d root >/dev/null
rm -f "$r/etc/machine-id" "$r/var/lib/dbus/machine-id"
: >"$r/etc/machine-id"
HOOK
)

key=$(printf '%s\n' "$arch" "$suite" "$mirror" "${packages[*]}" "$modules" "$console" "$customize" | sha256sum | cut -c1-16)
dir=$cache/$arch-$key
if [ -f "$dir/root.img" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ] && [ -f "$dir/id_ed25519" ]; then
	log "reusing $dir"
	echo "$dir"
	exit 0
fi

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
if [ "$arch" != amd64 ] && ! [ -e /usr/bin/qemu-aarch64-static ] && ! [ -e /usr/bin/qemu-aarch64 ]; then
	need+=(qemu-user-static)
fi
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

# Foreign arch: mmdebstrap runs the guest's maintainer scripts through
# qemu-user, which needs binfmt_misc mounted and the entry enabled; put both
# back afterwards.
restore_binfmt=()
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
	if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
		restore_binfmt+=("umount /proc/sys/fs/binfmt_misc")
	fi
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		# Registered by hand (binfmt-support may be missing), with the
		# magic Debian's qemu-user-static ships; F: the interpreter is
		# opened now, so it works inside the chroot.
		b=/usr/share/binfmts/qemu-aarch64
		printf ':qemu-aarch64:M:0:%s:%s:/usr/bin/qemu-aarch64-static:F\n' \
			"$(sed -n 's/^magic //p' "$b")" "$(sed -n 's/^mask //p' "$b")" >/proc/sys/fs/binfmt_misc/register
		restore_binfmt=("sh -c 'echo -1 >/proc/sys/fs/binfmt_misc/qemu-aarch64'" "${restore_binfmt[@]}")
	elif ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
		echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64
		restore_binfmt=("sh -c 'echo 0 >/proc/sys/fs/binfmt_misc/qemu-aarch64'" "${restore_binfmt[@]}")
	fi
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
cleanup() {
	local c
	for c in "${restore_binfmt[@]}"; do eval "$c" || true; done
	rm -rf "$work"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -C picloud-vm -f "$work/id_ed25519"
printf '%s\n' "$customize" >"$work/customize.sh"
start=$(date +%s)
log "mmdebstrap $suite $arch (${packages[*]}) into $work/root"
PICLOUD_VM_KEY=$work/id_ed25519 mmdebstrap --quiet --variant=apt --arch="$arch" --format=directory \
	--include="$(IFS=,; echo "${packages[*]}")" \
	--setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
	--setup-hook="echo MODULES=list >\"\$1/etc/initramfs-tools/conf.d/picloud-vm.conf\"" \
	--setup-hook="printf '%s\n' $modules >\"\$1/usr/share/initramfs-tools/modules.d/picloud-vm\"" \
	--customize-hook="sh $work/customize.sh \"\$1\"" \
	"$suite" "$work/root" "$mirror" >&2
log "mmdebstrap took $(($(date +%s) - start))s"
cp "$(ls "$work"/root/boot/vmlinuz-* | sort -V | tail -1)" "$work/vmlinuz"
cp "$(ls "$work"/root/boot/initrd.img-* | sort -V | tail -1)" "$work/initrd.img"
log "initrd $(du -h "$work/initrd.img" | cut -f1)"
mkfs.ext4 -q -L picloud-root -d "$work/root" "$work/root.img" 4G >&2
rm -rf "$work/root"
rm -f "$work/customize.sh"
mkdir -p "$dir"
mv "$work/root.img" "$work/vmlinuz" "$work/initrd.img" "$work/id_ed25519" "$work/id_ed25519.pub" "$dir/"
log "built $dir in $(($(date +%s) - start))s"
echo "$dir"
