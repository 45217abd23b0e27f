#!/bin/sh
# bench/storage: see storage.py (upload, download and small objects).
exec python3 "$(dirname "$0")/storage.py" "$@"
