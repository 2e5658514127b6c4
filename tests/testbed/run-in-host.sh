#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# run-in-host.sh [--timeout SECONDS] SCRIPT [ARGS...]
#
# Runs SCRIPT with ARGS where a real Linux guest can boot under KVM:
# directly when this machine has hardware virtualisation (kvm_intel or
# kvm_amd loaded), otherwise inside the test host, a Linux booted under
# QEMU's emulator whose nested kvm_amd gives a working /dev/kvm (see
# mkhost.sh).  There the whole root filesystem is seen read-only at the
# same paths, with fresh tmpfs on /tmp and /run; SCRIPT starts in the
# current folder when the test host can see it, else at the repository's
# root.  CUPULE_* and TERM variables are passed on.
#
# On a terminal the terminal is the test host's console (Ctrl-A x stops
# it); otherwise its output is streamed to stdout and saved to
# .cache/testhost/<script>.log.  Exits with SCRIPT's status, 124 after the
# timeout (CUPULE_TIMEOUT, default 900 s, 0 for none), 77 when no Linux
# guest can run here at all.  CUPULE_TESTHOST=force uses the test host even
# with hardware virtualisation.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout=${CUPULE_TIMEOUT:-900}

usage() {
	echo "usage: $0 [--timeout SECONDS] SCRIPT [ARGS...]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--timeout=*) timeout=${1#*=}; shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
[[ $timeout =~ ^[0-9]+$ ]] || usage
script=$(realpath "$1")
shift
[ -f "$script" ] || { echo "run-in-host: no such script: $script" >&2; exit 2; }
name=$(basename "$script" .sh)

interactive=false
[ -t 0 ] && [ -t 1 ] && interactive=true

# The command that runs the script, as words for exec.
cmd=("$script" "$@")
[ -x "$script" ] || cmd=(bash "$script" "$@")

timeout_cmd=()
if [ "$timeout" -gt 0 ]; then
	timeout_cmd=(timeout -k 10)
	$interactive && timeout_cmd+=(--foreground)
	timeout_cmd+=("$timeout")
fi

report_timeout() {
	echo "run-in-host: TIMEOUT: $name did not finish in $timeout s" >&2
	exit 124
}

hw_kvm() {
	[ -c /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }
}

if hw_kvm && [ "${CUPULE_TESTHOST:-}" != force ]; then
	rc=0
	if $interactive; then
		"${timeout_cmd[@]}" "${cmd[@]}" || rc=$?
	else
		"${timeout_cmd[@]}" "${cmd[@]}" </dev/null || rc=$?
	fi
	[ "$rc" -ne 124 ] || [ "$timeout" -eq 0 ] || report_timeout
	exit "$rc"
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "run-in-host: no hardware KVM here and no qemu-system-x86_64 to boot the test host" >&2
	exit 77
fi

"$here/mkhost.sh" >/dev/null
state=$repo/.cache/testhost
mkdir -p "$state"
# One emulated test host at a time on this machine, whichever clone
# starts it: two would share the CPUs and make each other's timeouts
# fire.  Later runs wait here for their turn.
exec 9>"${CUPULE_TESTHOST_LOCK:-/tmp/cupule-testhost.lock}"
if ! flock -n 9; then
	echo "run-in-host: another test host is running, waiting for it" >&2
	flock 9
fi
job=$(mktemp -d "$state/job.XXXXXX")
log=$state/$name.log
qemu_done=false
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	local pid
	pid=$(cat "$job/qemu.pid" 2>/dev/null || true)
	$qemu_done || [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$job"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The job: the script, in the same folder, with the same variables.
{
	# /tmp and /run are fresh in the test host: start elsewhere from there.
	case $PWD in
	/tmp | /tmp/* | /run | /run/*) echo "cd $(printf %q "$repo")" ;;
	*) echo "cd $(printf %q "$PWD") 2>/dev/null || cd $(printf %q "$repo")" ;;
	esac
	while IFS= read -r var; do
		echo "export $var=$(printf %q "${!var}")"
	done < <(compgen -e | grep -E '^(CUPULE_[A-Za-z0-9_]*|TERM)$' || true)
	# The job folder is seen from outside while the job runs: scripts
	# may keep their work there to be looked at live.
	echo "export CUPULE_JOB_DIR=$(printf %q "$job")"
	printf '%q ' exec "${cmd[@]}"
	echo
} >"$job/job.sh"
echo "$job" >"$job/path"
if $interactive; then echo interactive; else echo batch; fi >"$job/mode"

qemu=(qemu-system-x86_64 -accel tcg -cpu "${CUPULE_TESTHOST_CPU:-max}" -m 2048 -smp 2
	-nographic -nodefaults -no-reboot -pidfile "$job/qemu.pid"
	-kernel "$repo/.cache/kernel/vmlinuz"
	-initrd "$repo/.cache/testhost.cpio.gz"
	-append "console=ttyS0 panic=-1 quiet"
	-virtfs "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$job,mount_tag=job,security_model=none")

# QEMU runs in the background so that a signal to this script runs the
# trap at once, and the trap stops QEMU.
batch() {
	local watch
	# A test host whose own kernel reports a CPU stuck for 100 s or more
	# is not coming back, nor one whose init stopped touching job/alive
	# (every 10 s) for $silent_max s: stop it now rather than at the
	# timeout.  The watcher must not hold the lock: it could outlive
	# this run.
	( exec 9>&-
	while sleep 10; do
		if grep -Eaq 'soft lockup - CPU#[0-9]+ stuck for [0-9]{3,}s' "$log" 2>/dev/null; then
			kill "$(cat "$job/qemu.pid" 2>/dev/null)" 2>/dev/null
			break
		fi
		if [ -f "$job/alive" ] &&
		   [ $(($(date +%s) - $(stat -c %Y "$job/alive"))) -ge "$silent_max" ]; then
			date +%s >"$job/silent"
			kill "$(cat "$job/qemu.pid" 2>/dev/null)" 2>/dev/null
			break
		fi
	done ) &
	watch=$!
	# A failing QEMU (a timeout) must not end this function before the
	# watcher is stopped: no errexit across the pipeline.
	set +e
	"${timeout_cmd[@]}" "${qemu[@]}" -serial stdio </dev/null 2>&1 |
		sed -u 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r*$//' |
		tee "$log"
	set -- "${PIPESTATUS[0]}"
	set -e
	kill "$watch" 2>/dev/null || true
	return "$1"
}
# The emulated test host's own kernel is not ours to fix: when it panics,
# locks up, resets or stops altogether (seen now and then under QEMU's
# emulator, with nothing of cupule on the kernel's stack, and with QEMU
# alone as the nested VMM), the run is void.  Say so, with the
# panic line, and boot it again, up to CUPULE_TESTHOST_RETRIES times
# (default 2).  A script that failed on its own is never retried.
retries=${CUPULE_TESTHOST_RETRIES:-2}
silent_max=400
while :; do
	status=0
	if $interactive; then
		# Ctrl-C goes to the guest; Ctrl-A x leaves QEMU.
		exec 3<&0
		"${timeout_cmd[@]}" "${qemu[@]}" \
			-chardev stdio,id=con,mux=on,signal=off \
			-serial chardev:con -mon chardev=con,mode=readline <&3 &
	else
		batch &
	fi
	wait $! || status=$?
	qemu_done=true
	# No rc from the job: a panic, or (QEMU status 0 with -no-reboot)
	# the test host reset itself, its kernel silent.
	[ ! -f "$job/rc" ] && ! $interactive && [ "$retries" -gt 0 ] &&
		{ grep -Eaq "Kernel panic - not syncing|soft lockup - CPU" "$log" ||
		[ "$status" -eq 0 ] || [ -f "$job/silent" ]; } || break
	if [ -f "$job/silent" ]; then
		echo "run-in-host: the test host stopped: no sign of life from it" \
			"for $silent_max s, void run" >&2
	elif grep -aq "Kernel panic - not syncing" "$log"; then
		echo "run-in-host: the test host's kernel panicked, void run:" \
			"$(grep -a -m1 "Kernel panic" "$log" | sed 's/^\[[ 0-9.]*\] //')" >&2
	elif grep -aq "soft lockup - CPU" "$log"; then
		echo "run-in-host: the test host's kernel locked up, void run:" \
			"$(grep -a "soft lockup" "$log" | tail -n 1 | sed 's/^\[[ 0-9.]*\] //')" >&2
	else
		echo "run-in-host: the test host reset itself before $name finished, void run" >&2
	fi
	cp "$log" "$state/$name.panic.log"
	echo "run-in-host: (console kept in $state/$name.panic.log), booting it again" >&2
	retries=$((retries - 1))
	qemu_done=false
	rm -f "$job/qemu.pid" "$job/alive" "$job/silent"
done

if [ -f "$job/rc" ]; then
	exit "$(cat "$job/rc")"
fi
[ "$status" -ne 124 ] || [ "$timeout" -eq 0 ] || report_timeout
echo "run-in-host: the test host stopped (status $status) before $name finished" >&2
$interactive || echo "run-in-host: its console is in $log" >&2
exit 1
