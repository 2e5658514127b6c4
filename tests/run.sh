#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/run.sh [unit|kvm|san|fuzz|e2e]...   (no argument: all of them)
#
# Runs the built test programs and end-to-end scripts and ends with one
# line "N passed, M failed".  A suite that exits 77 was skipped: that is
# printed loudly and counts as a failure unless CUPULE_ALLOW_SKIP=1.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
build=${BUILD:-build}
passed=0
failed=0
skipped=0
failures=()

# run_suite NAME CMD...: runs one suite, adds its counts.
run_suite() {
	local name=$1 out rc p f
	shift
	echo "=== $name"
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 77 ]; then
		echo "*** SKIPPED: $name (exit 77) ***"
		skipped=$((skipped + 1))
		if [ "${CUPULE_ALLOW_SKIP:-0}" != 1 ]; then
			failed=$((failed + 1))
			failures+=("$name (skipped; set CUPULE_ALLOW_SKIP=1 to allow)")
		fi
		rm -f "$out"
		return
	fi
	# Check prints "NN%: Checks: T, Failures: F, Errors: E".
	if grep -q 'Checks: ' "$out"; then
		read -r p f < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$out" |
			awk '{t += $1; f += $2 + $3} END {print t - f, f}')
	elif grep -Eq '^[0-9]+ passed, [0-9]+ failed' "$out"; then
		read -r p f < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 |
			awk '{print $1, $3}')
	else
		# No count printed: the suite is one test, judged by its status.
		p=$((rc == 0))
		f=0
	fi
	# A non-zero exit is a failure even if no count says so.
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failures+=("$name (exit $rc)")
	rm -f "$out"
}

run_unit() {
	local dir=$1 t
	for t in "$dir"/tests/check_*; do
		[ -x "$t" ] || continue
		case $t in *check_kvm) continue ;; esac
		run_suite "unit $(basename "$t")${2:+ $2}" "$t"
	done
}

run_kvm() {
	run_suite "kvm${2:+ $2}" "$1/tests/check_kvm"
	run_suite "kvm supervise${2:+ $2}" "$1/tests/check_supervise"
}

# A short bounded run of every fuzz target; longer by hand with
# tests/fuzz/run.sh SECONDS.
run_fuzz() {
	run_suite "fuzz (${CUPULE_FUZZ_SECONDS:-10} s each)" tests/fuzz/run.sh "${CUPULE_FUZZ_SECONDS:-10}"
}

run_e2e() {
	local t
	for t in "$@"; do
		run_suite "e2e $t" "tests/e2e/$t.sh"
	done
}

[ $# -gt 0 ] || set -- unit kvm ctl san fuzz e2e
for what in "$@"; do
	case $what in
	unit) run_unit "$build" ;;
	kvm) run_kvm "$build" ;;
	# cupule run with idle guests: supervisor, sandbox, cupulectl, audit.
	ctl) run_suite "ctl" tests/ctl/ctl.sh "$build" ;;
	# XXX the KVM suite under ASan once timed out in its two-vCPU guest
	# (emulated real mode, both vCPUs spinning); until that is understood
	# the sanitizer build runs the unit suites only.
	san) run_unit build/san "(ASan+UBSan)" ;;
	fuzz) run_fuzz ;;
	# lib.sh, which runs the end-to-end cases, tested first, no guest.
	e2e) run_suite "e2e harness" tests/e2e/harness.sh
		run_e2e boot blk net restart ;;
	e2e-boot) run_e2e boot ;;
	e2e-blk) run_e2e blk ;;
	e2e-net) run_e2e net ;;
	# SIGKILLs and SIGSTOPs of the blk and net mediators under a
	# guest's load; a device down and back.
	e2e-restart) run_e2e restart ;;
	*) echo "usage: $0 [unit|kvm|ctl|san|fuzz|e2e|e2e-boot|e2e-blk|e2e-net|e2e-restart]..." >&2; exit 2 ;;
	esac
done

echo
for f in "${failures[@]+"${failures[@]}"}"; do
	echo "FAILED: $f"
done
[ "$skipped" = 0 ] || echo "($skipped suite(s) skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
