#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The cases are called by name; the checks are strings for eval.
# shellcheck disable=SC2317,SC2016
#
# A test of tests/e2e/lib.sh itself, on this machine, no guest: the end
# to end suites trust it to tell a failed case from a void one, to stop
# a case past its deadline with everything it started, and to rerun a
# void case once.  Cases made to pass, fail, hang, triple-fault once,
# and leave a process SIGKILL cannot end (a task in a frozen cgroup v1
# freezer, in D state like one stuck in a wedged kernel).  Prints
# "N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$repo/tests/e2e/lib.sh"

if [ "${1:-}" = --inner ]; then
	state=$2
	e2e_deadline=3
	e2e_kill_wait=2
	case_pass() { echo "all good"; }
	case_fail() { echo "the guest saw cpus=1, not 2"; return 1; }
	case_hang() {
		sleep 1000 &
		echo "$!" >"$state/hang.child"
		sleep 1000
	}
	# Fails with a triple fault in its cupule.log the first time only.
	case_triple() {
		if [ ! -e "$state/triple.once" ]; then
			: >"$state/triple.once"
			echo "cupule: vm t: vCPU 0: triple fault (shutdown exit)" >cupule.log
			return 1
		fi
	}
	# Leaves an unkillable process the first time only.
	case_stuck() {
		local cg=$state/freezer
		if [ -e "$state/stuck.once" ]; then
			return 0
		fi
		: >"$state/stuck.once"
		sleep 1000 &
		echo "$!" >"$state/stuck.child"
		echo "$!" >"$cg/cgroup.procs"
		echo FROZEN >"$cg/freezer.state"
		sleep 1000
	}
	# A case that fails the same way twice after a triple fault: a void
	# run gets one more go, not two.
	case_triple_twice() {
		echo "cupule: vm t: vCPU 0: triple fault (shutdown exit)" >cupule.log
		return 1
	}
	# shellcheck disable=SC2086
	e2e_run harness $CUPULE_HARNESS_CASES
	exit
fi

passed=0
failed=0
check() {
	if eval "$2"; then
		echo "PASS: $1"
		passed=$((passed + 1))
	else
		echo "FAIL: $1"
		failed=$((failed + 1))
	fi
}

state=$(mktemp -d)
cg=/sys/fs/cgroup/freezer/cupule-harness.$$
cleanup() {
	if [ -d "$cg" ]; then
		echo THAWED >"$cg/freezer.state"
		sleep 0.5
		rmdir "$cg"
	fi
	rm -rf "$state"
}
trap cleanup EXIT
cases="pass fail hang triple triple_twice"
if mkdir "$cg" 2>/dev/null; then
	ln -s "$cg" "$state/freezer"
	cases="$cases stuck"
else
	echo "(no cgroup v1 freezer here to make a process SIGKILL cannot end: the stuck case is not run)"
fi

out=$state/out
CUPULE_JOB_DIR='' CUPULE_E2E_KEEP=$state/work CUPULE_HARNESS_CASES=$cases \
	"$0" --inner "$state" >"$out" 2>&1
rc=$?
sed 's/^/  | /' "$out"

# says SUBSTRING: the run printed a line with it.
says() { grep -qF -- "$1" "$out"; }
gone() { ! kill -0 "$(cat "$state/$1")" 2>/dev/null; }

check "a passing case passes" 'says "PASS: harness pass"'
check "a failing case fails and says why" \
	'says "FAIL: harness fail" && says "the guest saw cpus=1, not 2"'
check "a hung case is stopped at its deadline" \
	'says "FAIL: harness hang" && says "still running after 3 s" && says "killed"'
check "a hung case's processes are all gone" 'gone hang.child'
check "a hung case shows its processes" 'grep -A3 "its processes:" "$out" | grep -q "sleep 1000"'
check "a triple fault voids a run once, the rerun passes" \
	'says "VOID: harness triple: cupule: vm t: vCPU 0: triple fault" && says "PASS: harness triple"'
check "a void run is run again once only" \
	'[ "$(grep -c "VOID: harness triple_twice" "$out")" = 1 ] && says "FAIL: harness triple_twice"'
if [[ " $cases " == *" stuck "* ]]; then
	check "a process SIGKILL cannot end voids the run" \
		'says "is still there" && says "the test host'"'"'s kernel is stuck; running it again" && says "PASS: harness stuck"'
	check "the stuck process was left in D state, not killed by anything else" \
		'[ "$(proc_state "/proc/$(cat "$state/stuck.child")")" = D ]'
fi
check "the count is right and the status says failed" \
	"says \"$(( $(wc -w <<<"$cases") - 3 )) passed, 3 failed\" && [ $rc -ne 0 ]"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
