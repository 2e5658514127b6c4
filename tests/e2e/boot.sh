#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end boot test: build/bin/cupule (or $CUPULE_BIN) boots Debian's
# kernel with the busybox guest of mkguest.sh, inside the test host when
# this machine has no hardware virtualisation (one boot shared by all the
# cases).  Prints PASS/FAIL per case and "N passed, M failed"; exits 0 when
# all passed, 77 when no Linux guest can run here at all.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
# shellcheck source=tests/e2e/lib.sh
. "$repo/tests/e2e/lib.sh"
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest.cpio.gz
vm_timeout=240		# one guest boot; about 30 s in the test host
e2e_deadline=300	# past vm_timeout: the test host's kernel is stuck
cases="poweroff reboot broken_kernel"

# Writes DIR/vm.cfg for one VM whose console goes to DIR/console.log.
# write_scenario DIR VCPUS MEMORY KERNEL TEST
write_scenario() {
	cat >"$1/vm.cfg" <<EOF
vms = ( {
	name = "e2e";
	memory = "$3";
	vcpus = $2;
	kernel = "$4";
	initrd = "$initrd";
	cmdline = "console=ttyS0 quiet panic=-1 cupule.test=$5";
	console = "file:console.log";
	on_reboot = "exit";
} );
EOF
}

# Runs cupule on DIR/vm.cfg; its output goes to DIR/cupule.log.  Sets rc.
run_cupule() {
	rc=0
	timeout -k 5 "$vm_timeout" "$cupule" run "$1/vm.cfg" \
		>"$1/cupule.log" 2>&1 </dev/null || rc=$?
	tr -d '\r' <"$1/console.log" >"$1/console.txt" 2>/dev/null || : >"$1/console.txt"
	if [ "$rc" -eq 124 ]; then
		echo "cupule still running after $vm_timeout s"
		return 1
	fi
}

# marker DIR NAME: the value of "CUPULE-GUEST: NAME=..." on the console,
# without a kernel line the console may have printed into the middle of
# it ("cpus=2[   26.57] reboot: Power down").
marker() {
	sed -n "/CUPULE-GUEST: $2=/{s/^.*CUPULE-GUEST: $2=//;s/\[ *[0-9][0-9]*\.[0-9]*\].*//;p;q}" \
		"$1/console.txt"
}

guest_booted() {
	grep -q 'CUPULE-GUEST: init' "$1/console.txt" ||
		{ echo "no 'CUPULE-GUEST: init' on the console"; return 1; }
}

case_poweroff() {
	local d=$1 cpus memkb pci
	write_scenario "$d" 2 256M "$kernel" poweroff
	run_cupule "$d" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	guest_booted "$d" || return 1
	cpus=$(marker "$d" cpus)
	[ "$cpus" = 2 ] || { echo "guest saw cpus=$cpus, not 2"; return 1; }
	memkb=$(marker "$d" memkb)
	if ! [[ $memkb =~ ^[0-9]+$ ]] || [ "$memkb" -lt 200000 ] || [ "$memkb" -gt 262144 ]; then
		echo "guest saw memkb=$memkb, not in 200000-262144"
		return 1
	fi
	pci=$(marker "$d" pci)
	[[ " $pci " == *" 8086:1237 "* ]] ||
		{ echo "no host bridge 8086:1237 in pci=$pci"; return 1; }
}

case_reboot() {
	local d=$1
	write_scenario "$d" 1 128M "$kernel" reboot
	run_cupule "$d" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	guest_booted "$d"
}

case_broken_kernel() {
	local d=$1 size
	size=$(stat -L -c %s "$kernel")
	head -c $((size / 2)) "$kernel" >"$d/vmlinuz-truncated"
	write_scenario "$d" 1 128M "$d/vmlinuz-truncated" poweroff
	run_cupule "$d" || return 1
	[ "$rc" -ne 0 ] || { echo "cupule exited 0 on a truncated kernel"; return 1; }
	grep -qi kernel "$d/cupule.log" ||
		{ echo "cupule exited $rc without an error mentioning the kernel"; return 1; }
}

inner() {
	# shellcheck disable=SC2086
	e2e_run boot $cases
}

if [ "${1:-}" = --inner ]; then
	inner
	exit
fi

if ! { [ -c /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; } &&
   ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: no hardware KVM and no qemu-system-x86_64 for the test host: no way to boot a Linux guest here"
	exit 77
fi
"$testbed/fetch-kernel.sh" >/dev/null
"$testbed/mkguest.sh" >/dev/null
CUPULE_BIN=$cupule "$testbed/run-in-host.sh" --timeout 1200 "$0" --inner
