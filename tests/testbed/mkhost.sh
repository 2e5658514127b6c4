#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Builds .cache/testhost.cpio.gz, the initramfs of the "test host": a Linux
# booted under QEMU's emulator (-cpu max) whose kvm_amd gives a real /dev/kvm
# on machines without hardware virtualisation.  run-in-host.sh boots it with
# two 9p shares:
#   root  the machine's whole root filesystem, read-only
#   job   the job folder, read-write, holding
#           path         its absolute path outside
#           mode         "batch" or "interactive"
#           job.sh       what to run
#           rc           written here: job.sh's exit status
# /init chroots into the root share, with /proc, /sys, /dev (where /dev/kvm
# appears), fresh tmpfs on /tmp, /run and /dev/shm, and the job folder at
# its outside path, so the repository is seen at its real path.  It runs
# job.sh there, then prints "CUPULE-TESTHOST: exit=<rc>" and powers off.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/.cache/testhost.cpio.gz
busybox=/bin/busybox
modules="irqbypass kvm ccp kvm-amd virtio_ring virtio virtio_pci_modern_dev
	virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p tun"

kmods=$("$repo/tests/testbed/fetch-kernel.sh" | tail -n 1)
mkdir -p "$repo/.cache"
stage=$(mktemp -d "$repo/.cache/testhost.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,job,newroot,lib/modules}
cp "$busybox" "$stage/bin/busybox"

# busybox insmod reads plain .ko files only.
for m in $modules; do
	base=${m//[-_]/[-_]}
	file=$(find "$kmods/kernel" -name "$base.ko*" -print -quit)
	ko=$stage/lib/modules/$m.ko
	case $file in
	*.ko) cp "$file" "$ko" ;;
	*.ko.xz) xz -dc "$file" >"$ko" ;;
	*.ko.zst) zstd -qdc "$file" >"$ko" ;;
	*)
		if grep -q "/$base\.ko\$" "$kmods/modules.builtin"; then
			continue
		fi
		echo "mkhost: module $m not found in $kmods" >&2
		exit 1 ;;
	esac
	echo "$m" >>"$stage/modules"
done

cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
dmesg -n 1

fail() {
	echo "CUPULE-TESTHOST: setup failed: $*"
	poweroff -f
}

while read -r m; do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done </modules
[ -c /dev/kvm ] || fail "no /dev/kvm"

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts" job /job || fail "mount job share"
# The root share does not change while a job runs: let the page cache
# keep what was read, which makes programs start far faster.
mount -t 9p -o "$opts,ro,cache=loose" root /newroot || fail "mount root share"
read -r path </job/path
read -r mode </job/mode
r=/newroot
chroot_mount() {
	mount "$@" || fail "mount $*"
}
chroot_mount -t proc proc $r/proc
chroot_mount -t sysfs sysfs $r/sys
chroot_mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
# What udev would add: bash's <(...) needs /dev/fd.
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
chroot_mount -t devpts devpts $r/dev/pts
chroot_mount -t tmpfs tmpfs $r/dev/shm
# A repository that lives under /tmp or /run (a CI clone, say) must stay
# visible under the fresh tmpfs: keep a bind of it from before.
repo=${path%/.cache/testhost/*}
kept=
case $repo in
/tmp/* | /run/*)
	mkdir -p /keep
	mount --bind "$r$repo" /keep || fail "keep $repo"
	kept=1
	;;
esac
chroot_mount -t tmpfs tmpfs $r/tmp
chroot_mount -t tmpfs tmpfs $r/run
if [ -n "$kept" ]; then
	mkdir -p "$r$repo"
	mount --bind /keep "$r$repo" || fail "show $repo"
fi
mkdir -p "$r$path" 2>/dev/null
mount --bind /job "$r$path" || fail "mount the job folder at $path"

# A sign of life for run-in-host.sh, which takes a test host silent for
# minutes for one that stopped.
( while :; do date +%s >/job/alive; sleep 10; done ) &

read -r up _ </proc/uptime
echo
echo "CUPULE-TESTHOST: ready after ${up}s, running $path/job.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
if [ "$mode" = interactive ]; then
	# A session with the console as its controlling terminal.
	setsid cttyhack chroot $r /bin/bash "$path/job.sh"
else
	chroot $r /bin/bash "$path/job.sh" </dev/null
fi
rc=$?
echo "$rc" >/job/rc
sync
echo "CUPULE-TESTHOST: exit=$rc"
poweroff -f
EOF
chmod 755 "$stage/init"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --quiet | gzip -6n) >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
