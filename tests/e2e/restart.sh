#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Live restart under load, with Debian's kernel and stock virtio drivers:
# while the guest writes patterned blocks with O_DIRECT from two writers
# and verifies every read (tests/e2e/guest/pattern.c), pings the test
# host over a tap and keeps one TCP connection sending, the test host
# SIGKILLs the blk and net mediators at random moments, at least 100
# times in all, half through cupulectl kill, half with kill -9 from
# outside; and five times it stops one (SIGSTOP), which the supervisor
# must see as a hang and replace.  Passes when the guest saw no I/O
# error and no block that did not hold its last completed write, pings
# came back, the TCP stream (open through every kill, the part left when
# the kills stop sent at once) arrived whole (md5), the guest never reset
# either device (the virtio reset counters did not move), every kill
# was a restart and every stopped mediator was replaced.  A second
# case (case_down) drives the net device down and brings it back; a
# third (case_sigsys) has a mediator killed by its seccomp filter.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
# shellcheck source=tests/e2e/lib.sh
. "$repo/tests/e2e/lib.sh"
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
cupulectl=$(dirname "$cupule")/cupulectl
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest-restart.cpio.gz
secs=${CUPULE_RESTART_SECS:-165}
min_kills=100
hangs_wanted=5
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk failover net_failover virtio_net"

say() { echo "$*"; }

# stat_of SOCK DEV KEY...: a number from cupulectl stats --json.  Tried
# three times: a VM process starved of CPU by the test's own load (all
# but the vCPU share one CPU) may miss cupulectl's 3 s.
stat_of() {
	local out
	for _ in 1 2 3; do
		out=$("$cupulectl" --socket "$1" stats --json) && break
		sleep 1
	done
	printf '%s' "$out" | python3 -c '
import json, sys
dev, path = sys.argv[1], sys.argv[2:]
for d in json.load(sys.stdin):
    if d["device"] == dev:
        for k in path:
            d = d[k]
        print(d)
' "$2" "${@:3}"
}

# pid_of SOCK DEV: the pid of DEV's mediator if it is running.  From
# list's table (VM DEVICE TYPE PID STATE ...) with awk: the drill calls
# it for every other kill, and a Python start costs the emulated test
# host about as much as the kill.
pid_of() {
	"$cupulectl" --socket "$1" list |
		awk -v dev="$2" '$2 == dev && $5 == "running" { print $4 }'
}

# tap_up: the tap the guest's net device will use, curtap0; the test
# host is 10.0.4.1 on it.
tap_up() {
	ip tuntap add curtap0 mode tap
	ip addr add 10.0.4.1/24 dev curtap0
	ip link set curtap0 up
}

# start_vm DIR SUPERVISE CMDLINE LINE: one VM with a blk disk (a new
# 64 MiB image) and a net device on curtap0 (tap_up first), under a
# cupule with supervise = { SUPERVISE }, the guest's command line ending
# in CMDLINE; returns once the guest printed "CUPULE-GUEST: LINE"
# (status 0, the cupule's pid in $pid) or after 300 s or the cupule's
# end (status 1, everything stopped).
start_vm() {
	local t=0
	truncate -s 64M "$1/disk.img"
	cat >"$1/vm.cfg" <<EOF
control = { socket = "$1/ctl.sock"; };
supervise = { $2 };
vms = ( { name = "r"; memory = "256M"; vcpus = 1; cpus = [ 1 ];
  kernel = "$kernel"; initrd = "$initrd";
  cmdline = "console=ttyS0 quiet panic=-1 cupule.test=script $3";
  console = "file:r.log";
  devices = ( { type = "blk"; id = "disk"; image = "disk.img"; },
              { type = "net"; id = "eth"; backend = "tap:curtap0"; } ); } );
EOF
	"$cupule" run "$1/vm.cfg" -v >"$1/cupule.log" 2>&1 </dev/null &
	pid=$!
	until grep -q "CUPULE-GUEST: $4" "$1/r.log" 2>/dev/null; do
		sleep 1
		t=$((t + 1))
		if [ $t -ge 300 ] || ! kill -0 $pid 2>/dev/null; then
			echo "the guest never said '$4'"
			stop_vm 0
			return 1
		fi
	done
}

# stop_vm SECONDS: waits up to SECONDS for the cupule to end, stops it,
# removes the tap.
stop_vm() {
	local t=0
	while kill -0 $pid 2>/dev/null && [ $t -lt "$1" ]; do sleep 1; t=$((t + 1)); done
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	ip link del curtap0
}

