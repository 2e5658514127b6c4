# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh disable=SC1091,SC2013
# The guest half of bench/net/run.sh, run as /test.sh by the guest's
# init.  From the kernel command line: cupule.role= (client: ping and
# iperf3 both ways; sender: iperf3 to the peer only; server: iperf3 -s
# for one test), cupule.ip=, cupule.peer=, cupule.runtime= (seconds per
# iperf3 run).  Prints "CUPULE-BENCH: <what> <value>" lines.
. /load-modules
runtime=10
for arg in $(cat /proc/cmdline); do
	case $arg in
	cupule.role=*) role=${arg#cupule.role=} ;;
	cupule.ip=*) ip=${arg#cupule.ip=} ;;
	cupule.peer=*) peer=${arg#cupule.peer=} ;;
	cupule.runtime=*) runtime=${arg#cupule.runtime=} ;;
	esac
done
say() { echo "CUPULE-BENCH: $*"; }
ip link set lo up
ip link set eth0 up
ip addr add "$ip/24" dev eth0
say "info $(uname -r), $(nproc) CPUs, eth0 $(cat /sys/class/net/eth0/address)"

# mbps ARGS...: one iperf3 run to the peer; the receiver's Mbit/s.
mbps() {
	iperf3 -c "$peer" -t "$runtime" -f m "$@" >/tmp/iperf 2>&1 ||
		{ say "error iperf3 $*: $(tail -n 1 /tmp/iperf)"; echo -; return; }
	sed -n 's/.* \([0-9.]*\) Mbits\/sec.*receiver.*/\1/p' /tmp/iperf | tail -n 1
}

wait_peer() {
	i=0
	until ping -c 1 -W 1 "$peer" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 120 ] || { say "error $peer never answered"; return 1; }
	done
}

case $role in
client)
	wait_peer || exit 1
	ping -c 20 -i 0.2 "$peer" >/tmp/ping 2>&1
	say "rtt-ms $(sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p' /tmp/ping)"
	sleep 1
	say "tx-mbps $(mbps)"
	sleep 1
	say "rx-mbps $(mbps -R)" ;;
sender)
	wait_peer || exit 1
	# The server may still be starting iperf3: try for a while.
	i=0
	until iperf3 -c "$peer" -t 1 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 30 ] || { say "error no iperf3 server at $peer"; exit 1; }
		sleep 1
	done
	sleep 1
	say "vm2vm-mbps $(mbps)" ;;
server)
	# One probe connection from the sender, then the measured one.
	iperf3 -s -1 >/dev/null 2>&1
	iperf3 -s -1 >/dev/null 2>&1
	say "info server done" ;;
esac
