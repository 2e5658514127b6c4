#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Live restart under load, with Debian's kernel and stock virtio drivers:
# while the guest writes patterned blocks with O_DIRECT from two writers
# and verifies every read (tests/e2e/guest/pattern.c), pings the test
# host over a tap and keeps one TCP connection sending, the test host
# SIGKILLs the blk and net mediators at random moments, at least 100
# times in all, half through cupulectl kill, half with kill -9 from
# outside.  Passes when the guest saw no I/O error and no block that did
# not hold its last completed write, pings came back, the TCP stream
# arrived whole (md5), the guest never reset either device (the virtio
# reset counters did not move), and every kill was a restart.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
testbed=$repo/tests/testbed
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
cupulectl=$(dirname "$cupule")/cupulectl
kernel=$repo/.cache/kernel/vmlinuz
initrd=$repo/.cache/guest-restart.cpio.gz
secs=${CUPULE_RESTART_SECS:-150}
min_kills=100
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk failover net_failover virtio_net"

say() { echo "$*"; }

# stat_of SOCK DEV KEY...: a number from cupulectl stats --json.
stat_of() {
	"$cupulectl" --socket "$1" stats --json | python3 -c '
import json, sys
dev, path = sys.argv[1], sys.argv[2:]
for d in json.load(sys.stdin):
    if d["device"] == dev:
        for k in path:
            d = d[k]
        print(d)
' "$2" "${@:3}"
}

