#!/bin/sh
# Whole-process cost of `llmbill replay` to a Lago-compatible endpoint, per
# 100 events: system calls (strace -c -f), context switches (voluntary /
# involuntary) and CPU (user + system, /usr/bin/time -v), for one or two
# llmbill builds (e.g. before and after a change) and lago-javascript-client
# in batches of 100, all to bench/slow_lago.py (SLOW_LAGO_DELAY_MS=0), on a
# quiet machine and with a CPU-bound neighbour pinned to CPU 1. Each
# configuration runs ROUNDS times (default 3), the clients alternating.
# usage: replay_cost.sh SOURCE_DIR WORK_DIR NAME=BUILD_DIR [NAME=BUILD_DIR...]
#   BUILD_DIR holds the llmbill CLI and plugins/lago.so (a Release build).
#   JS_DIR=dir with node_modules/lago-javascript-client (else npm install);
#   EVENTS (default 100000), ROUNDS (default 3).
set -eu
SRC=$1 WORK=$2; shift 2
EVENTS=${EVENTS:-100000} ROUNDS=${ROUNDS:-3}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=$WORK/replay_cost.txt
: >"$OUT"
# the usage file: the jsonl sink's format, 1,000 customers
awk -v n="$EVENTS" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"event_id\":\"rc-%d\",\"timestamp_ms\":1795732324535,\"customer_id\":\"sub_%d\",\"model\":\"gpt-4o-mini\",\"input_tokens\":1200,\"output_tokens\":250,\"cached_input_tokens\":1000}\n", i, i % 1000 }' \
    >"$WORK/usage.jsonl"
JS=${JS_DIR:-$WORK/js}
[ -d "$JS" ] && JS=$(cd "$JS" && pwd)
if command -v node >/dev/null 2>&1; then
    if [ ! -d "$JS/node_modules/lago-javascript-client" ]; then
        mkdir -p "$JS"; cp "$SRC/bench/package.json" "$JS/"
        npm install --silent --prefix "$JS" >/dev/null
    fi
    cp "$SRC/bench/lago_js_bench.mjs" "$WORK/lago_js_bench.mjs"
    ln -sfn "$JS/node_modules" "$WORK/node_modules"
fi
SLOW_LAGO_DELAY_MS=0 python3 "$SRC/bench/slow_lago.py" --port 0 --api-key bench-key >"$WORK/port" &
server=$!
neighbour=
cleanup() {
    [ -n "$neighbour" ] && kill "$neighbour" 2>/dev/null
    kill "$server" 2>/dev/null; wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
while ! grep -q PORT "$WORK/port" 2>/dev/null; do sleep 0.1; done
URL=http://127.0.0.1:$(sed -n 's/PORT //p' "$WORK/port")
for spec in "$@"; do
    name=${spec%%=*} dir=$(cd "${spec#*=}" && pwd)
    printf '[llmbill]\nplugin_dir = %s/plugins\ncallbacks = lago\n[lago]\napi_base = %s\napi_key = bench-key\nevent_code = llm_usage\n' \
        "$dir" "$URL" >"$WORK/$name.ini"
done
# one run: NAME MODE(time|strace) -> a line "COST cond name mode value..."
run() {
    name=$1 mode=$2 cond=$3
    if [ "$name" = js ]; then
        set -- node "$WORK/lago_js_bench.mjs" "$URL" bench-key "$EVENTS" batch
    else
        dir=$(grep "^$name=" "$WORK/specs" | cut -d= -f2-)
        set -- "$dir/llmbill" -c "$WORK/$name.ini" replay "$WORK/usage.jsonl"
    fi
    if [ "$mode" = time ]; then
        /usr/bin/time -v -o "$WORK/t" "$@" >"$WORK/log" 2>&1 || { echo "FAILED: $*" >&2; cat "$WORK/log" >&2; exit 1; }
        awk -v c="$cond" -v n="$name" -v e="$EVENTS" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
            /User time/ { u = $NF } /System time/ { s = $NF }
            /Voluntary context/ { v = $NF } /Involuntary context/ { iv = $NF }
            /Maximum resident/ { rss = $NF }
            END { k = 100 / e; printf "COST %s %s time user+sys/100ev %.1f+%.1f us csw/100ev %.2f/%.2f rss %d MB load %s\n",
                c, n, u * 1e6 * k, s * 1e6 * k, v * k, iv * k, rss / 1024, load }' "$WORK/t"
    else
        strace -c -f -o "$WORK/s" "$@" >"$WORK/log" 2>&1 || { echo "FAILED: $*" >&2; cat "$WORK/log" >&2; exit 1; }
        awk -v c="$cond" -v n="$name" -v e="$EVENTS" '
            $1 ~ /^[0-9.]+$/ && $NF == "total" { tot = $4 }
            $1 ~ /^[0-9.]+$/ && $NF != "total" { calls[$NF] = $4 }
            END { k = 100 / e; printf "COST %s %s strace syscalls/100ev %.1f top:", c, n, tot * k;
                for (f in calls) if (calls[f] * k >= 0.5) printf " %s %.1f", f, calls[f] * k; printf "\n" }' "$WORK/s"
    fi
}
: >"$WORK/specs"
names=
for spec in "$@"; do
    echo "${spec%%=*}=$(cd "${spec#*=}" && pwd)" >>"$WORK/specs"; names="$names ${spec%%=*}"
done
command -v node >/dev/null 2>&1 && names="$names js"
for cond in quiet neighbour; do
    if [ "$cond" = neighbour ]; then
        # bounded: it cannot outlive the bench even if the trap does not run
        timeout 900 taskset -c 1 sh -c 'while :; do :; done' &
        neighbour=$!
    fi
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for mode in time strace; do
            for name in $names; do
                run "$name" "$mode" "$cond" >"$WORK/line"   # a failed run stops the bench
                tee -a "$OUT" <"$WORK/line"
            done
        done
        r=$((r + 1))
    done
    if [ -n "$neighbour" ]; then kill "$neighbour"; wait "$neighbour" 2>/dev/null || true; neighbour=; fi
done
