#!/bin/sh
# The latency-bound benchmark: a Lago-compatible endpoint that answers each
# batch after 100 ms (bench/slow_lago.py), llmbill's lago sink at
# max_in_flight 1, 4, 8, 16 and its default, beside lago-javascript-client
# with 4 batches of 100 in flight, in the same run. The ceiling is
# in_flight x 100 events / 0.1 s.
# usage: run_latency_bench.sh BENCH_BIN PLUGIN_DIR SOURCE_DIR WORK_DIR
set -eu
BIN=$1 PLUGINS=$2 SRC=$3 WORK=$4
SERVER=$SRC/bench/slow_lago.py
OUT=$WORK/latency_bench.txt
: >"$OUT"
for mif in 1 4 8 16; do
    # 2,000 events per batch in flight: about 2 s per run at the ceiling
    "$BIN" "$PLUGINS" "$SERVER" $((mif * 2000)) "$mif" | tee -a "$OUT"
done
"$BIN" "$PLUGINS" "$SERVER" 16000 | sed 's/RATE llmbill_default/RATE llmbill_default/' | tee -a "$OUT"
if command -v node >/dev/null 2>&1; then
    mkdir -p "$WORK/js"
    cp "$SRC/bench/package.json" "$SRC/bench/lago_js_bench.mjs" "$WORK/js/"
    [ -d "$WORK/js/node_modules/lago-javascript-client" ] || npm install --silent --prefix "$WORK/js" >/dev/null
    python3 "$SERVER" --port 0 --api-key bench-key >"$WORK/js/slow.port" &
    pid=$!
    while ! grep -q PORT "$WORK/js/slow.port" 2>/dev/null; do sleep 0.1; done
    node "$WORK/js/lago_js_bench.mjs" "http://127.0.0.1:$(sed -n 's/PORT //p' "$WORK/js/slow.port")" \
        bench-key 8000 batch4 | tee -a "$OUT"
    kill "$pid"; wait "$pid" 2>/dev/null || true
else
    echo "node not found: skipping lago-javascript-client"
fi
awk '/^RATE/ { r[$2] = $3 } END {
    split("1 4 8 16", m, " ");
    for (i = 1; i <= 4; i++)
        printf "max_in_flight %2d: %6d events/s, %3.0f%% of the ceiling (%d)\n", m[i],
            r["llmbill_" m[i]], 100 * r["llmbill_" m[i]] / (m[i] * 1000), m[i] * 1000;
    printf "default (8):      %6d events/s\n", r["llmbill_default"];
    if (r["js_batch4"] > 0)
        printf "lago-javascript-client, 4 in flight: %d events/s; llmbill default / JS = %.1fx\n",
            r["js_batch4"], r["llmbill_default"] / r["js_batch4"];
}' "$OUT"
