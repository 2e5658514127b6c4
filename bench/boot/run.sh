#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Boot benchmark: cupule against QEMU (microvm and pc machines) on the same
# kernel and busybox guest, BENCH_RUNS boots each (default 5), in the test
# host when this machine has no hardware virtualisation.  Prints medians:
# time to the guest's init, time to the VMM's exit after power-off, and
# the VMM's resident memory without guest RAM.  A measurement, not a test:
# slow figures never fail it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runs=${BENCH_RUNS:-5}
"$repo/tests/testbed/fetch-kernel.sh" >/dev/null
"$repo/tests/testbed/mkguest.sh" >/dev/null

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "boot benchmark: $runs boots each of cupule, QEMU pc and QEMU microvm"
rc=0
CUPULE_BIN=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}") \
	"$repo/tests/testbed/run-in-host.sh" --timeout $((runs * 3 * 120 + 300)) \
	"$repo/bench/boot/measure.sh" "$runs" | tee "$out" || rc=${PIPESTATUS[0]}
grep -q '^BENCH-RESULT: ' "$out" || { echo "bench: no result (status $rc)" >&2; exit 1; }
[ "$rc" -eq 0 ] || echo "bench: the measuring run ended with status $rc; partial results" >&2

echo
where="in the nested test host (QEMU TCG + kvm_amd)"
if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
	where="on this machine's KVM"
fi
echo "Boot to init and to exit after power-off: medians of the good boots, $where."
echo "RSS: RssAnon + RssFile of the VMM's processes at the init marker; guest RAM"
echo "is a memfd (shared memory, not counted) in both VMMs."
awk '
$1 != "BENCH-RESULT:" { next }
{
	vmm = $2; n[vmm]++
	if ($7 != "0" || $4 == "-") next
	init[vmm, ++ok[vmm]] = $4; off[vmm, ok[vmm]] = $5; rss[vmm, ok[vmm]] = $6
}
function median(a, vmm, k, i, j, t, v) {
	k = ok[vmm]
	if (k == 0) return "-"
	for (i = 1; i <= k; i++) v[i] = a[vmm, i]
	for (i = 2; i <= k; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return k % 2 ? v[(k + 1) / 2] : int((v[k / 2] + v[k / 2 + 1]) / 2)
}
function ratio(x, base) {
	return (x == "-" || base == "-" || base == 0) ? "-" : sprintf("%.2f", x / base)
}
END {
	split("cupule qemu-microvm qemu-pc", order, " ")
	for (r = 1; r <= 3; r++) {
		v = order[r]
		mi[v] = median(init, v); mo[v] = median(off, v); mr[v] = median(rss, v)
	}
	printf "%-13s %5s %9s %11s %9s %7s %7s %7s\n", "vmm", "ok", "init ms",
		"poweroff ms", "RSS KiB", "init x", "off x", "RSS x"
	for (r = 1; r <= 3; r++) {
		v = order[r]
		printf "%-13s %2d/%-2d %9s %11s %9s %7s %7s %7s\n", v, ok[v], n[v],
			mi[v], mo[v], mr[v], ratio(mi[v], mi["cupule"]),
			ratio(mo[v], mo["cupule"]), ratio(mr[v], mr["cupule"])
	}
	print "x: the figure over cupule'"'"'s; ok: boots that reached init and exited 0."
}' "$out"
