#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Block benchmark: fio inside a Linux guest on a virtio-blk disk, under
# cupule (cupule-blk) and under QEMU's built-in virtio-blk (without and
# with an iothread), and fio on the same image file from the host side,
# which is the limit.  One boot of the test host (or this machine, with
# hardware virtualisation), one image, one kernel, one initramfs for all.
# Prints a table; raw outputs go to .cache/bench-blk/.  A measurement,
# not a test: slow figures never fail it.
#
# A guest that stops before its last workload is booted again for the
# missing ones (twice at most), and when the test host itself dies, the
# missing figures are measured in a new test-host boot (BENCH_BOOTS in
# all, default 3); the output says where each figure comes from.
#
# Variables: BENCH_RUNTIME (seconds per workload, default 10), BENCH_RAMP
# (seconds before measuring, default 2), BENCH_IMAGE_MIB (default 1024),
# BENCH_QEMU_AIO (QEMU's aio= when the image cannot be opened O_DIRECT:
# io_uring, the default, falling back to threads; or threads),
# BENCH_BOOTS (default 3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kernel=$repo/.cache/kernel/vmlinuz
out=$repo/.cache/bench-blk
initrd=$out/initrd.img
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk"
workloads="randread-4k-qd1 randread-4k-qd32 write-1m-qd8"
columns="cupule qemu qemu-iothread host"
boot_allowance=240	# seconds for a guest to boot and power off

# ---- in the test host ----------------------------------------------------

memavail() {
	awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo
}

# vm NAME TRY COMMAND...: boots the guest with COMMAND, then reports.
vm() {
	local name=$1 try=$2 start rc=0
	shift 2
	echo "BENCH-INFO: $name: try $try, starting, $(memavail) MiB available"
	start=$SECONDS
	dmesg >"$work/dmesg.before" 2>/dev/null || true
	timeout -k 5 "$vm_limit" "$@" >"$work/$name.console" 2>"$work/$name.err" \
		</dev/null || rc=$?
	echo "BENCH-INFO: $name: try $try, exited with status $rc after" \
		"$((SECONDS - start)) s, $(memavail) MiB available"
	# What the kernel said meanwhile (KVM errors, say) goes with the run.
	dmesg 2>/dev/null | tail -n +"$(($(wc -l <"$work/dmesg.before") + 1))" |
		sed 's/^/host kernel: /' >>"$work/$name.err" || true
	report "$name" "$try" "$work/$name.console" "$work/$name.err"
}

# report NAME TRY CONSOLE [ERRORS]: the raw lines and the results of one
# run: BENCH-RESULT: <column> <workload> <IOPS> <KiB/s> <lat µs> <fio rc>
report() {
	local name=$1 try=$2 w line
	echo "BENCH-RAW: $name | ==== try $try ===="
	sed 's/\r$//; s/^/BENCH-RAW: '"$name"' | /' "$3"
	[ -z "${4:-}" ] || sed 's/\r$//; s/^/BENCH-RAW: '"$name"' | stderr: /' "$4"
	for w in $workloads; do
		line=$(sed -n 's/\r$//; s/^.*CUPULE-BENCH: \('"$w"' .*\)/\1/p' "$3" | tail -n 1)
		[ -z "$line" ] || echo "BENCH-RESULT: $name $line"
	done
	sed -n 's/\r$//; s/^.*CUPULE-BENCH: \(info\|error\) /BENCH-INFO: '"$name"': /p' "$3"
}

