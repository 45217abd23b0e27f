#!/bin/sh
# The node's baseline: idle RSS of `stratosd dev`, RSS per open connection,
# and JSON-RPC `health` calls per second over keep-alive connections (wrk),
# beside nginx answering a small static file with the same wrk settings on
# the same machine. Prints figures, then RATIO lines.
set -eu
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "bench/node: needs wrk (apt-get install wrk)"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(cat "$tmp"/pids 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
port_rpc=28252; port_gw=28552; port_ng=28553
"$build"/stratosd dev --home "$tmp/home" --rpc.laddr=127.0.0.1:$port_rpc \
  --gateway.laddr=127.0.0.1:$port_gw --p2p.laddr=127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!; echo $pid >>"$tmp/pids"
i=0; until grep -q '^ready' "$tmp/out"; do i=$((i+1)); [ $i -gt 200 ] && { cat "$tmp/err"; exit 1; }; sleep 0.05; done
sleep 2
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "idle RSS: $rss_kb KiB"
dur=${BENCH_SECONDS:-10}
out=$(wrk -t2 -c64 -d${dur}s -s "$here/rpc_health.lua" http://127.0.0.1:$port_rpc/)
echo "$out" | sed 's/^/  /'
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
rss2_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "RSS after 64 connections: $rss2_kb KiB ($(( (rss2_kb - rss_kb) / 64 )) KiB per connection)"
echo "JSON-RPC health: $rps req/s"
ng=""
if command -v nginx >/dev/null; then
  mkdir -p "$tmp/www" "$tmp/ng"
  printf '{"jsonrpc":"2.0","id":1,"result":{}}\n' >"$tmp/www/health.json"
  cat >"$tmp/ng/nginx.conf" <<NG
worker_processes 1; daemon off; pid $tmp/ng/pid; error_log $tmp/ng/err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$port_ng; root $tmp/www; } }
NG
  nginx -c "$tmp/ng/nginx.conf" -p "$tmp/ng" & echo $! >>"$tmp/pids"
  sleep 0.5
  ngout=$(wrk -t2 -c64 -d${dur}s http://127.0.0.1:$port_ng/health.json)
  ng=$(echo "$ngout" | awk '/Requests\/sec/ {print $2}')
  echo "nginx static 37-byte file (1 worker): $ng req/s"
fi
awk -v r="$rss_kb" 'BEGIN { printf "RATIO idle_rss_of_64MiB_budget=%.3f\n", r / 65536 }'
[ -n "$ng" ] && awk -v a="$rps" -v b="$ng" 'BEGIN { printf "RATIO rpc_health_vs_nginx=%.3f\n", a / b }'
exit 0
