#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# measure.sh RUNS: boots the busybox guest RUNS times under cupule, QEMU
# pc (taking turns) and QEMU microvm, and prints a line per boot:
#   BENCH-RESULT: <vmm> <run> <init ms> <exit ms> <rss KiB> <status>
# init ms: process start to "CUPULE-GUEST: init" on the console;
# exit ms: process start to the process's exit after the guest powered off;
# rss KiB: RssAnon + RssFile of the VMM process and all its descendants
#          (cupule runs each VM in a child) when the marker arrives.
# Guest RAM is a memfd in both VMMs (shared memory), so it is not counted.
# Run through tests/testbed/run-in-host.sh (bench/boot/run.sh does).
set -euo pipefail

runs=${1:-5}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cupule=${CUPULE_BIN:-$repo/build/bin/cupule}
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest.cpio.gz
cmdline="console=ttyS0 quiet cupule.test=poweroff"
limit=300		# seconds before a stuck boot is killed

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/console"

# tree_rss PID: sets rss to RssAnon + RssFile in KiB of PID and all its
# descendants.  Bash builtins only, like the timing: the guest powers off
# right after its markers, and in the test host a fork can take longer.
tree_rss() {
	local pids=("$1") i=0 f key value kids
	rss=0
	while [ "$i" -lt ${#pids[@]} ]; do
		for f in /proc/"${pids[i]}"/task/*/children; do
			[ -r "$f" ] || continue
			kids=()
			read -ra kids <"$f" || true
			pids+=("${kids[@]}")
		done
		{
			while read -r key value _; do
				case $key in
				RssAnon: | RssFile:) rss=$((rss + value)) ;;
				esac
			done <"/proc/${pids[i]}/status"
		} 2>/dev/null || true
		i=$((i + 1))
	done
}

# boot VMM RUN COMMAND...: one timed boot.
boot() {
	local vmm=$1 run=$2 start init=- rss=- line pid watchdog status=0
	shift 2
	start=${EPOCHREALTIME/./}
	"$@" >"$work/console" 2>&1 </dev/null &
	pid=$!
	(sleep "$limit" && kill "$pid") 2>/dev/null &
	watchdog=$!
	: >"$work/last.log"
	while IFS= read -r line; do
		if [ "$init" = - ] && [[ $line == *"CUPULE-GUEST: init"* ]]; then
			init=$(((${EPOCHREALTIME/./} - start) / 1000))
			tree_rss "$pid"
		fi
		echo "$line" >>"$work/last.log"
	done <"$work/console"
	wait "$pid" || status=$?
	echo "BENCH-RESULT: $vmm $run $init $(((${EPOCHREALTIME/./} - start) / 1000)) $rss $status"
	if [ "$init" = - ] || [ "$status" -ne 0 ]; then
		echo "  last lines of its console:"
		tail -n 15 "$work/last.log" | tr -d '\r' | sed 's/^/  | /'
	fi
	kill "$watchdog" 2>/dev/null || true
	wait "$watchdog" 2>/dev/null || true
}

# QEMU booting the same kernel directly, with its guest RAM in a memfd like
# cupule's so that the RSS figures compare.  exec: boot() needs its pid.
qemu() {
	exec qemu-system-x86_64 -M "$1,memory-backend=ram" -enable-kvm -cpu host \
		-m 256M -smp 2 -object memory-backend-memfd,id=ram,size=256M \
		-nographic -nodefaults -serial stdio -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
}

cat >"$work/bench.cfg" <<EOF
vms = ( {
	name = "bench";
	memory = "256M";
	vcpus = 2;
	kernel = "$kernel";
	initrd = "$initrd";
	cmdline = "$cmdline";
	console = "stdio";
	on_reboot = "exit";
} );
EOF

# cupule and QEMU pc in turns, so that a change of load on the machine
# weighs on both alike; QEMU microvm last, because in the nested test host
# its guest now and then resets before init, and has even reset the test
# host itself, which would lose every figure still to come.
for run in $(seq "$runs"); do
	if [ -x "$cupule" ]; then
		boot cupule "$run" "$cupule" run "$work/bench.cfg"
	else
		echo "BENCH-RESULT: cupule $run - - - missing"
	fi
	boot qemu-pc "$run" qemu pc
done
for run in $(seq "$runs"); do
	boot qemu-microvm "$run" qemu microvm
done
