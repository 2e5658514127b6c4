#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# mkprog.sh OUT PROGRAM...
#
# Builds OUT, a cpio to append to a guest's initramfs, holding each
# PROGRAM of this machine (found in PATH) at /usr/bin/PROGRAM with every
# shared library it loads, the dynamic loader included, at the same
# paths: the guest runs Debian's fio or iperf3 as they are here.  OUT is
# compressed by its name's ending: .zst with zstd, else gzip.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 OUT PROGRAM..." >&2; exit 2; }
out=$1
shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/bin"
for prog in "$@"; do
	bin=$(command -v "$prog") || { echo "mkprog: no $prog here" >&2; exit 1; }
	cp -L "$bin" "$stage/usr/bin/$prog"
	for lib in $(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done
case $out in
*.zst) compress=(zstd -q -T0 -10) ;;
*) compress=(gzip -6n) ;;
esac
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --quiet | "${compress[@]}") >"$out.tmp"
mv "$out.tmp" "$out"
