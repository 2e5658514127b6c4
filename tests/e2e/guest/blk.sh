# SPDX-License-Identifier: BSD-3-Clause
# The guest half of tests/e2e/blk.sh, run as /test.sh by the guest's init
# (cupule.test=script).  cupule.case= on the command line picks the case;
# each prints "CUPULE-GUEST: <case> ok" when everything it checked held.
. /load-modules
case_=
fill=
for arg in $(cat /proc/cmdline); do
	case $arg in
	cupule.case=*) case_=${arg#cupule.case=} ;;
	cupule.fill=*) fill=${arg#cupule.fill=} ;;
	esac
done
say() { echo "CUPULE-GUEST: $*"; }
fail() { say "$case_ failed: $*"; exit 1; }

[ -b /dev/vda ] || fail "no /dev/vda"
# A request that never completes hangs the case: say what the guest
# sees of the disk (requests in flight, interrupts taken) meanwhile.
( while sleep 60; do
	say "watch: inflight $(cat /sys/block/vda/inflight)" \
	    "irqs $(grep virtio /proc/interrupts | tr -s ' ' | tr '\n' '|')"
done ) &
say "vda sectors=$(cat /sys/block/vda/size)"

# pattern FILE LETTER: 1 MiB of LETTER.
pattern() { dd if=/dev/zero bs=1M count=1 2>/dev/null | tr '\0' "$2" >"$1"; }

case $case_ in
fs | intx)
	# ext2 (through the ext4 driver), 64 MiB of 1 MiB patterned files.
	# intx: the same with MSI disabled (pci=nomsi), on the INTx line.
	mke2fs -q /dev/vda || fail mke2fs
	mkdir -p /mnt
	mount -t ext4 /dev/vda /mnt || fail mount
	dd if=/dev/urandom of=/tmp/base bs=1M count=1 2>/dev/null
	i=0
	while [ $i -lt 64 ]; do
		{ echo "file $i"; cat /tmp/base; } >/mnt/f$i || fail "write f$i"
		i=$((i + 1))
	done
	sync
	md5sum /mnt/f* >/tmp/sums
	umount /mnt || fail umount
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 /dev/vda /mnt || fail "mount again"
	md5sum -c -s /tmp/sums || fail "contents differ after remount"
	umount /mnt
	if [ "$case_" = intx ]; then
		grep -q "IO-APIC.*virtio" /proc/interrupts ||
			fail "virtio is not on an IO-APIC line: $(grep virtio /proc/interrupts)"
		grep -q "PCI-MSI" /proc/interrupts && fail "MSI in use"
	fi
	say "$case_ ok" ;;
range)
	# Fill this VM's whole disk (its range of a shared image).
	pattern /tmp/p "$fill"
	n=$(($(cat /sys/block/vda/size) / 2048))
	i=0
	while [ $i -lt $n ]; do
		dd if=/tmp/p of=/dev/vda bs=1M seek=$i conv=fsync 2>/dev/null ||
			fail "write MiB $i"
		i=$((i + 1))
	done
	echo 3 >/proc/sys/vm/drop_caches
	want=$(i=0; while [ $i -lt $n ]; do cat /tmp/p; i=$((i + 1)); done | md5sum)
	got=$(dd if=/dev/vda bs=1M 2>/dev/null | md5sum)
	[ "$want" = "$got" ] || fail "read back differs"
	say "range ok" ;;
readonly)
	pattern /tmp/p R
	want=$(md5sum </tmp/p)
	got=$(dd if=/dev/vda bs=1M count=1 2>/dev/null | md5sum)
	[ "$want" = "$got" ] || fail "unexpected contents"
	[ "$(cat /sys/block/vda/ro)" = 1 ] || fail "disk not read-only"
	# The kernel refuses; even forced past it, the device would too.
	blockdev --setrw /dev/vda 2>/dev/null
	if dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync 2>/tmp/err; then
		fail "a write succeeded"
	fi
	say "write refused: $(cat /tmp/err | head -n 1)"
	echo 3 >/proc/sys/vm/drop_caches
	got=$(dd if=/dev/vda bs=1M count=1 2>/dev/null | md5sum)
	[ "$want" = "$got" ] || fail "contents changed"
	say "readonly ok" ;;
takeover)
	mke2fs -q /dev/vda || fail mke2fs
	mkdir -p /mnt
	mount -t ext4 /dev/vda /mnt || fail mount
	dd if=/dev/urandom of=/mnt/one bs=1M count=4 2>/dev/null || fail "write one"
	sync
	say "phase1"
	# The host replaces the mediator now; the disk is idle meanwhile.
	sleep 10
	dd if=/dev/urandom of=/mnt/two bs=1M count=4 2>/dev/null || fail "write two"
	sync
	md5sum /mnt/one /mnt/two >/tmp/sums
	umount /mnt || fail umount
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 /dev/vda /mnt || fail "mount again"
	md5sum -c -s /tmp/sums || fail "contents differ"
	umount /mnt
	say "takeover ok" ;;
*)
	fail "unknown case" ;;
esac
