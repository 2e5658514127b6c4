#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Network benchmark: iperf3 and ping in a Linux guest on virtio-net
# through a tap to the test host, under cupule (cupule-net) and under
# QEMU's virtio-net (tap backend, vhost=off: there is no vhost-net in
# the test host); iperf3 over the test host's loopback as the floor of
# what its kernel does alone; and guest to guest through a cupule switch.
# One boot of the test host (or this machine, with hardware
# virtualisation), one kernel, one initramfs.  Prints a table; raw
# outputs go to .cache/bench-net/.  A measurement, not a test.
#
# Variables: BENCH_RUNTIME (seconds per iperf3 run, default 10).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kernel=$repo/.cache/kernel/vmlinuz
out=$repo/.cache/bench-net
initrd=$out/initrd.img
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci failover net_failover virtio_net"
vm_limit=400

# ---- in the test host ----------------------------------------------------

# vm NAME CONSOLE COMMAND...: runs a guest (or two) and reports the
# CUPULE-BENCH lines of CONSOLE (a file the guests write, or "-" for
# the command's own output) as results of column NAME.
vm() {
	local name=$1 console=$2 rc=0
	shift 2
	echo "BENCH-INFO: $name: starting"
	timeout -k 5 "$vm_limit" "$@" >"$work/$name.out" 2>&1 </dev/null || rc=$?
	echo "BENCH-INFO: $name: exited with status $rc"
	[ "$console" != - ] || console=$work/$name.out
	cat "$work/$name.out" $([ "$console" = "$work/$name.out" ] || echo "$console") 2>/dev/null |
		sed 's/\r$//; s/^/BENCH-RAW: '"$name"' | /'
	sed -n 's/\r$//; s/^.*CUPULE-BENCH: \([a-z0-9-]*\) \(.*\)/BENCH-RESULT: '"$name"' \1 \2/p' \
		"$console" 2>/dev/null | grep -v " info \| error " || true
	sed -n 's/\r$//; s/^.*CUPULE-BENCH: \(info\|error\) /BENCH-INFO: '"$name"': /p' \
		"$console" 2>/dev/null || true
}

# cfg NAME ROLE IP PEER BACKEND CPU: one VM entry of a cupule scenario.
cfg() {
	cat <<EOF
{ name = "$1"; memory = "512M"; vcpus = 1; cpus = [ $6 ];
  kernel = "$kernel"; initrd = "$initrd";
  cmdline = "console=ttyS0 quiet panic=-1 cupule.test=script cupule.role=$2 cupule.ip=$3 cupule.peer=$4 cupule.runtime=$runtime";
  console = "file:$work/$1.console"; on_reboot = "exit";
  devices = ( { type = "net"; backend = "$5"; } ); }
EOF
}

# pin_vcpu: moves the vCPU thread of the QEMU about to start to CPU 1.
pin_vcpu() {
	local i t
	for ((i = 0; i < 200; i++)); do
		for t in /proc/[0-9]*/task/*; do
			[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/KVM" ] || continue
			taskset -p -c 1 "${t##*/}" >/dev/null && return 0
		done
		sleep 0.1
	done
	echo "BENCH-INFO: qemu: no vCPU thread to pin"
}

