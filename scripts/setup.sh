#!/bin/sh
# Installs what llmbill needs (Debian packages) when it is missing, then
# configures and builds into ./build. Extra arguments go to cmake.
# usage: scripts/setup.sh [EXTRA_PACKAGES...] [-- CMAKE_ARGS...]
set -eu
cd "$(dirname "$0")/.."
pkgs="build-essential cmake pkg-config libinih-dev libjsmn-dev libcurl4-openssl-dev python3"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do pkgs="$pkgs $1"; shift; done
[ "${1:-}" = "--" ] && shift
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLMBILL_WERROR=ON "$@" >/dev/null
cmake --build build -j"$(nproc)"
