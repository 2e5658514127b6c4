#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds .cache/guest.cpio.gz, the initramfs of the Linux guest that the
# end-to-end tests, the demo and the benchmark boot: busybox-static and an
# /init that prints marker lines on the console, then does what
# cupule.test= on the kernel command line asks:
#   poweroff  power off at once (also the default)
#   reboot    reboot at once
#   shell     an interactive shell on the console, power off when it exits
#   script    run /test.sh when the image has one, then power off
# The markers, each on its own line:
#   CUPULE-GUEST: init
#   CUPULE-GUEST: cpus=<online cpus>
#   CUPULE-GUEST: memkb=<MemTotal in kB>
#   CUPULE-GUEST: pci=<vendor:device ...>   (hex, no 0x)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/.cache/guest.cpio.gz
busybox=/bin/busybox

# Not "grep -q": with pipefail, busybox may die of SIGPIPE when grep quits early.
if ! "$busybox" --list 2>/dev/null | grep -x cttyhack >/dev/null; then
	echo "mkguest: $busybox is missing or lacks cttyhack (install busybox-static)" >&2
	exit 1
fi
mkdir -p "$repo/.cache"
stage=$(mktemp -d "$repo/.cache/guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root}
cp "$busybox" "$stage/bin/busybox"
cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# Online CPUs from a list such as "0-1,4".
cpus=$(awk -F, '{ for (i = 1; i <= NF; i++) { n = split($i, r, "-");
	c += n == 2 ? r[2] - r[1] + 1 : 1 } } END { print c }' \
	/sys/devices/system/cpu/online)
memkb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
pci=
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	v=$(cat "$d/vendor") p=$(cat "$d/device")
	pci="$pci${pci:+ }${v#0x}:${p#0x}"
done
echo "CUPULE-GUEST: init"
echo "CUPULE-GUEST: cpus=$cpus"
echo "CUPULE-GUEST: memkb=$memkb"
echo "CUPULE-GUEST: pci=$pci"

# The console is interrupt-driven, one exit per byte: what was echoed may
# still be queued when the kernel prints its last line directly, which
# would land in the middle of it.  Give the queue a moment to drain.
settle() { sleep 1; }

# Arguments with a dot are kept from init's argv: read them here.
test=poweroff
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in cupule.test=*) test=${arg#cupule.test=} ;; esac
done
case $test in
reboot)
	settle
	reboot -f ;;
shell)
	echo
	echo "Welcome to the cupule demo guest: $(uname -sr), $cpus CPUs, $memkb kB."
	echo "This is a busybox shell. Type 'poweroff -f' or 'exit' to leave."
	echo
	setsid cttyhack sh
	poweroff -f ;;
script)
	[ -f /test.sh ] && sh /test.sh
	settle
	poweroff -f ;;
poweroff)
	settle
	poweroff -f ;;
*)
	echo "CUPULE-GUEST: unknown cupule.test=$test, powering off"
	poweroff -f ;;
esac
EOF
chmod 755 "$stage/init"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --quiet | gzip -9n) >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
