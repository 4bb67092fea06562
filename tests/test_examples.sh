#!/bin/sh
# Installs llmbill into a temporary prefix, builds examples/ out of tree
# against the installed headers and pkg-config file, and runs them.
# usage: test_examples.sh SOURCE_DIR BUILD_DIR [EXTRA_CFLAGS]
set -eu
SRC=$1 BUILD=$2 EXTRA=${3:-}
T=$(mktemp -d /tmp/llmbill-ex-XXXXXX)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
PCDIR=$(dirname "$(find "$T/prefix" -name llmbill.pc)")
PLUGDIR=$(dirname "$(find "$T/prefix" -name jsonl.so)")
test -f "$T/prefix/include/llmbill/sink.h"
test -x "$T/prefix/bin/llmbill"
cp -r "$SRC/examples" "$T/ex"
# out of tree: only the installed files are visible
PKG_CONFIG_PATH=$PCDIR make -s -C "$T/ex" CFLAGS="-O2 -Wall -Wextra -Werror $EXTRA"
cat >"$T/ex/llmbill.ini" <<EOF
[llmbill]
callbacks = csv, jsonl
linger_ms = 5
[csv]
plugin = ./csv.so
path = usage.csv
[jsonl]
path = usage.jsonl
EOF
cd "$T/ex"
LLMBILL_PLUGIN_PATH=$PLUGDIR ./embed llmbill.ini >out.txt
grep -q "sink csv: delivered 3, pending 0" out.txt
grep -q "sink jsonl: delivered 3, pending 0" out.txt
test "$(wc -l <usage.csv)" -eq 3
grep -q ",cust_42,gpt-4o,1201,300,unpriced" usage.csv
test "$(wc -l <usage.jsonl)" -eq 3
# the installed CLI loads the out-of-tree sink too
LLMBILL_PLUGIN_PATH=$PLUGDIR "$T/prefix/bin/llmbill" -c llmbill.ini check | grep -q "plugin csv 1.0.0"
echo "test_examples: ok"
