#!/bin/sh
# packaging/version.sh [GIT_VERSION]: print the Debian package version for a
# `git describe --tags --always --dirty` string (the Makefile's VERSION,
# also baked into the binary), read from git when no argument is given.
#
#   v1.2.3                  -> 1.2.3
#   v1.2.3-4-gabc1234       -> 1.2.3+4.gabc1234       (4 commits after the tag)
#   v1.2.3-rc1              -> 1.2.3~rc1              (sorts before 1.2.3)
#   v1.2.3-rc1-4-gabc-dirty -> 1.2.3~rc1+4.gabc.dirty
#   abc1234[-dirty]         -> 0.0.0~git42.abc1234[.dirty] (no tag yet; 42
#                              commits, when git knows abc1234)
#   dev / empty             -> 0.0.0~dev                  (no commit yet)
set -eu

v=${1-}
if [ $# -eq 0 ]; then
	v=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi

dirty= since=
case "$v" in *-dirty) dirty=.dirty v=${v%-dirty} ;; esac

# A tag looks like v1, v1.2.3 or 1.2 (a bare hash like 8882726 does not:
# no "v" and no dot).
kind=hash
case "$v" in
'' | dev) kind=dev ;;
*) printf '%s\n' "$v" | grep -Eq '^(v[0-9]|[0-9]+\.[0-9])' && kind=tag ;;
esac

case "$kind" in
dev)
	out=0.0.0~dev
	;;
tag)
	v=${v#v}
	# Split off "-N-gHASH" (commits since the tag) when present.
	if printf '%s\n' "$v" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
		since=$(printf '%s\n' "$v" | sed -E 's/.*-([0-9]+)-(g[0-9a-f]+)$/+\1.\2/')
		v=$(printf '%s\n' "$v" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
	fi
	# A remaining hyphen is a pre-release (v1.2.3-rc1): sort it first.
	v=$(printf '%s\n' "$v" | sed 's/-/~/')
	out=$v$since
	;;
*)
	# Untagged builds sort by their commit count, so an upgrade from an
	# older untagged build is not a downgrade (the hash alone does not
	# sort).
	n=$(git rev-list --count "$v" 2>/dev/null || true)
	out=0.0.0~git$n.$v
	;;
esac

case "$since$dirty" in
+*) out=$out$dirty ;;
.dirty) case "$out" in *~dev | *~git*) out=$out$dirty ;; *) out=$out+dirty ;; esac ;;
esac

# Debian allows [A-Za-z0-9.+~] (no hyphen: the package is native).
out=$(printf '%s' "$out" | tr -c 'A-Za-z0-9.+~' '.')
case "$out" in
[0-9]*) printf '%s\n' "$out" ;;
*) echo "version.sh: cannot make a Debian version of '$v'" >&2; exit 1 ;;
esac
