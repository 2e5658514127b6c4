#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# bench/ring/run.sh [bench-ring options]
#
# Builds bench-ring and prints the ioreq ring round trip beside its
# floors (eventfd and cache-line ping-pong), same CPU and cross CPU,
# then the spin-budget sweep.  Takes a few minutes with the defaults
# (-n 200000 -c 30 -s 20000); "-n 20000 -c 3 -s 0" is a quick look.
# Run it on an otherwise idle machine: a busy CPU changes the wake-up
# costs being measured.  Not a test: it never fails on slow figures.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
make -s "${BUILD:-build}/bin/bench-ring"
echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
exec "${BUILD:-build}/bin/bench-ring" -c 30 "$@"