# icmp_count KEY: the test host's Icmp counter KEY (InEchos, OutEchoReps).
icmp_count() {
	awk -v k="$1" '$1 == "Icmp:" {
		if (!c) { for (i = 2; i <= NF; i++) if ($i == k) c = i }
		else { print $c; exit } }' /proc/net/snmp
}

# icmp_verdict DIR IN0 OUT0: the guest's echo requests and replies held
# against the test host's counts since IN0/OUT0 (the only pinger on
# it).  The net device sends a tx frame again when its mediator died
# after writing it and before saying so (at least once,
# docs/net.md): the host then gets a request twice and answers twice,
# and the guest's ping counts a DUP.  A frame given to the guest twice
# would show as more replies taken in by the guest than the host sent.
icmp_verdict() {
	local line sent took got answered
	line=$(tr -d '\r' <"$1/r.log" | grep -a "CUPULE-GUEST: icmp sent" | tail -n 1)
	sent=$(sed -n 's/.*icmp sent \([0-9]*\) requests.*/\1/p' <<<"$line")
	took=$(sed -n 's/.*took \([0-9]*\) replies.*/\1/p' <<<"$line")
	got=$(($(icmp_count InEchos) - $2))
	answered=$(($(icmp_count OutEchoReps) - $3))
	say "icmp: the guest sent ${sent:-?} echo requests, the test host got $got" \
		"($((got - ${sent:-0})) sent twice); it answered $answered, the guest took ${took:-?}"
	[ -n "$sent" ] && [ -n "$took" ] ||
		{ echo "the guest did not give its ICMP counts"; return 1; }
	[ "$took" -le "$answered" ] ||
		{ echo "the guest took $took echo replies, the test host sent $answered: a frame came twice"; return 1; }
}

# guest_verdict_wait DIR: until the guest says "restart ok" or
# "restart failed" (within 300 s of its timed part, then up 5 s more),
# or its cupule ($pid) ends, at most 330 s.
guest_verdict_wait() {
	local t
	for ((t = 0; t < 330; t++)); do
		grep -Eq "CUPULE-GUEST: restart (ok|failed)" "$1/r.log" && break
		kill -0 $pid 2>/dev/null || break
		sleep 1
	done
}

# guest_sent DIR: "BYTES MD5" of the TCP stream, as the guest sent it.
guest_sent() {
	tr -d '\r' <"$1/r.log" |
		sed -n 's/^CUPULE-GUEST: sent md5 \([0-9a-f]*\) bytes \([0-9]*\)$/\2 \1/p' | tail -n 1
}

# guest_verdict DIR SENT GOT: the guest said "restart ok" (its writers
# and pings clean) and the test host got the TCP stream it sent.
guest_verdict() {
	grep -q "CUPULE-GUEST: restart ok" "$1/r.log" ||
		{ echo "guest: $(grep -a "CUPULE-GUEST" "$1/r.log" | tail -n 3)"; return 1; }
	[ -n "$2" ] && [ "$2" = "$3" ] ||
		{ echo "the TCP stream arrived damaged or not at all"; return 1; }
}

