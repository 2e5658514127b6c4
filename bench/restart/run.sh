#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench/restart/run.sh [-n ROUNDS]
#
# What a guest sees when its disk's backend process is SIGKILLed, in two
# parts printed together:
#
# 1. bare machine (bench-restart, no guest OS, on this machine's
#    /dev/kvm): the stall from the kill of cupule-blk until a vCPU's
#    register read is answered by the new process, with the sandbox and
#    without, beside the floor of any restart (fork+exec+exit).  ROUNDS
#    kills per row (default 100).
# 2. a Linux guest, under cupule and under QEMU with a vhost-user-blk disk
#    served by qemu-storage-daemon, in the same test host (or on this
#    machine with hardware virtualisation): fio reads 4 KiB at random at
#    queue depth 1 with O_DIRECT and logs every I/O's latency; the test
#    host first marks BENCH_BASE moments without killing anything, then
#    kills the backend BENCH_KILLS times, 0.5 to 1.5 s apart (cupule:
#    'cupulectl kill VM disk', the VM process starts a new cupule-blk;
#    QEMU: kill -9 of qemu-storage-daemon, started again at once on the
#    same socket and image, QEMU reconnecting by itself).  The stall of
#    a moment is the longest latency among the I/Os in flight during it.
#
# Not a test: slow figures never fail it.  Raw outputs go to
# .cache/bench-restart/.  Variables: BENCH_KILLS (default 50), BENCH_BASE
# (default 20), BENCH_SIDES ("cupule qemu", or one of them; "none" for
# part 1 only), BUILD (the build folder, default build).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/bench/restart
kernel=$repo/.cache/kernel/vmlinuz
out=$repo/.cache/bench-restart
initrd=$out/initrd.img
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk"
boot_allowance=240	# seconds from start to fio running in the guest
dump_allowance=120	# seconds from fio's end to the guest's power-off

# fio_seconds KILLS BASE: how long the guest's fio runs.  Pauses average
# 1 s; under the emulator a kill costs up to a second more on top
# (qemu-storage-daemon takes about 0.7 s to come back): fio must outlast
# every event, or the last kills go unmade.
fio_seconds() {
	echo $((($1 + $2) * 5 / 2 + 15))
}

# ---- in the test host ----------------------------------------------------

# stamp: each line of stdin on stdout after the moment it arrived, then
# "STAMP-EOF" at the end.  In Python: bash's read takes a system call
# per byte, too slow for fio's log under the emulator.
stamp() {
	python3 -c '
import sys, time
for line in sys.stdin.buffer:
    text = line.rstrip(b"\r\n").decode(errors="replace")
    sys.stdout.write("%.6f %s\n" % (time.time(), text))
    sys.stdout.flush()
sys.stdout.write("%.6f STAMP-EOF\n" % time.time())
'
}

# reads_now CONSOLE: the guest's completed reads in its last tick line.
reads_now() {
	tail -n 40 "$1" 2>/dev/null | awk '$3 == "T" { n = $5 } END { print n + 0 }'
}

# tick_age CONSOLE: seconds since the guest's last clock line arrived
# (a guest that stopped altogether, not only its disk, stops them too).
tick_age() {
	tail -n 40 "$1" 2>/dev/null | awk -v now="$EPOCHREALTIME" '
		$3 == "T" { t = $1 } END { printf "%.1f", t ? now - t : -1 }'
}

# wait_for CONSOLE PATTERN PID SECONDS: until PATTERN shows in CONSOLE;
# fails when PID ends or the time is up.
wait_for() {
	local t=0
	until grep -aq "$2" "$1" 2>/dev/null; do
		kill -0 "$3" 2>/dev/null || return 1
		[ "$t" -lt "$4" ] || return 1
		sleep 1
		t=$((t + 1))
	done
}

