#!/bin/sh
# Installs the Debian 12 packages stratosd needs, only those missing.
#   scripts/deps.sh build   to build and run (make dev)
#   scripts/deps.sh test    also the test tools (make test)
#   scripts/deps.sh bench   also the load tools and references (make bench)
# Runs apt-get as root (or through sudo); otherwise names what to install.
set -eu
mode=${1:-build}

build_pkgs="build-essential cmake pkg-config libuv1-dev libsodium-dev liblmdb-dev
libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libh2o-dev libssl-dev
libwslay-dev libjansson-dev libinih-dev"
test_pkgs="libcmocka-dev clang libclang-rt-14-dev python3 lmdb-utils nginx-light chromium ffmpeg"
bench_pkgs="wrk nginx-light"

pkgs=$build_pkgs
[ "$mode" = test ] && pkgs="$pkgs $test_pkgs"
[ "$mode" = bench ] && pkgs="$pkgs $bench_pkgs"

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "stratosd: installing missing packages:$missing"
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "stratosd: these Debian packages are missing and I am not root:$missing" >&2
  echo "stratosd: run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
