#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# End-to-end test of cupule-blk with Debian's kernel and stock
# virtio_pci/virtio_blk: a filesystem round trip, two VMs sharing one
# image by LBA ranges, a read-only disk, a second instance refused by the
# image lock, and a mediator replaced between requests while the guest
# runs.  One test-host boot for all cases (see boot.sh for the shape).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest-blk.cpio.gz
vm_timeout=300
cases=${CUPULE_E2E_CASES:-"fs range readonly takeover"}
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4"

# vm NAME CASE DEVICE-SETTINGS [FILL]: one VM entry of a scenario.
vm() {
	cat <<VM
{ name = "$1"; memory = "256M"; vcpus = 2;
  kernel = "$kernel"; initrd = "$initrd";
  cmdline = "console=ttyS0 quiet panic=-1 cupule.test=script cupule.case=$2 cupule.fill=${4:-x}";
  console = "file:$1.log";
  devices = ( { type = "blk"; id = "disk"; $3 } ); }
VM
}

# run DIR: cupule run on DIR/vm.cfg, output in DIR/cupule.log; sets rc.
run() {
	rc=0
	timeout -k 5 "$vm_timeout" "$cupule" run "$1/vm.cfg" -v >"$1/cupule.log" \
		2>&1 </dev/null || rc=$?
	[ "$rc" -ne 124 ] || { echo "cupule still running after $vm_timeout s"; return 1; }
}

# ok DIR VM CASE: the guest said "<case> ok".
ok() {
	grep -q "CUPULE-GUEST: $3 ok" "$1/$2.log" 2>/dev/null ||
		{ echo "vm $2: no '$3 ok':"; tail -n 5 "$1/$2.log" 2>/dev/null; return 1; }
}

# fill_md5 MIB LETTER: md5 of MIB MiB of LETTER.
fill_md5() {
	head -c $(($1 << 20)) /dev/zero | tr '\0' "$2" | md5sum | cut -d' ' -f1
}

case_fs() {
	truncate -s 256M "$1/disk.img"
	echo "vms = ( $(vm fs fs 'image = "disk.img";') );" >"$1/vm.cfg"
	run "$1" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	ok "$1" fs fs
}

case_range() {
	local a b
	truncate -s 64M "$1/shared.img"
	echo "vms = ( $(vm a range 'image = "shared.img"; range = "0/65536";' A),
		$(vm b range 'image = "shared.img"; range = "65536/65536";' B) );" >"$1/vm.cfg"
	"$cupule" check "$1/vm.cfg" >/dev/null || { echo "check refused the ranges"; return 1; }
	run "$1" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	ok "$1" a range && ok "$1" b range || return 1
	a=$(head -c 32M "$1/shared.img" | md5sum | cut -d' ' -f1)
	b=$(tail -c 32M "$1/shared.img" | md5sum | cut -d' ' -f1)
	[ "$a" = "$(fill_md5 32 A)" ] || { echo "first range of the image is not all A"; return 1; }
	[ "$b" = "$(fill_md5 32 B)" ] || { echo "second range of the image is not all B"; return 1; }
}

case_readonly() {
	local before
	head -c 8M /dev/zero | tr '\0' R >"$1/ro.img"
	before=$(md5sum <"$1/ro.img")
	echo "vms = ( $(vm ro readonly 'image = "ro.img"; readonly = true;') );" >"$1/vm.cfg"
	run "$1" || return 1
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	ok "$1" ro readonly || return 1
	[ "$(md5sum <"$1/ro.img")" = "$before" ] || { echo "the read-only image changed"; return 1; }
}

case_takeover() {
	local pid old new second=0
	truncate -s 64M "$1/disk.img"
	echo "vms = ( $(vm t takeover 'image = "disk.img";') );" >"$1/vm.cfg"
	timeout -k 5 "$vm_timeout" "$cupule" run "$1/vm.cfg" >"$1/cupule.log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 "$vm_timeout"); do
		grep -q "CUPULE-GUEST: phase1" "$1/t.log" 2>/dev/null && break
		sleep 1
	done
	grep -q "CUPULE-GUEST: phase1" "$1/t.log" ||
		{ kill "$pid"; echo "guest never reached phase1"; return 1; }
	# A second instance must not get the image for writing.
	mkdir "$1/second"
	echo "vms = ( $(vm t2 takeover "image = \"$1/disk.img\";") );" >"$1/second/vm.cfg"
	timeout 60 "$cupule" run "$1/second/vm.cfg" >"$1/second/cupule.log" 2>&1 </dev/null ||
		second=$?
	old=$(pgrep -f 'cupule-blk.*--name=t/disk' | head -n 1 || true)
	[ -n "$old" ] || { kill "$pid"; echo "no cupule-blk process"; return 1; }
	kill -KILL "$old"
	rc=0
	wait "$pid" || rc=$?
	if [ "$second" -eq 0 ] || ! grep -q "in use" "$1/second/cupule.log"; then
		echo "a second instance was not refused the image (status $second)"
		return 1
	fi
	[ "$rc" -eq 0 ] || { echo "cupule exited $rc"; return 1; }
	new=$(sed -n 's/.*mediator restarted as pid \([0-9]*\).*/\1/p' "$1/cupule.log")
	[ -n "$new" ] && [ "$new" != "$old" ] || { echo "no restart logged"; return 1; }
	ok "$1" t takeover
}

work=
inner() {
	local name why passed=0 failed=0
	[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm here"; exit 77; }
	# CUPULE_E2E_KEEP=DIR keeps every case's files there, to look at.
	if [ -n "${CUPULE_E2E_KEEP:-}" ]; then
		work=$CUPULE_E2E_KEEP
	else
		work=$(mktemp -d)
		trap 'rm -rf "$work"' EXIT
	fi
	for name in $cases; do
		mkdir "$work/$name"
		if why=$(cd "$work/$name" && "case_$name" "$work/$name" 2>&1); then
			echo "PASS: blk $name"
			passed=$((passed + 1))
		else
			echo "FAIL: blk $name: ${why:-failed}"
			failed=$((failed + 1))
			for f in "$work/$name"/*.log; do
				echo "  last lines of $(basename "$f"):"
				tail -n 8 "$f" | sed 's/^/  | /'
			done
		fi
	done
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
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
"$testbed/mkoverlay.sh" "$overlay" "$repo/tests/e2e/guest/blk.sh" $modules
cat "$repo/.cache/guest.cpio.gz" "$overlay" >"$initrd"
CUPULE_BIN=$cupule "$testbed/run-in-host.sh" --timeout 1500 "$0" --inner