case_restart() {
	local dir=$1 sock=$1/ctl.sock pid kills=0 bkills=0 nkills=0 hangs=0 t
	local stopped new
	local r0 n0 r1 n1 dev target be ne srv sent got crossed ie0 oe0
	tap_up
	ie0=$(icmp_count InEchos)
	oe0=$(icmp_count OutEchoReps)
	# The test host's end of the guest's TCP stream: bytes and md5.
	python3 "$repo/tests/e2e/tcpsink.py" 10.0.4.1 5001 900 "$dir/tcp.progress" \
		>"$dir/tcp.out" 2>&1 &
	srv=$!
	# The drill kills far more often than a real crash loop would: no
	# backoff to speak of, and never down.
	start_vm "$dir" "restart_limit = 64; restart_window_ms = 1000;
	    backoff_min_ms = 0; backoff_max_ms = 0;
	    heartbeat_ms = 200; heartbeat_misses = 5;" \
	    "cupule.secs=$secs" "restart start" || { kill $srv; return 1; }
	r0=$(stat_of "$sock" disk virtio resets)
	n0=$(stat_of "$sock" eth virtio resets)
	echo "restart: the guest's writers run; killing"
	# Kill until the guest's timed part is done, at random moments.
	while ! grep -Eq "CUPULE-GUEST: restart (drain|ok|failed)" "$dir/r.log"; do
		kill -0 $pid 2>/dev/null || break
		sleep "0.$((RANDOM % 3 + 1))"
		if [ $((RANDOM % 2)) = 0 ]; then dev=disk; else dev=eth; fi
		# After every 20th kill, until there were enough: a hang.
		if [ $((kills % 20)) = 19 ] && [ $hangs -lt $hangs_wanted ] &&
		   [ $((kills / 20)) -ge $hangs ]; then
			stopped=$(pid_of "$sock" $dev)
			[ -n "$stopped" ] && kill -STOP "$stopped" 2>/dev/null || continue
			for ((t = 0; t < 300; t++)); do
				new=$(pid_of "$sock" $dev)
				[ -z "$new" ] || [ "$new" = "$stopped" ] || break
				sleep 0.1
			done
			[ -n "$new" ] && [ "$new" != "$stopped" ] ||
				{ echo "$dev's stopped mediator $stopped was not replaced in 30 s"; break; }
			hangs=$((hangs + 1))
			echo "restart: $dev's mediator $stopped stopped, replaced by $new"
		fi
		if [ $((kills % 2)) = 0 ]; then
			"$cupulectl" --socket "$sock" kill r $dev >/dev/null 2>&1 || continue
		else
			target=$(pid_of "$sock" $dev)
			[ -n "$target" ] && kill -9 "$target" 2>/dev/null || continue
		fi
		kills=$((kills + 1))
		if [ $dev = disk ]; then bkills=$((bkills + 1)); else nkills=$((nkills + 1)); fi
		[ $((kills % 10)) != 0 ] || echo "restart: $kills kills so far"
	done
	crossed=$(cat "$dir/tcp.progress" 2>/dev/null || echo 0)
	# The rest of the stream crosses with no kills; the guest says ok
	# or failed within 300 s of its drain (and stays up 5 s after).
	guest_verdict_wait "$dir"
	r1=$(stat_of "$sock" disk virtio resets)
	n1=$(stat_of "$sock" eth virtio resets)
	say "kills: $kills ($bkills blk, $nkills net), hangs: $hangs;" \
		"guest resets blk $r0 -> $r1, net $n0 -> $n1"
	say "tcp: $crossed bytes had crossed when the kills stopped"
	be=$(stat_of "$sock" disk exits)
	ne=$(stat_of "$sock" eth exits)
	say "blk: $be exits, ring $(stat_of "$sock" disk ring)"
	say "net: $ne exits, ring $(stat_of "$sock" eth ring)"
	grep -a "CUPULE-GUEST: writer\|CUPULE-GUEST: ping\|CUPULE-GUEST: tcp" "$dir/r.log" || true
	stop_vm 120
	kill $srv 2>/dev/null || true
	sent=$(guest_sent "$dir")
	got=$(cat "$dir/tcp.out" 2>/dev/null)
	say "tcp: the guest sent '$sent', the test host got '$got'"
	guest_verdict "$dir" "$sent" "$got" || return 1
	icmp_verdict "$dir" "$ie0" "$oe0" || return 1
	[ "$crossed" -gt 0 ] ||
		{ echo "no byte of the TCP stream crossed while mediators were killed"; return 1; }
	[ "$kills" -ge "$min_kills" ] ||
		{ echo "only $kills kills in $secs s, $min_kills wanted"; return 1; }
	[ "$hangs" -ge "$hangs_wanted" ] ||
		{ echo "only $hangs hangs in $secs s, $hangs_wanted wanted"; return 1; }
	[ "$(grep -c "stopped beating: killing\|left a vCPU waiting: killing" "$dir/cupule.log")" -ge "$hangs" ] ||
		{ echo "fewer hangs logged than mediators stopped ($hangs)"; return 1; }
	[ -n "$r1" ] && [ "$r0" = "$r1" ] && [ -n "$n1" ] && [ "$n0" = "$n1" ] ||
		{ echo "the guest reset a device (or the counters were not read)"; return 1; }
	[ "$be" -ge "$bkills" ] && [ "$ne" -ge "$nkills" ] ||
		{ echo "fewer exits counted ($be, $ne) than kills ($bkills, $nkills)"; return 1; }
}

# state_of SOCK DEV: DEV's state in cupulectl list.
state_of() {
	"$cupulectl" --socket "$1" list --json | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d["device"] == sys.argv[1]:
        print(d["state"])' "$2"
}