# events SIDE CONSOLE VM: the moments, BENCH_BASE without a kill, then
# the kills, each after a pause of 0.5 to 1.5 s, into $work/SIDE.events
# ("<kind> <i> <t0> <t1> <ready>", epoch seconds).  Calls mark_SIDE KIND,
# which sets t0, t1 and ready.  Stops early when the VM ends, when fio's
# time is nearly up, or when the guest's disk completed nothing for 10 s
# (then returns 1).
events() {
	local side=$1 con=$2 vm=$3 i n kind ms reads last_reads
	local last_move=$SECONDS end=$((SECONDS + fio_runtime - 3))
	n=$((nbase + nkills))
	last_reads=$(reads_now "$con")
	: >"$work/$side.events"
	for ((i = 1; i <= n; i++)); do
		ms=$((500 + RANDOM % 1000))
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		kill -0 "$vm" 2>/dev/null || { echo "BENCH-INFO: $side: the VM ended during event $i"; return 0; }
		[ "$SECONDS" -lt "$end" ] || { echo "BENCH-INFO: $side: fio's time is up at event $i"; return 0; }
		reads=$(reads_now "$con")
		if [ "$reads" != "$last_reads" ]; then
			last_reads=$reads last_move=$SECONDS
		elif [ $((SECONDS - last_move)) -ge 10 ]; then
			echo "BENCH-INFO: $side: HANG: the guest's disk completed nothing" \
				"for $((SECONDS - last_move)) s ($reads reads), after $((i - 1 - nbase)) kills;" \
				"its last clock line came $(tick_age "$con") s ago"
			return 1
		fi
		kind="kill"
		[ "$i" -gt "$nbase" ] || kind=base
		"mark_$side" "$kind"
		echo "$kind $i $t0 $t1 $ready" >>"$work/$side.events"
		[ $((i % 10)) -ne 0 ] || echo "BENCH-INFO: $side: $i events ($kind)"
	done
}

mark_cupule() {
	ready=-
	t0=$EPOCHREALTIME
	if [ "$1" = kill ]; then
		"$cupulectl" --socket "$work/ctl.sock" kill s disk >/dev/null 2>&1 ||
			echo "BENCH-INFO: cupule: cupulectl kill failed"
	else
		# The same command without a kill: the same load on the test host.
		"$cupulectl" --socket "$work/ctl.sock" list >/dev/null 2>&1 || true
	fi
	t1=$EPOCHREALTIME
}

# qsd_start: qemu-storage-daemon on $work/vhost.sock, its pid in $qsd.
qsd_start() {
	rm -f "$work/qsd.pid"
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=disk0,filename=$img,cache.direct=off,locking=off" \
		--export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$work/vhost.sock,writable=on,num-queues=1" \
		--pidfile "$work/qsd.pid" </dev/null >>"$work/qsd.err" 2>&1 &
	qsd=$!
}

# qsd_ready: waits up to 10 s for the pid file, which the daemon writes
# once its export listens; sets ready to that moment.
qsd_ready() {
	local i
	ready=-
	for ((i = 0; i < 2000; i++)); do
		if [ -s "$work/qsd.pid" ]; then
			ready=$EPOCHREALTIME
			return 0
		fi
		kill -0 "$qsd" 2>/dev/null || return 1
		read -r -t 0.005 -u "$never" || true
	done
	return 1
}

mark_qemu() {
	ready=-
	t0=$EPOCHREALTIME
	if [ "$1" = kill ]; then
		kill -9 "$qsd" 2>/dev/null || true
		t1=$EPOCHREALTIME
		wait "$qsd" 2>/dev/null || true
		qsd_start
		qsd_ready || echo "BENCH-INFO: qemu: qemu-storage-daemon not ready in 10 s"
	else
		kill -0 "$qsd" 2>/dev/null || true
		t1=$EPOCHREALTIME
	fi
}

# wait_end SIDE CONSOLE VM: until the guest is done, or its VM ended, or
# the time is up; fails when its disk completed nothing for 15 s while
# fio still ran.
wait_end() {
	local t=0 reads last last_move=0
	last=$(reads_now "$2")
	until grep -aq "CUPULE-BENCH: done" "$2"; do
		kill -0 "$3" 2>/dev/null || return 0
		[ "$t" -lt $((fio_runtime + dump_allowance)) ] || return 0
		sleep 1
		t=$((t + 1))
		grep -aq "CUPULE-BENCH: fio end" "$2" && continue
		reads=$(reads_now "$2")
		if [ "$reads" != "$last" ]; then
			last=$reads last_move=$t
		elif [ $((t - last_move)) -ge 15 ]; then
			echo "BENCH-INFO: $1: HANG: the guest's disk completed nothing" \
				"for 15 s ($reads reads) after the last kill;" \
				"its last clock line came $(tick_age "$2") s ago"
			return 1
		fi
	done
}

