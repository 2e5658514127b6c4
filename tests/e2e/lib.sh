# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# What tests/e2e/blk.sh, net.sh and restart.sh share: running their
# cases inside the test host.  Sourced by them; each defines its cases
# as functions case_NAME DIR, run from inside DIR, which say why they
# failed on stdout and return non-zero.

# e2e_run SUITE NAME...: runs case_NAME for each NAME (a name may come
# more than once, to repeat a case), each in a new folder under
# CUPULE_E2E_KEEP (kept, to look at) or a temporary one.  What a case
# prints goes to its DIR/case.log and is shown once it ends, then
# "PASS: SUITE NAME", or "FAIL: SUITE NAME" and the last lines of the
# other logs of the case.  A case whose guest died of a triple fault is
# a void run, once per case: in the emulated test host nested guests die
# so now and then, under QEMU too (docs/testing.md); the case runs again
# and must then pass outright.  Ends with "N passed, M failed", which
# tests/run.sh counts; status 0 when every case passed.
e2e_run() {
	local suite=$1 name dir n=0 passed=0 failed=0 voids=0 rc f
	shift
	[ -c /dev/kvm ] || { echo "SKIP: no /dev/kvm here"; exit 77; }
	if [ -n "${CUPULE_E2E_KEEP:-}" ]; then
		e2e_work=$CUPULE_E2E_KEEP
		mkdir -p "$e2e_work"
	else
		e2e_work=$(mktemp -d)
		trap 'rm -rf "$e2e_work"' EXIT
	fi
	# In the test host, the cases' logs are copied every 10 s to the job
	# folder, which is seen from outside (live/) while the job runs.
	if [ -n "${CUPULE_JOB_DIR:-}" ]; then
		( while sleep 10; do
			mkdir -p "$CUPULE_JOB_DIR/live"
			cp --no-preserve=all "$e2e_work"/*/*.log "$CUPULE_JOB_DIR/live/" 2>/dev/null
		done ) &
	fi
	for name in "$@"; do
		n=$((n + 1))
		dir=$e2e_work/$n.$name
		rc=0
		e2e_case "$name" "$dir" || rc=$?
		if [ "$rc" -ne 0 ] && grep -qa "triple fault" "$dir"/cupule*.log 2>/dev/null; then
			echo "VOID: $suite $name: $(grep -ah "triple fault" "$dir"/cupule*.log | head -n 1); running it again"
			voids=$((voids + 1))
			dir=$dir.again
			rc=0
			e2e_case "$name" "$dir" || rc=$?
		fi
		if [ "$rc" -eq 0 ]; then
			echo "PASS: $suite $name"
			passed=$((passed + 1))
			continue
		fi
		echo "FAIL: $suite $name"
		failed=$((failed + 1))
		for f in "$dir"/*.log "$dir"/*.out; do
			[ -f "$f" ] && [ "$f" != "$dir/case.log" ] || continue
			echo "  last lines of $(basename "$f"):"
			tail -n 12 "$f" | sed 's/^/  | /'
		done
	done
	[ "$voids" -eq 0 ] || echo "($voids void run(s): a guest triple-faulted)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# e2e_case NAME DIR: case_NAME in the new folder DIR, from there; what
# it prints into DIR/case.log (a file, not a pipe: processes a case
# leaves behind cannot hold the run up), shown afterwards.  Its status.
e2e_case() {
	local rc=0
	mkdir -p "$2"
	(cd "$2" && "case_$1" "$2") >"$2/case.log" 2>&1 || rc=$?
	cat "$2/case.log"
	return "$rc"
}
