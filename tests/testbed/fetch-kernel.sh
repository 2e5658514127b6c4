#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Fetches Debian's current amd64 kernel without installing it: the package
# that linux-image-amd64 depends on is downloaded and unpacked into
# .cache/kernel/, leaving there
#   vmlinuz  -> the bzImage
#   modules  -> its lib/modules/<version> folder (modules may be .ko,
#               .ko.xz or .ko.zst: decompress before giving them to busybox)
# A second run reuses what is there when the package name has not changed,
# and reuses it too when apt cannot be asked.  Prints both paths.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$repo/.cache/kernel

resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ && !n++ { print $2 }'
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
have=$(cat "$dir/package" 2>/dev/null || true)
if [ -z "$pkg" ]; then
	if [ -z "$have" ]; then
		echo "fetch-kernel: apt-cache cannot resolve linux-image-amd64" >&2
		exit 1
	fi
	echo "fetch-kernel: apt-cache knows no kernel, reusing $have" >&2
	pkg=$have
fi

if [ "$have" != "$pkg" ] || [ ! -e "$dir/vmlinuz" ] || [ ! -d "$dir/modules/" ]; then
	echo "fetch-kernel: downloading $pkg" >&2
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	sandbox=()
	# apt's _apt user cannot write into a root-owned cache folder.
	[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
	(cd "$dir/dl" && apt-get download -qq "${sandbox[@]}" "$pkg")
	dpkg -x "$dir"/dl/"${pkg}"_*.deb "$dir/root"
	rm -rf "$dir/dl"
	images=("$dir"/root/boot/vmlinuz-*)
	if [ ${#images[@]} -ne 1 ] || [ ! -f "${images[0]}" ]; then
		echo "fetch-kernel: $pkg holds no single boot/vmlinuz-*" >&2
		exit 1
	fi
	ver=${images[0]##*/vmlinuz-}
	ln -sfn "root/boot/vmlinuz-$ver" "$dir/vmlinuz"
	ln -sfn "root/lib/modules/$ver" "$dir/modules"
	echo "$pkg" >"$dir/package"
fi
echo "$dir/vmlinuz"
echo "$dir/modules"
