#!/usr/bin/env bash
# packaging/build-deb.sh [ARCH...]: build dist/picloud_<version>_<arch>.deb
# for each Debian ARCH (amd64, arm64, armhf; default all three) with nfpm.
#
# The binaries are built here for each arch exactly as `make build` builds
# them (CGO_ENABLED=0, -trimpath, the same -ldflags with the version from
# git), from ./cmd/picloud and, when it exists, ./cmd/picloud-worker.
# armhf is ARMv7 (GOARM=7): Raspberry Pi 2 and later on 32-bit Raspberry Pi
# OS. Pi Zero/Zero W and Pi 1 are ARMv6 and not targeted (a GOARM=6 build
# would run there, but Debian's armhf port assumes ARMv7 anyway).
#
# Environment: VERSION (git describe string, default from git), GO (go),
# NFPM_VERSION (pinned below), DIST (dist).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
NFPM_VERSION=${NFPM_VERSION:-v2.45.2}
DIST=${DIST:-$root/dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
LDFLAGS="-s -w -X github.com/picloud/picloud/cli.Version=$VERSION"
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64 armhf)

log() { echo "build-deb: $*" >&2; }

deb_version=$("$root/packaging/version.sh" "$VERSION")

# nfpm is built once from the module proxy into .picloud/tools (our go.mod
# does not carry it).
tools=$root/.picloud/tools/nfpm-$NFPM_VERSION
nfpm=$tools/nfpm
if [ ! -x "$nfpm" ]; then
	log "installing nfpm $NFPM_VERSION into $tools"
	mkdir -p "$tools"
	GOBIN=$tools GOFLAGS=-mod=mod "$GO" install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
fi

# Reproducible timestamps: the last commit's time when there is one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")

# This run's own staging directory (runs may overlap).
mkdir -p "$DIST"
stage_root=$(mktemp -d "$DIST/stage.XXXXXX")
trap 'rm -rf "$stage_root"' EXIT
mkdir -p "$stage_root/common"
common=$stage_root/common

# Native package (no Debian revision): lintian wants changelog.gz.
cat >"$common/changelog" <<CHANGELOG
picloud ($deb_version) unstable; urgency=medium

  * Built from git $VERSION.

 -- PiCloud developers <picloud@users.noreply.github.com>  $changelog_date
CHANGELOG
gzip -9n <"$common/changelog" >"$common/changelog.gz"
gzip -9n <"$root/packaging/picloud.1" >"$common/picloud.1.gz"
cp "$root/docs/packaging.md" "$common/README.Debian"

cmds=(./cmd/picloud)
[ -d cmd/picloud-worker ] && ls cmd/picloud-worker/*.go >/dev/null 2>&1 && cmds+=(./cmd/picloud-worker)

mkdir -p "$DIST"
for arch in "${archs[@]}"; do
	case "$arch" in
	amd64) goarch=amd64 goarm= nfpm_arch=amd64 ;;
	arm64) goarch=arm64 goarm= nfpm_arch=arm64 ;;
	armhf) goarch=arm goarm=7 nfpm_arch=arm7 ;;
	*) log "unknown arch $arch (amd64, arm64, armhf)"; exit 2 ;;
	esac
	stage=$stage_root/$arch
	mkdir -p "$stage/bin"
	cp "$common"/changelog.gz "$common"/picloud.1.gz "$common"/README.Debian "$stage/"
	log "building ${cmds[*]} for linux/$goarch${goarm:+ GOARM=$goarm}"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
		"$GO" build -trimpath -ldflags "$LDFLAGS" -o "$stage/bin/" "${cmds[@]}"

	cfg=$stage/nfpm.yaml
	{
		cat "$root/packaging/nfpm.yaml"
		if [ -f "$stage/bin/picloud-worker" ]; then
			cat <<'YAML'
  - src: ${PICLOUD_STAGE}/bin/picloud-worker
    dst: /usr/bin/picloud-worker
    file_info:
      mode: 0755
  - src: picloud.1.gz
    dst: /usr/share/man/man1/picloud-worker.1.gz
    type: symlink
YAML
		fi
		if ls "$root"/examples/*.lua >/dev/null 2>&1; then
			cat <<'YAML'
  - src: ${PICLOUD_ROOT}/examples/*.lua
    dst: /usr/share/doc/picloud/examples/
    file_info:
      mode: 0644
YAML
		fi
	} | sed -e "s|\${PICLOUD_DEB_VERSION}|$deb_version|g" -e "s|\${PICLOUD_DEB_ARCH}|$nfpm_arch|g" \
		-e "s|\${PICLOUD_STAGE}|$stage|g" -e "s|\${PICLOUD_ROOT}|$root|g" >"$cfg"
	if grep -n '\${' "$cfg"; then
		log "unexpanded variable in $cfg"
		exit 1
	fi

	out=$DIST/picloud_${deb_version}_${arch}.deb
	rm -f "$out"
	"$nfpm" package --config "$cfg" --packager deb --target "$out" >&2
	log "$(du -h "$out" | cut -f1)	$out"
done
