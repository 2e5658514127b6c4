#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench/restart/run.sh [-n ROUNDS]
#
# Builds bench-restart and prints what a vCPU sees when its blk mediator
# is SIGKILLed: the stall from the kill until a register read is
# answered by the new process, with the sandbox and without, beside the
# floor of any restart (fork+exec+exit of a static program).  Runs on
# /dev/kvm with a halted vCPU, so any machine here will do (no guest
# OS).  Not a test: it never fails on slow figures.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
build=${BUILD:-build}
make -s "$build/bin/bench-restart" "$build/bin/cupule-blk"
echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$build/bin/bench-restart" -b "$build/bin" "$@"
