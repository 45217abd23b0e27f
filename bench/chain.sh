#!/bin/sh
# bench/chain: see chain.py.
exec python3 "$(dirname "$0")/chain.py" "$@"