# missing NAME WANT: the workloads of WANT (W1,W2) without a figure in
# NAME's last console, comma-separated.
missing() {
	local w left=
	for w in ${2//,/ }; do
		grep -Eq "CUPULE-BENCH: $w [0-9]+ [0-9]+ [0-9.]+ 0" "$work/$1.console" ||
			left=$left${left:+,}$w
	done
	echo "$left"
}

# launch NAME ONLY TRY: one run of column NAME for workloads ONLY.
launch() {
	local name=$1 only=$2 try=$3 cmdline
	cmdline="console=ttyS0 panic=-1 cupule.test=script"
	cmdline="$cmdline cupule.runtime=$runtime cupule.ramp=$ramp cupule.only=$only"
	vm_limit=$((boot_allowance + $(echo "${only//,/ }" | wc -w) * (runtime + ramp + 30)))
	case $name in
	cupule)
		cat >"$work/bench.cfg" <<-EOF
		vms = ( {
			name = "bench";
			memory = "1G";
			vcpus = 2;
			kernel = "$kernel";
			initrd = "$initrd";
			cmdline = "$cmdline";
			console = "stdio";
			on_reboot = "exit";
			devices = ( { type = "blk"; id = "disk"; image = "$img"; } );
		} );
		EOF
		vm cupule "$try" "$cupule" run "$work/bench.cfg" -v ;;
	qemu | qemu-iothread)
		local qemu=(qemu-system-x86_64 -enable-kvm -cpu host -M pc -m 1G -smp 2
			-nographic -nodefaults -serial stdio -no-reboot
			-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
			-drive "file=$img,if=none,id=d0,format=raw,$cache")
		if [ "$name" = qemu ]; then
			vm qemu "$try" "${qemu[@]}" -device virtio-blk-pci,drive=d0
		else
			vm qemu-iothread "$try" "${qemu[@]}" -object iothread,id=io0 \
				-device virtio-blk-pci,drive=d0,iothread=io0
		fi ;;
	host)
		echo "BENCH-INFO: host: try $try, starting (fio libaio, direct=$direct)"
		sh "$repo/bench/blk/guest.sh" "$img" "$direct" "$runtime" "$ramp" "$only" \
			>"$work/host.console" 2>&1 || true
		report host "$try" "$work/host.console" ;;
	esac
}

