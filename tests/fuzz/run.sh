#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/fuzz/run.sh [SECONDS] [TARGET]...
#
# Builds the libFuzzer targets ("make fuzz", needs clang) and runs each
# (every tests/fuzz/fuzz_*.c, or the TARGETs named, e.g. fuzz_ring) for
# SECONDS (default 20) from its seed corpus tests/fuzz/corpus/NAME/
# (NAME: the target without "fuzz_").  New inputs go to a scratch
# folder, not into the committed seeds.  Exits non-zero if a target
# crashed, leaked or failed an assertion; the input that did it is kept
# under build/fuzz/crashes/ and its path printed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
secs=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
build=${BUILD:-build}

if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
	echo "fuzz: clang not found (apt-get install -y clang)" >&2
	exit 1
fi
make -s fuzz || exit 1

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/fuzz/crashes"
failed=()
for t in "${targets[@]}"; do
	bin=$build/fuzz/$t
	seeds=tests/fuzz/corpus/${t#fuzz_}
	[ -d "$seeds" ] || seeds=tests/fuzz/corpus/$t
	work=$scratch/$t
	mkdir -p "$work"
	echo "=== $t: ${secs}s from $seeds"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
	    -print_final_stats=1 -artifact_prefix="$build/fuzz/crashes/$t-"
	    "$work")
	[ -d "$seeds" ] && args+=("$seeds")
	if ! "$bin" "${args[@]}" >"$work.log" 2>&1; then
		tail -n 40 "$work.log"
		failed+=("$t")
		grep -o "Test unit written to .*" "$work.log"
	else
		grep -E "^stat::number_of_executed_units|^Done" "$work.log" |
		    tail -n 2
	fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}"
	exit 1
fi
echo "fuzz: ${#targets[@]} target(s), no crash"
