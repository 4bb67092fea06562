#!/bin/sh
# Installs llmbill into a temporary prefix, MOVES the tree elsewhere, and
# then, with a clean environment (no LLMBILL_* variables), runs the installed
# CLI (check, send, price: plugins and the price table are found relative to
# the library), reads the installed llmbill.pc, and builds the installed
# examples out of tree against it and runs them.
# usage: test_examples.sh SOURCE_DIR BUILD_DIR [EXTRA_CFLAGS]
set -eu
SRC=$1 BUILD=$2 EXTRA=${3:-}
T=$(mktemp -d /tmp/llmbill-ex-XXXXXX)
SRV=
trap 'test -z "$SRV" || kill "$SRV"; rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/first" >/dev/null
mv "$T/first" "$T/prefix"
P=$T/prefix
clean() { env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T" "$@"; }
fail() { echo "test_examples: FAILED: $*"; exit 1; }
PCDIR=$(dirname "$(find "$P" -name llmbill.pc)")
LIBDIR=$(dirname "$PCDIR")
test -f "$P/include/llmbill/sink.h"
test -x "$P/bin/llmbill"
test -f "$LIBDIR/llmbill/plugins/jsonl.so" || fail "jsonl.so not under <libdir>/llmbill/plugins"

# the man pages and the docs they point to are installed, and render
for m in man1/llmbill.1 man5/llmbill.ini.5 man3/llmbill_record.3 man3/llmbill_record_json.3; do
    test -f "$P/share/man/$m" || fail "$m not installed"
done
test -f "$P/share/doc/llmbill/configuration.md" || fail "docs not installed"
if command -v man >/dev/null 2>&1; then
    (cd "$P/share/man" && MANWIDTH=80 man -l man3/llmbill_record_json.3 2>&1) | grep -q "llmbill_record_json" \
        || fail "man llmbill_record_json does not render"
fi

# the .pc is relocatable and names the plugin directory and the private libs
clean env PKG_CONFIG_PATH="$PCDIR" pkg-config --variable=plugindir llmbill >"$T/pd"
test "$(realpath "$(cat "$T/pd")")" = "$(realpath "$LIBDIR/llmbill/plugins")" || fail "plugindir is $(cat "$T/pd")"
clean env PKG_CONFIG_PATH="$PCDIR" pkg-config --static --libs llmbill | grep -q -- "-linih" || fail "no inih in --static --libs"
clean env PKG_CONFIG_PATH="$PCDIR" pkg-config --static --libs llmbill | grep -q -- "-lcurl" || fail "no libcurl in --static --libs (the core's HTTP layer links it)"

# the moved CLI finds its plugins and price table with no variables
mkdir "$T/run"
cat >"$T/run/llmbill.ini" <<EOF
[llmbill]
callbacks = jsonl
linger_ms = 5
[jsonl]
path = ledger.jsonl
[pricing]
EOF
(cd "$T/run" && clean "$P/bin/llmbill" check) >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "check"; }
grep -q "sink jsonl" "$T/check.out" || fail "check: no jsonl sink"
grep -q "pricing on: $(realpath "$P")/share/llmbill/model_prices.json, [0-9]* models, unknown models unpriced" "$T/check.out" \
    || { cat "$T/check.out"; fail "check: the pricing state"; }
(cd "$T/run" && clean "$P/bin/llmbill" send --customer acme --model gpt-4o --input-tokens 1000 \
    --output-tokens 100) >"$T/send.out" 2>&1 || { cat "$T/send.out"; fail "send"; }
grep -q '"customer_id":"acme".*"cost_usd":0.0035' "$T/run/ledger.jsonl" || { cat "$T/run/ledger.jsonl"; fail "send: the priced line"; }
clean "$P/bin/llmbill" price --model gpt-4o --input-tokens 1000 --output-tokens 100 >"$T/price.out" 2>&1 \
    || { cat "$T/price.out"; fail "price"; }
grep -q "0.0035" "$T/price.out" || { cat "$T/price.out"; fail "price: the cost"; }

# the installed examples build against the installed .pc and run
EXDIR=$(find "$P" -type d -name examples | head -n 1)
test -f "$EXDIR/Makefile" || fail "examples not installed"
cp -r "$EXDIR" "$T/ex"
clean env PKG_CONFIG_PATH="$PCDIR" make -s -C "$T/ex" CC="${CC:-cc}" CFLAGS="-O2 -Wall -Wextra -Werror $EXTRA"
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
clean ./embed llmbill.ini >out.txt
grep -q "sink csv: delivered 3, pending 0" out.txt
grep -q "sink jsonl: delivered 3, pending 0" out.txt
test "$(wc -l <usage.csv)" -eq 3
grep -q ",cust_42,gpt-4o,1201,300,unpriced" usage.csv
test "$(wc -l <usage.jsonl)" -eq 3
# the pre-fork example: 4 workers, each its own handle and journal on one
# spool_dir; every event once in the ledger, no journal left behind
cat >prefork.ini <<EOF
[llmbill]
callbacks = jsonl
linger_ms = 5
spool_dir = spool
[jsonl]
path = prefork.jsonl
EOF
clean ./prefork prefork.ini 4 >prefork.out 2>&1 || { cat prefork.out; fail "prefork"; }
grep -q "prefork: 4 worker(s), 0 failed" prefork.out || { cat prefork.out; fail "prefork: workers"; }
test "$(wc -l <prefork.jsonl)" -eq 20 || fail "prefork: 20 events in the ledger"
test "$(sort prefork.jsonl | uniq | wc -l)" -eq 20 || fail "prefork: each event once"
test -z "$(ls -d spool/j-* 2>/dev/null)" || fail "prefork: a worker journal was left"
# the installed CLI loads the out-of-tree sink too
clean "$P/bin/llmbill" -c llmbill.ini check | grep -q "plugin csv 1.0.0"
# the request-based webhook sink against a small receiver: every event once
cp "$SRC/tests/webhook_receiver.py" "$T/receiver.py"
python3 "$T/receiver.py" "$T/ex/received.txt" >"$T/port" &
SRV=$!
i=0
while ! test -s "$T/port"; do i=$((i + 1)); test $i -lt 600; sleep 0.05; done
cat >"$T/ex/hook.ini" <<EOF
[llmbill]
callbacks = hook
linger_ms = 5
[hook]
plugin = ./webhook.so
url = http://127.0.0.1:$(cat "$T/port")/usage
token = hook-secret
max_in_flight = 4
EOF
clean ./embed hook.ini >out.txt
grep -q "sink hook: delivered 3, pending 0" out.txt
test "$(sort -u received.txt | wc -l)" -eq 3
test "$(wc -l <received.txt)" -eq 3
echo "test_examples: ok"