case_restart() {
	local dir=$1 sock=$1/ctl.sock pid kills=0 bkills=0 nkills=0 t
	local r0 n0 r1 n1 dev target be ne srv sent got
	ip tuntap add curtap0 mode tap
	ip addr add 10.0.4.1/24 dev curtap0
	ip link set curtap0 up
	# The test host's end of the guest's TCP stream: bytes and md5.
	python3 - >"$dir/tcp.out" 2>&1 <<'PY' &
import hashlib, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.4.1", 5001))
s.listen(1)
s.settimeout(900)
c, _ = s.accept()
h, n = hashlib.md5(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
PY
	srv=$!
	truncate -s 64M "$dir/disk.img"
	# The drill kills far more often than a real crash loop would: no
	# backoff to speak of, and never down.
	cat >"$dir/vm.cfg" <<EOF
control = { socket = "$sock"; };
supervise = { restart_limit = 64; restart_window_ms = 1000;
              backoff_min_ms = 0; backoff_max_ms = 0; };
vms = ( { name = "r"; memory = "256M"; vcpus = 1; cpus = [ 1 ];
  kernel = "$kernel"; initrd = "$initrd";
  cmdline = "console=ttyS0 quiet panic=-1 cupule.test=script cupule.secs=$secs";
  console = "file:r.log";
  devices = ( { type = "blk"; id = "disk"; image = "disk.img"; },
              { type = "net"; id = "eth"; backend = "tap:curtap0"; } ); } );
EOF
	"$cupule" run "$dir/vm.cfg" -v >"$dir/cupule.log" 2>&1 </dev/null &
	pid=$!
	t=0
	until grep -q "CUPULE-GUEST: restart start" "$dir/r.log" 2>/dev/null; do
		sleep 1
		t=$((t + 1))
		if [ $t -ge 300 ] || ! kill -0 $pid 2>/dev/null; then
			echo "the guest never started its writers"
			kill $pid $srv 2>/dev/null; wait $pid 2>/dev/null
			ip link del curtap0
			return 1
		fi
	done
	r0=$(stat_of "$sock" disk virtio resets)
	n0=$(stat_of "$sock" eth virtio resets)
	echo "restart: the guest's writers run; killing"
	# Kill until the guest is done, at random moments.
	while ! grep -Eq "CUPULE-GUEST: restart (ok|failed)" "$dir/r.log"; do
		kill -0 $pid 2>/dev/null || break
		sleep "0.$((RANDOM % 3 + 1))"
		if [ $((RANDOM % 2)) = 0 ]; then dev=disk; else dev=eth; fi
		if [ $((kills % 2)) = 0 ]; then
			"$cupulectl" --socket "$sock" kill r $dev >/dev/null 2>&1 || continue
		else
			target=$("$cupulectl" --socket "$sock" list --json | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d["device"] == sys.argv[1] and d["state"] == "running":
        print(d["pid"])' $dev)
			[ -n "$target" ] && kill -9 "$target" 2>/dev/null || continue
		fi
		kills=$((kills + 1))
		if [ $dev = disk ]; then bkills=$((bkills + 1)); else nkills=$((nkills + 1)); fi
		[ $((kills % 10)) != 0 ] || echo "restart: $kills kills so far"
	done
	r1=$(stat_of "$sock" disk virtio resets)
	n1=$(stat_of "$sock" eth virtio resets)
	say "kills: $kills ($bkills blk, $nkills net); guest resets blk $r0 -> $r1, net $n0 -> $n1"
	be=$(stat_of "$sock" disk exits)
	ne=$(stat_of "$sock" eth exits)
	say "blk: $be exits, ring $(stat_of "$sock" disk ring)"
	say "net: $ne exits, ring $(stat_of "$sock" eth ring)"
	grep -a "CUPULE-GUEST: writer\|CUPULE-GUEST: ping" "$dir/r.log" || true
	t=0
	while kill -0 $pid 2>/dev/null && [ $t -lt 120 ]; do sleep 1; t=$((t + 1)); done
	kill $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	kill $srv 2>/dev/null || true
	ip link del curtap0
	sent=$(tr -d '\r' <"$dir/r.log" |
		sed -n 's/^CUPULE-GUEST: sent md5 \([0-9a-f]*\) bytes \([0-9]*\)$/\2 \1/p' | tail -n 1)
	got=$(cat "$dir/tcp.out" 2>/dev/null)
	say "tcp: the guest sent '$sent', the test host got '$got'"
	grep -q "CUPULE-GUEST: restart ok" "$dir/r.log" ||
		{ echo "guest: $(grep -a "CUPULE-GUEST" "$dir/r.log" | tail -n 3)"; return 1; }
	[ -n "$sent" ] && [ "$sent" = "$got" ] ||
		{ echo "the TCP stream arrived damaged or not at all"; return 1; }
	[ "$kills" -ge "$min_kills" ] ||
		{ echo "only $kills kills in $secs s, $min_kills wanted"; return 1; }
	[ -n "$r1" ] && [ "$r0" = "$r1" ] && [ -n "$n1" ] && [ "$n0" = "$n1" ] ||
		{ echo "the guest reset a device (or the counters were not read)"; return 1; }
	[ "$be" -ge "$bkills" ] && [ "$ne" -ge "$nkills" ] ||
		{ echo "fewer exits counted ($be, $ne) than kills ($bkills, $nkills)"; return 1; }
}

inner() {
	local dir why=
	[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm here"; exit 77; }
	[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun here"; exit 77; }
	dir=${CUPULE_E2E_KEEP:-$(mktemp -d)}
	mkdir -p "$dir"
	if [ -n "${CUPULE_JOB_DIR:-}" ]; then
		( while sleep 10; do
			mkdir -p "$CUPULE_JOB_DIR/live"
			cp --no-preserve=all "$dir"/*.log "$CUPULE_JOB_DIR/live/" 2>/dev/null
		done ) &
	fi
	if (cd "$dir" && case_restart "$dir"); then
		echo "PASS: restart"
		echo "1 passed, 0 failed"
		return 0
	fi
	# A guest that triple-faulted is a void run, once (docs/testing.md):
	# the case must then pass outright.
	if grep -qa "triple fault" "$dir/cupule.log"; then
		echo "VOID: restart: $(grep -ah "triple fault" "$dir/cupule.log" | head -n 1); running it again"
		dir=$dir/again
		mkdir -p "$dir"
		if (cd "$dir" && case_restart "$dir"); then
			echo "PASS: restart"
			echo "1 passed, 0 failed"
			return 0
		fi
	fi
	echo "FAIL: restart"
	tail -n 20 "$dir/cupule.log" | sed 's/^/  | /'
	echo "0 passed, 1 failed"
	return 1
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
CUPULE_BIN=$cupule "$testbed/run-in-host.sh" --timeout 1500 "$0" --inner
