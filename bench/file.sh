#!/bin/sh
# Hashing files into slices and roots, beside plain BLAKE2b (bench_file
# prints both and the RATIO line).
set -eu
build=$(cd "${1:-build}" && pwd)
bin="$build/bench/bench_file"
[ -x "$bin" ] || { echo "bench/file: $bin is missing (build the tree first)"; exit 1; }
"$bin"
