# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# What tests/e2e/boot.sh, blk.sh, net.sh and restart.sh share: running their
# cases inside the test host.  Sourced by them; each defines its cases
# as functions case_NAME DIR, run from inside DIR, which say why they
# failed on stdout and return non-zero.

# e2e_run SUITE NAME...: runs case_NAME for each NAME (a name may come
# more than once, to repeat a case), each in a new folder under
# CUPULE_E2E_KEEP (kept, to look at) or a temporary one.  What a case
# prints goes to its DIR/case.log and is shown once it ends, then
# "PASS: SUITE NAME", or "FAIL: SUITE NAME" and the last lines of the
# other logs of the case.  A case whose guest died of a triple fault, or
# one past its deadline with a process SIGKILL cannot end, is a void
# run, once per case: in the emulated test host nested guests die and
# its kernel wedges so now and then, under QEMU too (docs/testing.md);
# the case runs again and must then pass outright.  Ends with "N passed,
# M failed", which tests/run.sh counts; status 0 when every case passed.
e2e_run() {
	local suite=$1 name dir n=0 passed=0 failed=0 voids=0 rc f why
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
		why=
		if [ "$rc" -eq 125 ]; then
			why=$(grep -a "the test host's kernel is stuck" "$dir/case.log" | head -n 1)
		elif [ "$rc" -ne 0 ]; then
			why=$(grep -ah "triple fault" "$dir"/cupule*.log 2>/dev/null | head -n 1)
		fi
		if [ -n "$why" ]; then
			echo "VOID: $suite $name: $why; running it again"
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
	[ "$voids" -eq 0 ] || echo "($voids void run(s): a guest triple-faulted or the test host's kernel stuck)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# e2e_case NAME DIR: case_NAME in the new folder DIR, from there; what
# it prints into DIR/case.log (a file, not a pipe: processes a case
# leaves behind cannot hold the run up), shown afterwards.  Its status.
# A case still running after e2e_deadline seconds (900 unless the suite
# says) is shown as it stands, then killed with all it started: see
# e2e_stuck.
e2e_case() {
	local rc=0 pid t=0
	mkdir -p "$2"
	(cd "$2" && "case_$1" "$2") >"$2/case.log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ "$t" -lt "${e2e_deadline:-900}" ]; do
		sleep 1
		t=$((t + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "still running after $t s" >>"$2/case.log"
		e2e_stuck "$pid" >>"$2/case.log" 2>&1 || rc=$?
	fi
	# (bash's "Killed" notice of a case killed here is not the case's.)
	[ "$rc" -eq 125 ] || wait "$pid" 2>/dev/null || rc=$?
	cat "$2/case.log"
	return "$rc"
}

# e2e_tree PID: PID and every process under it, one per line.
e2e_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = p
				while (q in parent && q + 0 != root + 0 && q + 0 > 1)
					q = parent[q]
				if (q + 0 == root + 0)
					print p
			}
		}'
}

# proc_state /proc/PID[/task/TID]: its state letter (R, S, D, Z...),
# read after the ")" that ends the command name, which may hold spaces.
proc_state() {
	sed -n 's/^.*) \([A-Za-z]\) .*/\1/p' "$1/stat" 2>/dev/null
}

# e2e_stuck PID: for a case past its deadline, shows its processes, what
# each of their threads waits in (the kernel's stack) and the test
# host's last kernel lines, then stops and SIGKILLs them all.  A process
# that SIGKILL has not ended e2e_kill_wait (20) s later is stuck in the
# kernel: then the kernel of the test host is at fault, not the case (no
# process can make itself unkillable), and the status is 125, a void
# run; else 1.
e2e_stuck() {
	local pids p task left=() t
	mapfile -t pids < <(e2e_tree "$1")
	echo "its processes:"
	timeout 10 ps -o pid,ppid,stat,wchan:28,etime,args -p "$(IFS=,; echo "${pids[*]}")" |
		sed 's/^/  /'
	for p in "${pids[@]}"; do
		case $(cat "/proc/$p/comm" 2>/dev/null) in cupule*) ;; *) continue ;; esac
		for task in /proc/"$p"/task/*; do
			echo "  thread ${task##*/} of $p ($(cat "$task/comm" 2>/dev/null)):" \
				"state $(proc_state "$task")"
			timeout 5 head -n 8 "$task/stack" 2>/dev/null | sed 's/^/    /'
		done
	done
	echo "the test host's last kernel lines:"
	timeout 10 dmesg 2>/dev/null | tail -n 20 | sed 's/^/  /'
	kill -STOP "${pids[@]}" 2>/dev/null
	kill -KILL "${pids[@]}" 2>/dev/null
	for t in $(seq "${e2e_kill_wait:-20}"); do
		left=()
		for p in "${pids[@]}"; do
			[ -e "/proc/$p" ] && [ "$(proc_state "/proc/$p")" != Z ] &&
				left+=("$p")
		done
		[ "${#left[@]}" -gt 0 ] || break
		sleep 1
	done
	[ "${#left[@]}" -gt 0 ] || { echo "killed"; return 1; }
	for p in "${left[@]}"; do
		echo "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) is still there $t s after" \
			"SIGKILL, state $(proc_state "/proc/$p"):" \
			"the test host's kernel is stuck"
	done
	return 125
}
