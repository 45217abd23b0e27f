#!/bin/sh
# Runs every benchmark script in bench/ against the build in $1.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
for b in "$here"/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  echo "== $(basename "$b" .sh)"
  sh "$b" "$build"
done
