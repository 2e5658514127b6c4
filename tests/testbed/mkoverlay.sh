#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# mkoverlay.sh OUT SCRIPT [MODULE...]
#
# Builds OUT, a gzip'ed cpio to append to .cache/guest.cpio.gz (the
# kernel unpacks concatenated archives in order): the given kernel
# modules from .cache/kernel (decompressed, busybox insmod reads plain
# .ko only), listed in load order in /modules, and SCRIPT as /test.sh,
# which the guest's init runs when the command line has
# cupule.test=script.  /test.sh should start with ". /load-modules".
# CUPULE_OVERLAY_FILES="SRC:/DST ..." adds files (programs the test
# built, say) at DST.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kmods=$repo/.cache/kernel/modules
[ $# -ge 2 ] || { echo "usage: $0 OUT SCRIPT [MODULE...]" >&2; exit 2; }
out=$1 script=$2
shift 2

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/modules"
: >"$stage/modules"
for m in "$@"; do
	base=${m//-/_}
	file=$(find -L "$kmods/kernel" \( -name "$m.ko*" -o -name "$base.ko*" \) -print -quit)
	if [ -z "$file" ]; then
		# Built into this kernel: nothing to load.
		grep -Eq "/($m|$base)\.ko" "$kmods/modules.builtin" && continue
		echo "mkoverlay: module $m not found in $kmods" >&2
		exit 1
	fi
	case $file in
	*.ko) cp "$file" "$stage/lib/modules/$base.ko" ;;
	*.ko.xz) xz -dc "$file" >"$stage/lib/modules/$base.ko" ;;
	*.ko.zst) zstd -qdc "$file" >"$stage/lib/modules/$base.ko" ;;
	esac
	echo "$base" >>"$stage/modules"
done
cat >"$stage/load-modules" <<'EOS'
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "CUPULE-GUEST: insmod $m failed"
done </modules
EOS
cp "$script" "$stage/test.sh"
chmod +x "$stage/test.sh"
for f in ${CUPULE_OVERLAY_FILES:-}; do
	mkdir -p "$stage$(dirname "${f#*:}")"
	cp "${f%%:*}" "$stage${f#*:}"
done
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -9) >"$out"
