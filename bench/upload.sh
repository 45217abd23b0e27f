#!/bin/sh
# bench/upload: see storage.py (one file service part on a 3-replica localnet).
exec python3 "$(dirname "$0")/storage.py" "$@" --only upload
