# SPDX-License-Identifier: BSD-3-Clause
# The guest half of tests/e2e/restart.sh, run as /test.sh by the guest's
# init (cupule.test=script): two writers of patterned blocks with
# O_DIRECT on disjoint parts of /dev/vda (so several requests are in
# flight when a mediator dies) and a ping every 0.2 s to the test host
# over eth0 and one TCP connection sending 1 MiB every 4 s, for
# cupule.secs= seconds, while the test host kills the blk
# and net mediators again and again; then "restart drain", the kills
# stop, and the rest of the stream goes.  "CUPULE-GUEST: restart ok" when
# no writer saw an I/O error or a block that did not hold its last
# write, and pings came back.  With cupule.case=down, down() below.
. /load-modules
secs=60
case_=restart
for arg in $(cat /proc/cmdline); do
	case $arg in
	cupule.secs=*) secs=${arg#cupule.secs=} ;;
	cupule.case=*) case_=${arg#cupule.case=} ;;
	esac
done
say() { echo "CUPULE-GUEST: $*"; }
# snmp FILE PREFIX KEY: a counter from /proc/net/snmp or netstat.
snmp() {
	awk -v p="$2" -v k="$3" '$1 == p {
		if (!c) { for (i = 2; i <= NF; i++) if ($i == k) c = i }
		else { print $c; exit } }' "$1"
}
fail() { say "restart failed: $*"; exit 1; }

# cupule.case=down: the net device is driven down under the guest (a
# crash loop), stays down while its blk sibling keeps serving a writer,
# and comes back by 'cupulectl restart'; the test host then writes
# "CUPULE-UP" at 60 MiB on /dev/vda, and the guest resets the device
# the way docs/supervision.md says: unbind and bind its driver.  Touching
# the device before that would hang the driver's reset (it waits for the
# status to read 0, and a down device keeps NEEDS_RESET).
down() {
	pci=$(basename "$(readlink -f /sys/class/net/eth0/device/..)")
	/pattern /dev/vda 0 2048 "$secs" 1 >/tmp/p0 2>&1 &
	writer=$!
	say "down start $pci"
	t=0
	until [ "$(blockdev --flushbufs /dev/vda && dd if=/dev/vda bs=4096 skip=15360 count=1 2>/dev/null | head -c 9)" = CUPULE-UP ]; do
		sleep 1
		t=$((t + 1))
		[ $t -lt 300 ] || fail "no CUPULE-UP on the disk in 300 s"
	done
	say "down: the device is back, resetting it"
	echo "$pci" >/sys/bus/pci/drivers/virtio-pci/unbind || fail "unbind $pci"
	echo "$pci" >/sys/bus/pci/drivers/virtio-pci/bind || fail "bind $pci"
	t=0
	until [ -d /sys/class/net/eth0 ]; do
		sleep 1
		t=$((t + 1))
		[ $t -lt 30 ] || fail "no eth0 after binding $pci again"
	done
	ip link set eth0 up || fail "link up again"
	ip addr add 10.0.4.15/24 dev eth0 || fail "address again"
	t=0
	until ping -c 1 -W 1 10.0.4.1 >/dev/null 2>&1; do
		t=$((t + 1))
		[ $t -lt 60 ] || fail "no ping after the reset"
	done
	say "down: ping answered $t s after the reset"
	wait "$writer"
	rc=$?
	sed 's/^/CUPULE-GUEST: writer 0: /' /tmp/p0 | tail -n 3
	[ "$rc" = 0 ] || fail "the writer exited with $rc"
	say "down ok"
	sleep 5
	exit 0
}


[ -b /dev/vda ] || fail "no /dev/vda"
[ -d /sys/class/net/eth0 ] || fail "no eth0"
ip link set lo up
ip link set eth0 up || fail "link up"
ip addr add 10.0.4.15/24 dev eth0 || fail address
i=0
until ping -c 1 -W 1 10.0.4.1 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 60 ] || fail "the test host never answered a ping"
done
[ "$case_" != down ] || down
say "restart start"
pids=
for w in 0 1; do
	/pattern /dev/vda $((w * 2048)) 2048 "$secs" $((w + 1)) >/tmp/p$w 2>&1 &
	pids="$pids $!"
done
ping -i 0.2 -w "$secs" 10.0.4.1 >/tmp/ping 2>&1 &
ping=$!
# One TCP connection for the whole run: 1 MiB every 4 s, while the net
# mediator is killed under it; what is left of it once the writers are
# done goes at once (/tmp/drain).
dd if=/dev/urandom of=/tmp/mib bs=1M count=1 2>/dev/null
n=$((secs / 5))
stream() {
	i=0
	while [ $i -lt $n ]; do
		cat /tmp/mib
		i=$((i + 1))
		[ "${1:-}" = slow ] && [ ! -e /tmp/drain ] && sleep 4
	done
}
say "sent md5 $(stream | md5sum | cut -d' ' -f1) bytes $((n << 20))"
( stream slow | nc 10.0.4.1 5001; echo $? >/tmp/tcp ) &
rcs=
for p in $pids; do
	wait "$p"
	rcs="$rcs $?"
done
wait "$ping"
# The timed part is over: the test host stops killing at this line, and
# the rest of the stream crosses a quiet wire.  A connection that backed
# off hard under the kills may take a while to pick up again.
touch /tmp/drain
say "restart drain"
t=0
while [ ! -s /tmp/tcp ] && [ $t -lt 300 ]; do sleep 1; t=$((t + 1)); done
say "tcp nc exit $(cat /tmp/tcp 2>/dev/null) after $t s of draining;" \
	"$(snmp /proc/net/snmp Tcp: RetransSegs) segments sent again," \
	"$(snmp /proc/net/netstat TcpExt: TCPTimeouts) retransmission timeouts"
for w in 0 1; do sed 's/^/CUPULE-GUEST: writer '$w': /' /tmp/p$w | tail -n 3; done
stats=$(grep "packets transmitted" /tmp/ping)
say "ping $stats"
# Every echo request this guest sent and every reply it took in, since
# it booted: the test host holds them against its own counts.
say "icmp sent $(snmp /proc/net/snmp Icmp: OutEchos) requests," \
	"took $(snmp /proc/net/snmp Icmp: InEchoReps) replies"
received=$(echo "$stats" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
say "vda inflight $(cat /sys/block/vda/inflight) eth0 $(cat /sys/class/net/eth0/operstate)"
[ "$rcs" = " 0 0" ] || fail "writers exited with$rcs"
[ "${received:-0}" -gt 0 ] || fail "no ping came back"
[ "$(cat /tmp/tcp 2>/dev/null)" = 0 ] || fail "the TCP stream did not end cleanly"
say "restart ok"
# The test host reads the device counters now: stay up a little.
sleep 5