# The net device crash-loops until it is down: the VM keeps running,
# its blk device keeps serving the guest's writer, the guest's net
# device reads NEEDS_RESET; 'cupulectl restart' brings a mediator back
# and the guest resets the device (unbind, bind: docs/supervision.md)
# and pings again.
case_down() {
	local dir=$1 sock=$1/ctl.sock pid t k old new r0 n0 r1 n1
	tap_up
	start_vm "$dir" "restart_limit = 2; restart_window_ms = 60000;
	    backoff_min_ms = 10; backoff_max_ms = 20;" \
	    "cupule.case=down cupule.secs=60" "down start" || return 1
	# down_fail WHY: the case failed; stop everything.
	down_fail() {
		echo "$1"
		stop_vm 0
		return 1
	}
	r0=$(stat_of "$sock" disk virtio resets)
	n0=$(stat_of "$sock" eth virtio resets)
	# Kill the net mediator as soon as each successor runs: past
	# restart_limit (2) in the window, the device is down.
	for ((k = 0; k < 10; k++)); do
		[ "$(state_of "$sock" eth)" != down ] || break
		old=$(pid_of "$sock" eth)
		[ -n "$old" ] && kill -9 "$old" 2>/dev/null || { sleep 0.1; continue; }
		for ((t = 0; t < 100; t++)); do
			new=$(pid_of "$sock" eth)
			{ [ -n "$new" ] && [ "$new" != "$old" ]; } ||
				[ "$(state_of "$sock" eth)" = down ] && break
			sleep 0.1
		done
	done
	[ "$(state_of "$sock" eth)" = down ] || { down_fail "eth not down after $k kills"; return 1; }
	grep -q "r/eth: device down (restart limit)" "$dir/cupule.log" ||
		{ down_fail "no 'device down' logged"; return 1; }
	[ "$(stat_of "$sock" eth virtio needs_reset)" = True ] ||
		{ down_fail "the down device does not show NEEDS_RESET"; return 1; }
	echo "down: eth down after $k kills; NEEDS_RESET shown"
	# A while down: the VM runs on and so does the disk.
	sleep 5
	kill -0 $pid 2>/dev/null || { down_fail "the VM died with its device down"; return 1; }
	[ "$(state_of "$sock" disk)" = running ] || { down_fail "the disk is not running"; return 1; }
	"$cupulectl" --socket "$sock" restart r eth >/dev/null ||
		{ down_fail "cupulectl restart r eth failed"; return 1; }
	for ((t = 0; t < 100; t++)); do
		[ -z "$(pid_of "$sock" eth)" ] || break
		sleep 0.1
	done
	[ -n "$(pid_of "$sock" eth)" ] || { down_fail "eth not running 10 s after the restart"; return 1; }
	echo "down: eth restarted as pid $(pid_of "$sock" eth)"
	printf CUPULE-UP | dd of="$dir/disk.img" bs=4096 seek=15360 conv=notrunc status=none
	t=0
	until grep -Eq "CUPULE-GUEST: (down ok|restart failed)" "$dir/r.log"; do
		sleep 1
		t=$((t + 1))
		[ $t -lt 300 ] && kill -0 $pid 2>/dev/null || { down_fail "the guest did not finish"; return 1; }
	done
	r1=$(stat_of "$sock" disk virtio resets)
	n1=$(stat_of "$sock" eth virtio resets)
	stop_vm 60
	grep -a "CUPULE-GUEST: down\|CUPULE-GUEST: writer" "$dir/r.log" || true
	echo "down: guest resets blk $r0 -> $r1, net $n0 -> $n1"
	grep -q "CUPULE-GUEST: down ok" "$dir/r.log" ||
		{ echo "guest: $(grep -a "CUPULE-GUEST" "$dir/r.log" | tail -n 3)"; return 1; }
	[ -n "$r1" ] && [ "$r0" = "$r1" ] || { echo "the guest reset its disk"; return 1; }
	[ -n "$n1" ] && [ "$n1" -gt "$n0" ] || { echo "the guest did not reset its net device"; return 1; }
}

