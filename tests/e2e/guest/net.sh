# SPDX-License-Identifier: BSD-3-Clause
# The guest half of tests/e2e/net.sh, run as /test.sh by the guest's init
# (cupule.test=script).  Arguments come on the kernel command line:
# cupule.case= (tap, sender, receiver), cupule.ip= (this guest's address
# in a /24), cupule.peer= (the other end), cupule.mac= (the MAC the
# scenario gave), cupule.mib= (MiB to send, default 100).  Each case prints "CUPULE-GUEST: <case> ok" when
# everything it checked held.
. /load-modules
for arg in $(cat /proc/cmdline); do
	case $arg in
	cupule.case=*) case_=${arg#cupule.case=} ;;
	cupule.ip=*) ip=${arg#cupule.ip=} ;;
	cupule.peer=*) peer=${arg#cupule.peer=} ;;
	cupule.mac=*) mac=${arg#cupule.mac=} ;;
	cupule.mib=*) mib=${arg#cupule.mib=} ;;
	esac
done
say() { echo "CUPULE-GUEST: $*"; }
fail() { say "$case_ failed: $*"; exit 1; }

[ -d /sys/class/net/eth0 ] || fail "no eth0"
got=$(cat /sys/class/net/eth0/address)
[ "$got" = "$mac" ] || fail "eth0 has MAC $got, the scenario said $mac"
say "mac $got"
ip link set lo up
ip link set eth0 up || fail "link up"
ip addr add "$ip/24" dev eth0 || fail "address"

# Every 30 s, how the transfer goes: a stalled one then shows which way
# frames stopped and whether TCP is retransmitting.
snmp() {
	awk -v p="$2" -v k="$3" '$1 == p {
		if (!c) { for (i = 2; i <= NF; i++) if ($i == k) c = i }
		else { print $c; exit } }' "$1"
}
( while sleep 30; do
	say "progress: eth0 rx $(cat /sys/class/net/eth0/statistics/rx_bytes)" \
		"tx $(cat /sys/class/net/eth0/statistics/tx_bytes) bytes," \
		"rx dropped $(cat /sys/class/net/eth0/statistics/rx_dropped);" \
		"TCP: $(snmp /proc/net/snmp Tcp: RetransSegs) sent again," \
		"$(snmp /proc/net/netstat TcpExt: TCPTimeouts) timeouts," \
		"$(snmp /proc/net/snmp Tcp: InErrs) bad in"
done ) &

# wait_peer: ping until the peer answers (it may still be booting).
wait_peer() {
	i=0
	until ping -c 1 -W 1 "$peer" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 120 ] || fail "$peer never answered a ping"
	done
}

# stream: cupule.mib= MiB (default 100), that many times the same
# random MiB.
dd if=/dev/urandom of=/tmp/mib bs=1M count=1 2>/dev/null
stream() {
	i=0
	while [ $i -lt "${mib:-100}" ]; do
		cat /tmp/mib
		i=$((i + 1))
	done
}

case $case_ in
tap | sender)
	wait_peer
	ping -c 3 "$peer" >/tmp/ping || fail "ping $peer"
	say "ping: $(grep -o '[0-9]* packets received' /tmp/ping)"
	say "sent md5 $(stream | md5sum | cut -d' ' -f1)"
	# The peer listens on port 5001 (the test host, or the receiver).
	i=0
	until stream | nc "$peer" 5001; do
		i=$((i + 1))
		[ $i -lt 30 ] || fail "no TCP connection to $peer:5001"
		sleep 1
	done
	say "$case_ ok" ;;
receiver)
	# Listen first: the sender connects as soon as it can.  The md5 of
	# what arrives, without keeping 100 MiB in memory.  nc's input must
	# not end (a background job's is /dev/null): on its end nc closes
	# its side, and the sender's nc takes that for the end of the
	# transfer.  The sleep outlives the transfer: /tmp/sum marks its end.
	sleep 100000 | nc -l -p 5001 |
		{ md5sum | cut -d' ' -f1 >/tmp/sum.part; mv /tmp/sum.part /tmp/sum; } &
	wait_peer
	ping -c 3 "$peer" >/tmp/ping || fail "ping $peer"
	say "ping: $(grep -o '[0-9]* packets received' /tmp/ping)"
	until [ -e /tmp/sum ]; do
		sleep 1
	done
	say "recv md5 $(cat /tmp/sum)"
	say "receiver ok" ;;
*)
	fail "unknown case" ;;
esac
