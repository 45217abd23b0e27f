#!/bin/sh
# Placement of slice replicas among 1,000 storage nodes, beside sorting
# the candidates (bench_place prints both and the RATIO line).
set -eu
build=$(cd "${1:-build}" && pwd)
bin="$build/bench/bench_place"
[ -x "$bin" ] || { echo "bench/place: $bin is missing (build the tree first)"; exit 1; }
"$bin"
