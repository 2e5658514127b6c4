#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The demo: cupule boots Debian's kernel into a busybox shell on the
# terminal, on this machine's KVM when it has hardware virtualisation, else
# inside the nested test host (see run-in-host.sh).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")

# Second stage, where the guest can boot.
if [ "${1:-}" = --boot ]; then
	exec "$cupule" run "$2"
fi

if [ ! -x "$cupule" ]; then
	echo "demo: $cupule is missing (run make)" >&2
	exit 1
fi
"$testbed/fetch-kernel.sh" >/dev/null
"$testbed/mkguest.sh" >/dev/null
mkdir -p "$repo/.cache/demo"
cfg=$repo/.cache/demo/demo.cfg
cat >"$cfg" <<EOF
vms = ( {
	name = "demo";
	memory = "256M";
	vcpus = 2;
	kernel = "$repo/.cache/kernel/vmlinuz";
	initrd = "$repo/.cache/guest.cpio.gz";
	cmdline = "console=ttyS0 quiet cupule.test=shell";
	console = "stdio";
	on_reboot = "exit";
} );
EOF

if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
	echo "demo: cupule boots a Linux guest (2 vCPUs, 256M) to a busybox shell here;" \
		"leave with 'poweroff -f' or 'exit' at the guest's shell."
else
	echo "demo: no hardware KVM, so cupule boots a Linux guest (2 vCPUs, 256M) to a" \
		"busybox shell inside the nested test host, about a minute; leave with" \
		"'poweroff -f' or 'exit' at the guest's shell (Ctrl-A x stops the test host)."
fi
[ -t 0 ] || echo "demo: standard input is not a terminal: the guest's shell will get no input" >&2
exec "$testbed/run-in-host.sh" --timeout 0 "$0" --boot "$cfg"
