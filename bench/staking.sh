#!/bin/sh
# bench/staking: the cost of a value-chain block with 10,000 delegators
# beside the same chain with one delegator holding the same stake, and
# of one delegation's reward settlement on each (see bench_staking.c).
# Prints figures, then RATIO lines; the block ratio should stay near 1.
# Usage: sh bench/staking.sh BUILD_DIR [BLOCKS]
set -eu
build=$(cd "${1:-build}" && pwd)
bin="$build/bench/bench_staking"
[ -x "$bin" ] || { echo "bench/staking: no $bin (cmake --build $build --target bench_staking)"; exit 1; }
exec "$bin" ${2:+"$2"}
