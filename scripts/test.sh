#!/bin/sh
# Sets everything up, then runs the whole test suite.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build && ctest --output-on-failure -j2 --timeout 300
