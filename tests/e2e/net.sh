#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end test of cupule-net with Debian's kernel and stock
# virtio_net: a guest on a tap reaches the test host (ping, 100 MiB over
# TCP checked by md5, the MAC the scenario gave), and two guests joined
# by a cupule switch do the same with each other (32 MiB).  One
# test-host boot for all cases (see boot.sh for the shape).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
# shellcheck source=tests/e2e/lib.sh
. "$repo/tests/e2e/lib.sh"
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest-net.cpio.gz
vm_timeout=400
cases=${CUPULE_E2E_CASES:-"tap switch"}
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci failover net_failover virtio_net"

# vm NAME CASE IP PEER MAC BACKEND MIB: one VM entry of a scenario; a
# sender sends MIB MiB.  One
# vCPU, pinned to the test host's CPU 1, as in blk.sh: CPU 0 is left to
# the VM processes, the mediators, the switch and the test host's side
# of each transfer.
vm() {
	cat <<VM
{ name = "$1"; memory = "256M"; vcpus = 1; cpus = [ 1 ];
  kernel = "$kernel"; initrd = "$initrd";
  cmdline = "console=ttyS0 quiet panic=-1 cupule.test=script cupule.case=$2 cupule.ip=$3 cupule.peer=$4 cupule.mac=$5 cupule.mib=$7";
  console = "file:$1.log";
  devices = ( { type = "net"; id = "eth"; mac = "$5"; backend = "$6"; } ); }
VM
}

# wait_vm PID DIR: waits for cupule PID up to vm_timeout seconds; sets
# rc.  A cupule still running by then has its mediators log their state
# (SIGUSR2) before it is killed.
wait_vm() {
	local t=0
	while kill -0 "$1" 2>/dev/null && [ "$t" -lt "$vm_timeout" ]; do
		sleep 1
		t=$((t + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		pkill -USR2 -x cupule-net || true
		pkill -USR2 -x cupule-switch || true
		sleep 2
		kill -KILL "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
		echo "cupule still running after $vm_timeout s; mediators and switch said:"
		grep -ah "ring:\|status \|net: \|switch .*: port\|mac table" "$2"/cupule*.log |
			tail -n 24 || true
		return 1
	fi
	rc=0
	wait "$1" || rc=$?
}

# ok DIR VM CASE: the guest said "<case> ok".
ok() {
	grep -q "CUPULE-GUEST: $3 ok" "$1/$2.log" 2>/dev/null ||
		{ echo "vm $2: no '$3 ok':"; tail -n 5 "$1/$2.log" 2>/dev/null; return 1; }
}

# said DIR VM WHAT: the value the guest printed after "WHAT ".
said() {
	sed -n "s/\r$//; s/^CUPULE-GUEST: $3 //p" "$1/$2.log" | tail -n 1
}

# The guest on a tap: the test host is 10.0.2.1 and listens on 5001.
case_tap() {
	local srv got sent
	ip tuntap add cutap0 mode tap
	ip addr add 10.0.2.1/24 dev cutap0
	ip link set cutap0 up
	python3 "$repo/tests/e2e/tcpsink.py" 10.0.2.1 5001 600 >"$1/server.out" 2>&1 &
	srv=$!
	echo "vms = ( $(vm t tap 10.0.2.15 10.0.2.1 02:00:00:c0:ff:ee tap:cutap0 100) );" >"$1/vm.cfg"
	"$cupule" run "$1/vm.cfg" -v >"$1/cupule.log" 2>&1 </dev/null &
	wait_vm $! "$1" || { kill "$srv" 2>/dev/null; ip link del cutap0; return 1; }
	kill "$srv" 2>/dev/null || true
	ip link del cutap0
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	ok "$1" t tap || return 1
	sent=$(said "$1" t "sent md5")
	got=$(cat "$1/server.out")
	[ "$got" = "104857600 $sent" ] ||
		{ echo "the test host got '$got', the guest sent 104857600 bytes of md5 $sent"; return 1; }
}

# Two guests on one switch, 32 MiB from a to b.  Both guests share the
# test host's CPU 1 and both hash what they send or receive (md5sum in
# an emulated nested guest): the transfer is CPU-bound at 0.25 to
# 0.5 MB/s there, with no TCP retransmission (seen in the guests'
# progress lines), and 100 MiB once outlasted the 400 s.
case_switch() {
	local sent got
	echo "vms = ( $(vm a sender 10.0.3.1 10.0.3.2 02:00:00:00:03:01 switch:lan 32),
		$(vm b receiver 10.0.3.2 10.0.3.1 02:00:00:00:03:02 switch:lan 32) );" >"$1/vm.cfg"
	"$cupule" run "$1/vm.cfg" -v >"$1/cupule.log" 2>&1 </dev/null &
	wait_vm $! "$1" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	ok "$1" a sender && ok "$1" b receiver || return 1
	sent=$(said "$1" a "sent md5")
	got=$(said "$1" b "recv md5")
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
		{ echo "b received md5 '$got', a sent '$sent'"; return 1; }
	grep -q "switch lan: 2 ports" "$1/cupule.log" || { echo "no switch with 2 ports logged"; return 1; }
}

inner() {
	[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun here"; exit 77; }
	# shellcheck disable=SC2086
	e2e_run net $cases
}

if [ "${1:-}" = --inner ]; then
	inner
	exit
fi

"$testbed/fetch-kernel.sh" >/dev/null
"$testbed/mkguest.sh" >/dev/null
overlay=$(mktemp)
trap 'rm -f "$overlay"' EXIT
# shellcheck disable=SC2086
"$testbed/mkoverlay.sh" "$overlay" "$repo/tests/e2e/guest/net.sh" $modules
cat "$repo/.cache/guest.cpio.gz" "$overlay" >"$initrd"
CUPULE_BIN=$cupule "$testbed/run-in-host.sh" --timeout 1500 "$0" --inner
