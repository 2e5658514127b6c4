# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh disable=SC1091,SC2013
#
# The guest half of bench/restart/run.sh, run as /test.sh by the guest's
# init (cupule.test=script), the same under cupule and under QEMU: fio,
# 4 KiB random reads at queue depth 1 with O_DIRECT on the disk for
# cupule.runtime= seconds, logging every I/O's latency, while /tick
# prints the guest's clock and the disk's progress twice a second and
# the test host kills the disk's backend now and then.  Lines:
#   CUPULE-BENCH: fio start                 fio is about to start
#   CUPULE-BENCH: T <ms> <reads>            from /tick
#   CUPULE-BENCH: fio end <status> <IOPS> <mean latency µs>
#   CUPULE-BENCH: log <bytes>               fio's latency log (<completion
#                                           ms>, <ns>, ...), gzip'ed, is on
#                                           the log disk
#   CUPULE-BENCH: done
# Two disks: the measured one (the larger) and a small log disk, whose
# first line is "CUPULE-LOG <bytes>", then that many bytes of gzip.  A
# serial port is no place for the log: QEMU drops what its backend does
# not take at once, and the log is megabytes long.
. /load-modules
say() { echo "CUPULE-BENCH: $*"; }

runtime=60
for arg in $(cat /proc/cmdline); do
	case $arg in
	cupule.runtime=*) runtime=${arg#*=} ;;
	esac
done
disk= logdisk=
for d in /sys/block/vd*; do
	[ -e "$d" ] || continue
	if [ "$(cat "$d/size")" -le 131072 ]; then
		logdisk=${d##*/}
	else
		disk=${d##*/}
	fi
done
[ -n "$disk" ] && [ -n "$logdisk" ] ||
	{ say "error want a disk and a log disk (64 MiB or less), have: $(ls /sys/block)"; exit 1; }
echo none >"/sys/block/$disk/queue/scheduler" 2>/dev/null
fio --version >/dev/null 2>&1 ||
	{ say "error fio does not start: $(fio --version 2>&1 | head -n 1)"; exit 1; }
say "info kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)" \
	"disk=$disk sectors=$(cat "/sys/block/$disk/size")" \
	"queues=$(ls "/sys/block/$disk/mq" | wc -l) log=$logdisk"

/tick "$disk" 500 &
tick=$!
say "fio start"
# The log's times on the guest's CLOCK_REALTIME (what /tick prints),
# counted with clock_gettime: fio's default CPU clock is calibrated in
# a short loop, and under nested virtualisation that may be off by
# enough to drift a few ms a minute.
fio --name=stall --filename="/dev/$disk" --ioengine=libaio --direct=1 \
	--rw=randread --bs=4k --iodepth=1 --time_based --runtime="$runtime" \
	--clocksource=clock_gettime --write_lat_log=/tmp/stall \
	--log_avg_msec=0 --log_unix_epoch=1 --eta=never \
	--output-format=normal,terse >/tmp/fio.out 2>&1
rc=$?
kill "$tick"
grep -i "err" /tmp/fio.out | head -n 5 | sed 's/^/CUPULE-BENCH: fio says: /'
# Terse v3 (fio 3.33): read IOPS $8, mean total latency $40 (µs).
awk -F';' -v rc="$rc" '$1 == "3" {
	printf "CUPULE-BENCH: fio end %d %d %.0f\n", rc, $8, $40; found = 1 }
	END { if (!found) printf "CUPULE-BENCH: fio end %d - -\n", rc }' /tmp/fio.out
gzip -9c /tmp/stall_lat.1.log >/tmp/log.gz
bytes=$(wc -c </tmp/log.gz)
{ echo "CUPULE-LOG $bytes"; cat /tmp/log.gz; } >/tmp/log.disk
dd if=/tmp/log.disk of="/dev/$logdisk" bs=64k conv=fsync 2>/dev/null ||
	say "error writing the log to /dev/$logdisk"
say "log $bytes"
say "done"
# The serial port sends what the kernel still buffers (up to a page)
# at its baud rate, and a VMM may drop it when the guest powers off.
sleep 5