# inner RUNTIME RAMP MIB AIO COLUMN=W1,W2...
inner() {
	local mib=$3 qemu_aio=$4 size aio item name want try
	runtime=$1 ramp=$2
	shift 4
	cupule=${CUPULE_BIN:-$repo/build/bin/cupule}
	direct=0
	[ -c /dev/kvm ] || { echo "bench: no /dev/kvm here" >&2; exit 77; }
	work=$(mktemp -d)
	# /tmp may be a tmpfs of half the memory: give the image its own one
	# of the size it needs, still under /tmp.
	size=$((mib + 16))M
	if [ "$(stat -f -c %T /tmp)" = tmpfs ] &&
		mount -t tmpfs -o "size=$size" bench-blk "$work"; then
		trap 'umount "$work"; rmdir "$work"' EXIT
	else
		trap 'rm -rf "$work"' EXIT
	fi
	img=$work/disk.img
	# Reads must reach data: fallocate gives tmpfs real pages, but only
	# unwritten extents elsewhere, which O_DIRECT reads skip.
	if [ "$(stat -f -c %T "$work")" = tmpfs ] &&
		fallocate -l "${mib}M" "$img" 2>/dev/null; then
		:
	else
		dd if=/dev/zero of="$img" bs=1M count="$mib" conv=fsync status=none
	fi
	echo "BENCH-INFO: image: $mib MiB file on $(stat -f -c %T "$work")," \
		"$(du -m "$img" | cut -f1) MiB allocated"
	echo "BENCH-INFO: host: $(uname -r), $(nproc) CPUs," \
		"$(awk '$1 == "MemTotal:" { print int($2 / 1024) }' /proc/meminfo) MiB"
	if dd if="$img" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
		direct=1
	fi

	# QEMU's drive: O_DIRECT where the image allows it, as the command
	# usually benchmarked; else through the page cache, as cupule does.
	if [ "$direct" = 1 ]; then
		cache=cache=none,aio=native
	else
		cache=
		for aio in $qemu_aio threads; do
			if echo quit | timeout 120 qemu-system-x86_64 -M none -nodefaults \
				-display none -monitor stdio -drive \
				"file=$img,if=none,id=d0,format=raw,cache=writeback,aio=$aio" \
				>/dev/null 2>"$work/probe.err"; then
				cache=cache=writeback,aio=$aio
				break
			fi
			echo "BENCH-INFO: qemu refuses aio=$aio: $(head -n 1 "$work/probe.err")"
		done
		[ -n "$cache" ] || cache=cache=writeback
	fi
	echo "BENCH-INFO: image O_DIRECT: $([ "$direct" = 1 ] && echo yes || echo no)"
	echo "BENCH-INFO: qemu drive: $cache"
	echo "BENCH-INFO: host fio: libaio, direct=$direct"

	for item in "$@"; do
		name=${item%%=*} want=${item#*=}
		if [ "$name" = cupule ] && [ ! -x "$cupule" ]; then
			echo "BENCH-INFO: cupule: no $cupule"
			continue
		fi
		for try in 1 2; do
			[ -n "$want" ] || break
			launch "$name" "$want" "$try"
			want=$(missing "$name" "$want")
		done
	done
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit
fi

# ---- on this machine -----------------------------------------------------

# todo: COLUMN=W1,W2 words for what has no figure yet in $out/results.
todo() {
	local c w left
	for c in $columns; do
		left=
		for w in $workloads; do
			grep -q "^$c $w " "$out/results" || left=$left${left:+,}$w
		done
		[ -z "$left" ] || echo "$c=$left"
	done
}

runtime=${BENCH_RUNTIME:-10}
ramp=${BENCH_RAMP:-2}
mib=${BENCH_IMAGE_MIB:-1024}
boots=${BENCH_BOOTS:-3}
qemu_aio=${BENCH_QEMU_AIO:-io_uring}
for v in "$runtime" "$ramp" "$mib" "$boots"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "bench: not a number: $v" >&2; exit 2; }
done
cupule=$(realpath -m "${CUPULE_BIN:-$repo/build/bin/cupule}")
command -v fio >/dev/null || { echo "bench: no fio here (apt-get install -y fio)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "bench: no qemu-system-x86_64" >&2; exit 1; }
[ -x "$cupule" ] || { echo "bench: no $cupule (run make first)" >&2; exit 1; }

begin=$SECONDS
"$repo/tests/testbed/fetch-kernel.sh" >/dev/null
"$repo/tests/testbed/mkguest.sh" >/dev/null
mkdir -p "$out"
rm -f "$out"/*.txt "$out"/fio.cpio.* "$out/run.log"
: >"$out/results"
# shellcheck disable=SC2086
"$repo/tests/testbed/mkoverlay.sh" "$out/overlay.cpio.gz" "$repo/bench/blk/guest.sh" $modules
fio_overlay=$out/fio.cpio.gz
! command -v zstd >/dev/null || fio_overlay=$out/fio.cpio.zst
"$repo/tests/testbed/mkprog.sh" "$fio_overlay" fio
cat "$repo/.cache/guest.cpio.gz" "$out/overlay.cpio.gz" "$fio_overlay" >"$initrd"

echo "blk benchmark: fio in the guest under cupule, QEMU, QEMU with an iothread;" \
	"fio on the image from the host; $runtime s per workload after $ramp s"
# Other emulated test hosts share the CPUs and slow everything down:
# count, every 5 s, the samples that saw more than one.
hw_kvm=false
if [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
	hw_kvm=true
fi
: >"$out/contention"
if ! $hw_kvm; then
	while sleep 5; do
		pgrep -c -x qemu-system-x86 || true
	done >>"$out/contention" &
	monitor=$!
	trap 'kill "$monitor" 2>/dev/null || true' EXIT
fi
boot=0
while [ "$boot" -lt "$boots" ]; do
	mapfile -t left < <(todo)
	[ ${#left[@]} -gt 0 ] || break
	boot=$((boot + 1))
	[ "$boot" -eq 1 ] || echo "bench: test-host boot $boot for: ${left[*]}"
	# Twice the expected time: a hung test host must not hold the lock long.
	n=$(printf '%s\n' "${left[@]}" | sed 's/^[^=]*=//' | tr , '\n' | wc -l)
	limit=$((2 * (60 + 3 * 60 + n * (runtime + ramp + 8))))
	rc=0
	CUPULE_BIN=$cupule "$repo/tests/testbed/run-in-host.sh" --timeout "$limit" \
		"$repo/bench/blk/run.sh" --inner "$runtime" "$ramp" "$mib" "$qemu_aio" \
		"${left[@]}" | sed -u "s/^BENCH-RESULT: /&$boot /" |
		tee -a "$out/run.log" || rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || echo "bench: test-host boot $boot ended with status $rc" >&2
	# Figures measured in full (fio status 0), first one of each kept.
	awk '$1 == "BENCH-RESULT:" && $5 ~ /^[0-9]+$/ && $8 == "0" {
		print $3, $4, $5, $6, $7, $2 }' "$out/run.log" |
		awk '!seen[$1, $2]++' >"$out/results"
done
grep -q . "$out/results" || { echo "bench: no result" >&2; exit 1; }

# The raw fio outputs and consoles, one file per column.
awk -v dir="$out" '
$1 == "BENCH-RAW:" {
	line = $0
	sub(/^BENCH-RAW: [^ ]+ \| ?/, "", line)
	print line > (dir "/" $2 ".txt")
}' "$out/run.log"

where="in the nested test host (QEMU TCG + kvm_amd): absolute figures are"
where="$where far below real hardware; compare the columns"
! $hw_kvm || where="on this machine's KVM"
echo
echo "fio, libaio, $runtime s per workload after $ramp s of ramp, $where."
fs=$(sed -n 's/^BENCH-INFO: image: .* file on \([^,]*\),.*/\1/p' "$out/run.log" | head -n 1)
if [ "$fs" = tmpfs ]; then
	echo "The disk: a $mib MiB file in /tmp, a tmpfs: memory-backed, no O_DIRECT."
else
	echo "The disk: a $mib MiB file in /tmp, on ${fs:-?}."
fi
sed -n 's/^BENCH-INFO: \(host: [0-9].*\|qemu drive.*\|host fio.*\)/\1/p' \
	"$out/run.log" | awk '!seen[$0]++'
if grep -q '^BENCH-INFO: host fio: libaio, direct=0' "$out/run.log"; then
	echo "host fio: buffered libaio completes each I/O inside io_submit: its QD32 is QD1 work."
fi
echo "cupule: the image through the page cache (no O_DIRECT), cupule-blk's engine."
sed -n 's/^BENCH-INFO: \(cupule\|qemu\): \(kernel=.*\)/guest under \1: \2/p' \
	"$out/run.log" | awk '!seen[$3]++'
echo
awk -v wl="$workloads" -v cols="$columns" -v boots="$boot" '
{ iops[$1, $2] = $3; bw[$1, $2] = $4; lat[$1, $2] = $5; from[$1, $2] = $6 }
function fig(c, w) {
	if (!((c, w) in iops)) return "-"
	return w ~ /^write/ ? sprintf("%.0f", bw[c, w] / 1024) : iops[c, w]
}
function ratio(a, b) {
	return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f", a / b)
}
END {
	n = split(wl, w, " ")
	split(cols, col, " ")
	label["randread-4k-qd1"] = "4k randread QD1, IOPS"
	label["randread-4k-qd32"] = "4k randread QD32, IOPS"
	label["write-1m-qd8"] = "1M seq write QD8, MiB/s"
	short["randread-4k-qd1"] = "4k randread QD1"
	short["randread-4k-qd32"] = "4k randread QD32"
	short["write-1m-qd8"] = "1M seq write QD8"
	printf "%-24s %9s %9s %9s %9s %8s %8s\n", "workload", "cupule", "qemu",
		"qemu+iot", "host", "c/qemu", "c/q+iot"
	for (i = 1; i <= n; i++) {
		for (j = 1; j <= 4; j++) f[j] = fig(col[j], w[i])
		printf "%-24s %9s %9s %9s %9s %8s %8s\n", label[w[i]], f[1], f[2],
			f[3], f[4], ratio(f[1], f[2]), ratio(f[1], f[3])
	}
	print ""
	printf "%-24s %9s %9s %9s %9s\n", "mean latency, us", "cupule", "qemu",
		"qemu+iot", "host"
	for (i = 1; i <= n; i++) {
		for (j = 1; j <= 4; j++)
			f[j] = ((col[j], w[i]) in lat) ? sprintf("%.0f", lat[col[j], w[i]]) : "-"
		printf "%-24s %9s %9s %9s %9s\n", short[w[i]], f[1], f[2], f[3], f[4]
	}
	print "c/qemu, c/q+iot: cupule over QEMU without and with an iothread" \
		" (above 1: cupule faster); -: no figure."
	if (boots > 1) {
		printf "Measured over %d test-host boots (the earlier ones died):", boots
		for (j = 1; j <= 4; j++)
			for (i = 1; i <= n; i++)
				if ((col[j], w[i]) in from && from[col[j], w[i]] > 1)
					printf " %s %s in boot %d;", col[j], w[i], from[col[j], w[i]]
		print ""
	}
}' "$out/results"
busy=$(awk '$1 > 1' "$out/contention" | wc -l)
[ "$busy" -eq 0 ] || echo "WARNING: another emulated test host ran beside this one in" \
	"$busy of $(wc -l <"$out/contention") samples: figures taken then are disturbed."
retried=$(grep -c '^BENCH-INFO: [a-z-]*: try 2, starting' "$out/run.log" || true)
[ "$retried" -eq 0 ] || echo "Guests booted again after stopping early: $retried" \
	"(see 'try' in the raw files)."
echo "Raw fio outputs and consoles: $out/{cupule,qemu,qemu-iothread,host}.txt;" \
	"whole run $((SECONDS - begin)) s."