# side NAME TRY: one guest; 0 with figures, 1 without, 2 when worth
# another try (the guest died before fio started).
side() {
	local name=$1 try=$2 con=$work/$1.console vm rc=0 hung=false cfg cmdline reads t
	rm -f "$con" "$work/$name.log" "$work/$name.err" "$work/$name.events"
	# The guest writes fio's latency log there at the end (guest.sh).
	dd if=/dev/zero of="$work/log.img" bs=1M count=32 status=none
	cmdline="console=ttyS0 quiet panic=-1 cupule.test=script cupule.runtime=$fio_runtime"
	limit=$((boot_allowance + fio_runtime + dump_allowance))
	echo "BENCH-INFO: $name: try $try, starting"
	case $name in
	cupule)
		cfg=$work/bench.cfg
		# Kills far more often than a real crash loop: no backoff, never down.
		cat >"$cfg" <<-EOF
		control = { socket = "$work/ctl.sock"; };
		supervise = { restart_limit = 64; restart_window_ms = 1000;
		              backoff_min_ms = 0; backoff_max_ms = 0; };
		vms = ( { name = "s"; memory = "512M"; vcpus = 1; cpus = [ 1 ];
		  kernel = "$kernel"; initrd = "$initrd"; cmdline = "$cmdline";
		  console = "stdio"; on_reboot = "exit";
		  devices = ( { type = "blk"; id = "disk"; image = "$img"; },
		              { type = "blk"; id = "log"; image = "$work/log.img"; } ); } );
		EOF
		timeout -k 5 "$limit" "$cupule" run "$cfg" -v </dev/null \
			> >(stamp >"$con") 2> >(stamp >"$work/$name.log") &
		vm=$! ;;
	qemu)
		: >"$work/qsd.err"
		qsd_start
		qsd_ready || { echo "BENCH-INFO: qemu: qemu-storage-daemon did not start:" \
			"$(head -n 3 "$work/qsd.err")"; return 1; }
		timeout -k 5 "$limit" qemu-system-x86_64 -enable-kvm -cpu host -M pc \
			-m 512M -smp 1 -nographic -nodefaults -serial stdio -no-reboot \
			-object memory-backend-memfd,id=mem,size=512M,share=on \
			-numa node,memdev=mem \
			-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
			-chardev "socket,id=c0,path=$work/vhost.sock,reconnect=1" \
			-device vhost-user-blk-pci,chardev=c0,num-queues=1 \
			-drive "file=$work/log.img,if=none,id=log,format=raw" \
			-device virtio-blk-pci,drive=log </dev/null \
			> >(stamp >"$con") 2> >(stamp >"$work/$name.log") &
		vm=$! ;;
	esac
	if ! wait_for "$con" "CUPULE-BENCH: fio start" "$vm" "$boot_allowance"; then
		echo "BENCH-INFO: $name: fio never started in the guest"
		kill "$vm" 2>/dev/null || true
		wait "$vm" 2>/dev/null || true
		[ "$name" != qemu ] || { kill -9 "$qsd" 2>/dev/null; wait "$qsd" 2>/dev/null; } || true
		sleep 1
		grep -a "CUPULE-BENCH: error\|triple fault\|Kernel panic" "$con" "$work/$name.log" |
			head -n 5 | sed "s/^/BENCH-INFO: $name: /" || true
		return 2
	fi
	echo "BENCH-INFO: $name: fio runs, $nbase moments without a kill, then $nkills kills"
	events "$name" "$con" "$vm" || hung=true
	$hung || wait_end "$name" "$con" "$vm" || hung=true
	if $hung; then
		# A last chance to move before it counts as a hang.
		reads=$(reads_now "$con")
		sleep 10
		[ "$(reads_now "$con")" = "$reads" ] || hung=false
		echo "BENCH-INFO: $name: disk reads $reads, then $(reads_now "$con")" \
			"10 s later; stopping the VM"
		kill "$vm" 2>/dev/null || true
	elif ! grep -aq "CUPULE-BENCH: done" "$con"; then
		echo "BENCH-INFO: $name: the guest did not finish (no 'done' line)"
		kill "$vm" 2>/dev/null || true
	fi
	wait "$vm" 2>/dev/null || rc=$?
	if [ "$name" = qemu ]; then
		kill -9 "$qsd" 2>/dev/null || true
		wait "$qsd" 2>/dev/null || true
	fi
	# The stamps' last lines: a slow reader may still have some to do.
	for ((t = 0; t < 60; t++)); do
		grep -q "STAMP-EOF" "$con" && grep -q "STAMP-EOF" "$work/$name.log" && break
		sleep 1
	done
	echo "BENCH-INFO: $name: VM exited with status $rc;" \
		"$(grep -c '^kill' "$work/$name.events" || true) kills made"
	$hung && echo "BENCH-RESULT: $name hang 1"
	grep -a "CUPULE-BENCH: \(fio\|info\|error\)" "$con" | cut -d' ' -f2- |
		sed "s/^CUPULE-BENCH: /BENCH-INFO: $name: guest: /"
	grep -a "triple fault\|Kernel panic\|I/O error\|blk_update_request" \
		"$con" "$work/$name.log" | head -n 5 | sed "s/^/BENCH-INFO: $name: /" || true
	if [ "$name" = cupule ]; then
		python3 "$here/stall.py" "$name" "$con" "$work/$name.events" \
			"$work/log.img" "$work/$name.log" >"$work/$name.figures" 2>&1 || true
		grep -ac "killed by SIGKILL" "$work/$name.log" |
			sed "s/^/BENCH-INFO: cupule: SIGKILLs seen by the supervisor: /" || true
	else
		python3 "$here/stall.py" "$name" "$con" "$work/$name.events" \
			"$work/log.img" >"$work/$name.figures" 2>&1 || true
		tail -n 5 "$work/qsd.err" | sed "s/^/BENCH-INFO: qemu: qemu-storage-daemon: /"
		grep -v "^[0-9.]* *$" "$work/$name.log" | tail -n 5 |
			sed "s/^/BENCH-INFO: qemu: stderr: /" || true
	fi
	cat "$work/$name.figures"
	grep -q "^BENCH-RESULT: $name stall-kill [1-9]" "$work/$name.figures" || $hung ||
		return 1
}