inner() {
	local cupule=${CUPULE_BIN:-$repo/build/bin/cupule} r
	runtime=$1
	[ -c /dev/kvm ] || { echo "bench: no /dev/kvm here" >&2; exit 77; }
	work=$(mktemp -d)
	trap 'ip link del cubn0 2>/dev/null; pkill -x iperf3; rm -rf "$work"' EXIT
	ip link set lo up
	ip tuntap add cubn0 mode tap
	ip addr add 10.0.5.1/24 dev cubn0
	ip link set cubn0 up
	iperf3 -s -D -B 10.0.5.1 >/dev/null
	iperf3 -s -D -B 127.0.0.1 -p 5202 >/dev/null
	echo "BENCH-INFO: host: $(uname -r), $(nproc) CPUs"
	sleep 1

	# The floor: the test host's kernel alone, over loopback.
	r=$( (iperf3 -c 127.0.0.1 -p 5202 -t "$runtime" -f m 2>&1 || true) |
		sed -n 's/.* \([0-9.]*\) Mbits\/sec.*receiver.*/\1/p' | tail -n 1)
	echo "BENCH-RESULT: loopback tx-mbps ${r:--}"
	r=$( (busybox ping -c 20 -i 0.2 127.0.0.1 || true) |
		sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
	echo "BENCH-RESULT: loopback rtt-ms ${r:--}"

	echo "vms = ( $(cfg tapvm client 10.0.5.2 10.0.5.1 tap:cubn0 1) );" >"$work/tap.cfg"
	vm cupule "$work/tapvm.console" "$cupule" run "$work/tap.cfg" -v

	# QEMU's vCPU thread goes to CPU 1 like cupule's; its other threads
	# (the tap I/O among them) float, as cupule's VM process and mediator do.
	pin_vcpu &
	vm qemu - qemu-system-x86_64 -enable-kvm -cpu host -M pc -m 512 -smp 1 \
		-nographic -nodefaults -serial stdio -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1 cupule.test=script cupule.role=client cupule.ip=10.0.5.3 cupule.peer=10.0.5.1 cupule.runtime=$runtime" \
		-netdev tap,id=n0,ifname=cubn0,script=no,downscript=no,vhost=off \
		-device virtio-net-pci,netdev=n0,mac=02:00:00:00:05:03

	echo "vms = ( $(cfg a sender 10.0.6.1 10.0.6.2 switch:bench 1),
		$(cfg b server 10.0.6.2 10.0.6.1 switch:bench 1) );" >"$work/sw.cfg"
	cat /dev/null >"$work/ab.console"
	vm switch "$work/ab.console" sh -c '"$0" run "$1" -v; cat "$2" "$3" >"$4"' \
		"$cupule" "$work/sw.cfg" "$work/a.console" "$work/b.console" "$work/ab.console"
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit
fi

# ---- on this machine -----------------------------------------------------

runtime=${BENCH_RUNTIME:-10}
[[ $runtime =~ ^[0-9]+$ ]] || { echo "bench: not a number: $runtime" >&2; exit 2; }
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
command -v iperf3 >/dev/null || { echo "bench: no iperf3 here (apt-get install -y iperf3)" >&2; exit 1; }
[ -x "$cupule" ] || { echo "bench: no $cupule (run make first)" >&2; exit 1; }
"$repo/tests/testbed/fetch-kernel.sh" >/dev/null
"$repo/tests/testbed/mkguest.sh" >/dev/null
mkdir -p "$out"
# shellcheck disable=SC2086
"$repo/tests/testbed/mkoverlay.sh" "$out/overlay.cpio.gz" "$repo/bench/net/guest.sh" $modules
"$repo/tests/testbed/mkprog.sh" "$out/iperf3.cpio.gz" iperf3
cat "$repo/.cache/guest.cpio.gz" "$out/overlay.cpio.gz" "$out/iperf3.cpio.gz" >"$initrd"

echo "net benchmark: iperf3 and ping in the guest, cupule-net and QEMU virtio-net" \
	"(tap, vhost=off) to the test host; guest to guest through a cupule switch;" \
	"$runtime s per iperf3 run"
CUPULE_BIN=$cupule "$repo/tests/testbed/run-in-host.sh" --timeout 1800 \
	"$repo/bench/net/run.sh" --inner "$runtime" | tee "$out/run.log" >/dev/null || true
awk '$1 == "BENCH-RAW:" { line = $0; sub(/^BENCH-RAW: [^ ]+ \| ?/, "", line); print line > ("'"$out"'/" $2 ".txt") }' "$out/run.log"
grep '^BENCH-INFO' "$out/run.log" | sed 's/^BENCH-INFO: //'
echo
awk '
$1 == "BENCH-RESULT:" { v[$2, $3] = $4 }
function ratio(a, b) { return (a != "" && b != "" && a != "-" && b != "-" && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
function val(x) { return x == "" ? "-" : x }
END {
	printf "%-28s %12s %12s %12s %16s\n", "", "cupule", "QEMU", "cupule/QEMU", "host loopback"
	printf "%-28s %12s %12s %12s %16s\n", "guest -> host (Mbit/s)", val(v["cupule", "tx-mbps"]), val(v["qemu", "tx-mbps"]), ratio(v["cupule", "tx-mbps"], v["qemu", "tx-mbps"]), val(v["loopback", "tx-mbps"])
	printf "%-28s %12s %12s %12s %16s\n", "host -> guest (Mbit/s)", val(v["cupule", "rx-mbps"]), val(v["qemu", "rx-mbps"]), ratio(v["cupule", "rx-mbps"], v["qemu", "rx-mbps"]), ""
	printf "%-28s %12s %12s %12s %16s\n", "ping RTT (ms, avg of 20)", val(v["cupule", "rtt-ms"]), val(v["qemu", "rtt-ms"]), ratio(v["cupule", "rtt-ms"], v["qemu", "rtt-ms"]), val(v["loopback", "rtt-ms"])
	printf "%-28s %12s\n", "guest -> guest, switch (Mbit/s)", val(v["switch", "vm2vm-mbps"])
}' "$out/run.log"
