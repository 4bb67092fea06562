#!/bin/sh
# The Lago benchmark: llmbill's lago sink against Lago's official JavaScript
# client (batches of 100, and one call per event), all sending to the same
# local Lago-compatible server. Prints client CPU per 100k events and ratios.
# usage: run_lago_bench.sh BENCH_BIN PLUGIN_DIR SOURCE_DIR WORK_DIR
set -eu
BIN=$1 PLUGINS=$2 SRC=$3 WORK=$4
SERVER=$SRC/tests/lago_server.py
# three llmbill runs; the median counts (loopback CPU is noisy on a small VM)
: >"$WORK/lago_bench.txt"
for i in 1 2 3; do "$BIN" "$PLUGINS" "$SERVER" 100000 | grep -v '^RESULT' | tee -a "$WORK/lago_bench.txt"; done
sed -n 's/.*client CPU \([0-9.]*\) s per 100k.*/\1/p' "$WORK/lago_bench.txt" | sort -n | sed -n 2p |
    awk '{ printf "llmbill median client CPU: %s s per 100k events\nRESULT llmbill %s\n", $1, $1 }' |
    tee -a "$WORK/lago_bench.txt"
if ! command -v node >/dev/null 2>&1; then
    echo "node not found: skipping the lago-javascript-client comparison"
    exit 0
fi
mkdir -p "$WORK/js"
cp "$SRC/bench/package.json" "$SRC/bench/lago_js_bench.mjs" "$WORK/js/"
[ -d "$WORK/js/node_modules/lago-javascript-client" ] || npm install --silent --prefix "$WORK/js" >/dev/null
# a fresh server per run; its port is printed on its first line
run_js() {
    fifo=$WORK/js/port.$$
    python3 "$SERVER" --port 0 --api-key bench-key >"$fifo" &
    pid=$!
    while ! grep -q PORT "$fifo" 2>/dev/null; do sleep 0.1; done
    port=$(sed -n 's/PORT //p' "$fifo")
    node "$WORK/js/lago_js_bench.mjs" "http://127.0.0.1:$port" bench-key "$1" "$2" | tee -a "$WORK/lago_bench.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$fifo"
}
run_js 100000 batch
run_js 10000 single
awk '/^RESULT/ { v[$2] = $3 } END {
    printf "client CPU per event: lago-javascript-client batch / llmbill = %.1fx, one call per event / llmbill = %.1fx\n",
        v["js_batch"] / v["llmbill"], v["js_single"] / v["llmbill"] }' "$WORK/lago_bench.txt"