# A seccomp violation under a Linux guest: a cupule-net built with a
# serve policy that lacks ioctl (CUPULE_NARROW_BIN, made below) dies of
# SIGSYS the first time it tells the tap which offloads the guest took,
# which the guest's driver sets off while it brings eth0 up.  The call
# is named in the log, the supervisor starts the mediator again (which
# does that ioctl while it sets up, where it is allowed), and the guest
# carries on: its writers, pings and TCP stream as in the drill, with
# no kill from outside, and no device reset.
case_sigsys() {
	local dir=$1 sock=$1/ctl.sock pid srv t n0 n1 sent got restarts
	local cupule=${CUPULE_NARROW_BIN:-}
	[ -x "$cupule" ] || { echo "no narrowed build (CUPULE_NARROW_BIN)"; return 1; }
	tap_up
	python3 "$repo/tests/e2e/tcpsink.py" 10.0.4.1 5001 300 >"$dir/tcp.out" 2>&1 &
	srv=$!
	start_vm "$dir" "restart_limit = 4; restart_window_ms = 60000;
	    backoff_min_ms = 10; backoff_max_ms = 100;" \
	    "cupule.secs=20" "restart start" || { kill $srv; return 1; }
	n0=$(stat_of "$sock" eth virtio resets)
	guest_verdict_wait "$dir"
	n1=$(stat_of "$sock" eth virtio resets)
	restarts=$(stat_of "$sock" eth restarts)
	stop_vm 120
	kill $srv 2>/dev/null || true
	grep -a "sandbox: system call\|killed by SIGSYS\|r/eth: started again" "$dir/cupule.log" || true
	grep -a "CUPULE-GUEST: writer\|CUPULE-GUEST: ping\|CUPULE-GUEST: tcp" "$dir/r.log" || true
	sent=$(guest_sent "$dir")
	got=$(cat "$dir/tcp.out" 2>/dev/null)
	say "sigsys: eth restarts $restarts, guest resets $n0 -> $n1;" \
		"tcp: the guest sent '$sent', the test host got '$got'"
	grep -q "r/eth: sandbox: system call ioctl (16) is not in the serve policy of net" "$dir/cupule.log" ||
		{ echo "no ioctl named as the forbidden call"; return 1; }
	grep -q "r/eth: pid [0-9]* killed by SIGSYS (a system call its sandbox forbids)" "$dir/cupule.log" ||
		{ echo "the supervisor did not say the mediator died of SIGSYS"; return 1; }
	[ "$restarts" = 1 ] || { echo "eth restarted $restarts times, once wanted"; return 1; }
	guest_verdict "$dir" "$sent" "$got" || return 1
	[ -n "$n1" ] && [ "$n0" = "$n1" ] || { echo "the guest reset its net device"; return 1; }
}

inner() {
	[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun here"; exit 77; }
	# shellcheck disable=SC2086
	e2e_run restart ${CUPULE_E2E_CASES:-restart down sigsys}
}

if [ "${1:-}" = --inner ]; then
	inner
	exit
fi

"$testbed/fetch-kernel.sh" >/dev/null
"$testbed/mkguest.sh" >/dev/null
mkdir -p "$repo/.cache"
cc -O2 -static -o "$repo/.cache/pattern" "$repo/tests/e2e/guest/pattern.c"
overlay=$(mktemp)
trap 'rm -f "$overlay"' EXIT
# shellcheck disable=SC2086
CUPULE_OVERLAY_FILES="$repo/.cache/pattern:/pattern" \
	"$testbed/mkoverlay.sh" "$overlay" "$repo/tests/e2e/guest/restart.sh" $modules
cat "$repo/.cache/guest.cpio.gz" "$overlay" >"$initrd"
# case_sigsys's cupule: net's serve policy without its ioctl rule, built
# the way every policy is (mediators/*/*.policy, compiled in).
narrow=$repo/.cache/narrow-net
mkdir -p "$narrow/pol"
sed '/^serve/,$ {/syscall = "ioctl"/d}' "$repo/mediators/net/net.policy" >"$narrow/pol/net.policy"
if grep -A30 '^serve' "$narrow/pol/net.policy" | grep -q '"ioctl"' ||
   ! grep -q '"ioctl"' "$narrow/pol/net.policy"; then
	echo "the narrowed net policy still allows ioctl when serving, or not when setting up" >&2
	exit 1
fi
make -s -C "$repo" BUILD="$narrow" \
	POLICY_FILES="mediators/blk/blk.policy $narrow/pol/net.policy mediators/net/switch.policy" \
	"$narrow/bin/cupule" "$narrow/bin/cupule-blk" "$narrow/bin/cupule-net"
CUPULE_BIN=$cupule CUPULE_NARROW_BIN=$narrow/bin/cupule \
	"$testbed/run-in-host.sh" --timeout 1800 "$0" --inner