# inner KILLS BASE SIDE...
inner() {
	local name try rc mib=256
	nkills=$1 nbase=$2
	shift 2
	fio_runtime=$(fio_seconds "$nkills" "$nbase")
	cupule=${CUPULE_BIN:-$repo/build/bin/cupule}
	cupulectl=$(dirname "$cupule")/cupulectl
	[ -c /dev/kvm ] || { echo "bench: no /dev/kvm here" >&2; exit 77; }
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkfifo "$work/never"
	exec {never}<>"$work/never"
	img=$work/disk.img
	# Reads must reach data, in memory (tmpfs) as in bench/blk.
	fallocate -l "${mib}M" "$img" 2>/dev/null ||
		dd if=/dev/zero of="$img" bs=1M count="$mib" status=none
	echo "BENCH-INFO: host: $(uname -r), $(nproc) CPUs; image $mib MiB on" \
		"$(stat -f -c %T "$work"); fio $fio_runtime s"
	if [ -n "${CUPULE_JOB_DIR:-}" ]; then
		( while sleep 10; do
			mkdir -p "$CUPULE_JOB_DIR/live"
			cp --no-preserve=all "$work"/*.log "$work"/*.events "$work"/*.console \
				"$CUPULE_JOB_DIR/live/" 2>/dev/null || true
		done ) &
	fi
	for name in "$@"; do
		for try in 1 2; do
			rc=0
			side "$name" "$try" || rc=$?
			[ "$rc" -eq 2 ] || break
		done
	done
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit
fi

# ---- on this machine -----------------------------------------------------

# pick SIDE WHAT: "N P50 P99 MAX" of SIDE's figure in the last test-host
# boot that measured it, or dashes.
pick() {
	awk -v s="$1" -v w="$2" '$1 == "BENCH-RESULT:" && $2 == s && $3 == w {
		r = $4 " " $5 " " $6 " " $7 }
		END { print (r == "" ? "0 - - -" : r) }' "$out/run.log"
}

# report: the guest part's table, from $out/run.log.
report() {
	local what label s
	echo
	printf '%-34s %29s   %29s   %17s\n' "ms" "cupule (cupulectl kill)" \
		"qemu + qsd (kill -9)" "qemu / cupule"
	printf '%-34s %4s %7s %7s %8s   %4s %7s %7s %8s   %5s %5s %5s\n' "" n p50 p99 max \
		n p50 p99 max p50 p99 max
	for what in stall-kill stall-base lat-base kill-ready spawn-ready; do
		case $what in
		stall-kill) label="I/O stall per kill" ;;
		stall-base) label="same, moments without a kill" ;;
		lat-base) label="every I/O before the first kill" ;;
		kill-ready) label="kill to new backend ready" ;;
		spawn-ready) label="new process started to READY" ;;
		esac
		# shellcheck disable=SC2046
		set -- $(pick cupule "$what") $(pick qemu "$what")
		awk -v l="$label" -v a="$*" '
		function ratio(x, y) {
			if (x == "-" || y == "-" || x + 0 == 0)
				return "-"
			return sprintf("%.1f", y / x)
		}
		BEGIN {
			split(a, f, " ")
			printf "%-34s %4s %7s %7s %8s   %4s %7s %7s %8s   %5s %5s %5s\n", l,
				f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
				ratio(f[2], f[6]), ratio(f[3], f[7]), ratio(f[4], f[8])
		}'
	done
	for s in cupule qemu; do
		if grep -q "^BENCH-RESULT: $s hang" "$out/run.log"; then
			echo "$s: I/O HUNG: the guest's disk completed nothing for 10 s and more" \
				"(see above): no figures from fio's log, which a hung fio never prints."
		fi
	done
}

if [ "${1:-}" = --report ]; then
	grep -a "^BENCH-INFO:\|^run-in-host:" "$out/run.log" | sed 's/^BENCH-INFO: /  /' || true
	report
	exit
fi

build=${BUILD:-build}
nkills=${BENCH_KILLS:-50}
nbase=${BENCH_BASE:-20}
sides=${BENCH_SIDES:-cupule qemu}
[ "$sides" != none ] || sides=
for v in "$nkills" "$nbase"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "bench: not a number: $v" >&2; exit 2; }
done
cd "$repo"
begin=$SECONDS
mkdir -p "$out"
make -s "$build/bin/bench-restart" "$build/bin/cupule-blk" "$build/bin/cupule" \
	"$build/bin/cupulectl"
cupule=$(realpath "$build/bin/cupule")

echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## 1. bare machine: a halted vCPU reads the register of a cupule-blk killed just before"
if "$build/bin/bench-restart" -b "$build/bin" "$@" >"$out/bare.txt" 2>&1; then
	cat "$out/bare.txt"
else
	echo "bench-restart failed here (no usable /dev/kvm?):"
	tail -n 3 "$out/bare.txt"
fi
[ -n "$sides" ] || exit 0

echo
echo "## 2. a Linux guest: fio 4k randread QD1 O_DIRECT while the disk's backend is SIGKILLed"
command -v fio >/dev/null || { echo "bench: no fio here (apt-get install -y fio)" >&2; exit 1; }
command -v qemu-storage-daemon >/dev/null ||
	{ echo "bench: no qemu-storage-daemon (apt-get install -y qemu-system-x86)" >&2; exit 1; }
"$repo/tests/testbed/fetch-kernel.sh" >/dev/null
"$repo/tests/testbed/mkguest.sh" >/dev/null
cc -O2 -Wall -Wextra -static -o "$out/tick" "$here/tick.c"
# shellcheck disable=SC2086
CUPULE_OVERLAY_FILES="$out/tick:/tick" \
	"$repo/tests/testbed/mkoverlay.sh" "$out/overlay.cpio.gz" "$here/guest.sh" $modules
"$repo/tests/testbed/mkprog.sh" "$out/fio.cpio.gz" fio
cat "$repo/.cache/guest.cpio.gz" "$out/overlay.cpio.gz" "$out/fio.cpio.gz" >"$initrd"

# One test-host boot per side: in the emulated test host, QEMU as the
# nested hypervisor has panicked or wedged the test host's kernel
# (docs/testing.md); a boot of its own, booted again up to
# CUPULE_TESTHOST_RETRIES times (default 3 here), costs the other side
# nothing.
limit=$((60 + boot_allowance + $(fio_seconds "$nkills" "$nbase") + dump_allowance + 60))
: >"$out/run.log"
for side in $sides; do
	rc=0
	CUPULE_BIN=$cupule CUPULE_TESTHOST_RETRIES=${CUPULE_TESTHOST_RETRIES:-3} \
		"$repo/tests/testbed/run-in-host.sh" --timeout "$limit" \
		"$here/run.sh" --inner "$nkills" "$nbase" "$side" >>"$out/run.log" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || echo "BENCH-INFO: $side: the test-host run ended with status $rc" >>"$out/run.log"
done
grep -a "^BENCH-INFO:\|^run-in-host:" "$out/run.log" | sed 's/^BENCH-INFO: /  /' || true
echo "  (whole log: $out/run.log)"
grep -a "^BENCH-EVENT:" "$out/run.log" | cut -d' ' -f2- >"$out/events.txt" || true

report
echo "Per-event figures: $out/events.txt; whole log: $out/run.log;" \
	"whole run $((SECONDS - begin)) s."
