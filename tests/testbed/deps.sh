#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Installs the Debian packages that building and testing cupule need.
# Only asks apt when something is missing, so a second run is a quick
# no-op.  Exits non-zero when an install fails.
set -euo pipefail

packages=(
	gcc make pkg-config libconfig-dev libjson-c-dev check libsubunit-dev libevent-dev
	libseccomp-dev qemu-system-x86 busybox-static cpio xz-utils zstd
	acpica-tools kmod binutils liburing-dev clang libclang-rt-14-dev
	iproute2 python3 iperf3
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq ||
   ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null; then
	echo "deps: FAILED to install: ${missing[*]}" >&2
	exit 1
fi
