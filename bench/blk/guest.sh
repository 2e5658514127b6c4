# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh disable=SC1091,SC2013,SC2012
#
# The fio half of bench/blk/run.sh.
#
#   as the guest's /test.sh (cupule.test=script): loads the virtio
#     modules and runs the workloads on /dev/vda with O_DIRECT; the run
#     time, the ramp and the workloads to run (all by default) come from
#     cupule.runtime=, cupule.ramp= and cupule.only=W1,W2 on the kernel
#     command line;
#   sh guest.sh FILE DIRECT RUNTIME RAMP [W1,W2]: the same workloads on
#     FILE from the machine itself (DIRECT 0 where the file system has no
#     O_DIRECT).
#
# Each workload prints fio's own report (normal and terse) between
#   CUPULE-BENCH-RAW: begin <workload>   and   CUPULE-BENCH-RAW: end <workload>
# then one line to parse:
#   CUPULE-BENCH: <workload> <IOPS> <KiB/s> <mean latency µs> <fio status>
# (dashes when fio failed).  Workloads: 4 KiB random reads at queue depth
# 1 and 32, 1 MiB sequential writes at queue depth 8, libaio, time based.
say() { echo "CUPULE-BENCH: $*"; }

only=
if [ $# -ge 4 ]; then
	target=$1 direct=$2 runtime=$3 ramp=$4 only=${5:-}
else
	. /load-modules
	target=/dev/vda direct=1 runtime=10 ramp=2
	for arg in $(cat /proc/cmdline); do
		case $arg in
		cupule.runtime=*) runtime=${arg#*=} ;;
		cupule.ramp=*) ramp=${arg#*=} ;;
		cupule.only=*) only=${arg#*=} ;;
		esac
	done
	[ -b /dev/vda ] || { say "error no /dev/vda"; exit 1; }
	mkdir -p /dev/shm
	mount -t tmpfs tmpfs /dev/shm
	q=/sys/block/vda/queue
	# The same block layer path under every VMM: a single-queue device
	# would get mq-deadline by default and a multi-queue one none.
	echo none >$q/scheduler 2>/dev/null
	say "info kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)" \
		"memkb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)" \
		"sectors=$(cat /sys/block/vda/size) queues=$(ls /sys/block/vda/mq | wc -l)" \
		"scheduler=$(sed 's/.*\[\(.*\)\].*/\1/' $q/scheduler)" \
		"max_segments=$(cat $q/max_segments) max_sectors_kb=$(cat $q/max_sectors_kb)"
fi
tmp=${TMPDIR:-/tmp}/fio.$$.out
if ! fio --version >/dev/null 2>&1; then
	say "error fio does not start: $(fio --version 2>&1 | head -n 1)"
	exit 1
fi

# job NAME RW BS QD: one fio run.  Terse v3 fields (fio 3.33): read IOPS
# $8, KiB/s $7, mean total latency $40; write $49, $48, $81.
job() {
	case ",${only:-$1}," in *",$1,"*) ;; *) return ;; esac
	echo "CUPULE-BENCH-RAW: begin $1 at uptime $(cut -d' ' -f1 /proc/uptime)"
	fio --name="$1" --filename="$target" --ioengine=libaio --direct="$direct" \
		--rw="$2" --bs="$3" --iodepth="$4" --time_based \
		--runtime="$runtime" --ramp_time="$ramp" --eta=never \
		--output-format=normal,terse >"$tmp" 2>&1
	rc=$?
	cat "$tmp"
	echo "CUPULE-BENCH-RAW: end $1"
	awk -F';' -v name="$1" -v rc="$rc" -v w="${2#rand}" '
		$1 == "3" && $3 == name {
			if (w == "write") { iops = $49; bw = $48; lat = $81 }
			else { iops = $8; bw = $7; lat = $40 }
			printf "CUPULE-BENCH: %s %d %d %.1f %d\n", name, iops, bw, lat, rc
			found = 1
		}
		END { if (!found) printf "CUPULE-BENCH: %s - - - %d\n", name, rc }
	' "$tmp"
}

job randread-4k-qd1 randread 4k 1
job randread-4k-qd32 randread 4k 32
job write-1m-qd8 write 1M 8
rm -f "$tmp"
say "done"
