#!/bin/sh
# CLI end to end: check, send and replay through real configs and plugins.
# usage: test_cli.sh LLMBILL_BIN PLUGIN_DIR TEST_PLUGIN_DIR
set -u
BIN=$1 PLUGINS=$2 TPLUGINS=$3
T=$(mktemp -d /tmp/llmbill-cli-XXXXXX)
locker=
lago=
trap '[ -n "$locker" ] && kill "$locker" 2>/dev/null; [ -n "$lago" ] && kill "$lago" 2>/dev/null; rm -rf "$T"' EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }
# expect NAME WANT_EXIT WANT_TEXT -- command...: runs it, checks exit and output
expect() {
    name=$1 want=$2 text=$3
    shift 4
    "$@" >"$T/log" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        bad "$name (exit $got, want $want)"; sed 's/^/     | /' "$T/log"; return
    fi
    if [ -n "$text" ] && ! grep -qF -- "$text" "$T/log"; then
        bad "$name (output lacks: $text)"; sed 's/^/     | /' "$T/log"; return
    fi
    ok "$name"
}

cat >"$T/ok.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = jsonl, stdout
linger_ms = 5
[jsonl]
path = out/ledger.jsonl
EOF

expect "version" 0 "llmbill 0.1.0" -- "$BIN" --version
expect "help" 0 "usage: llmbill" -- "$BIN" --help
for c in check send replay price; do
    expect "$c --help" 0 "usage: llmbill [-c FILE] $c" -- "$BIN" "$c" --help
done
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$BIN" frobnicate
expect "no command" 2 "usage:" -- "$BIN"
expect "check ok" 0 "sink jsonl        plugin jsonl 0.1.0" -- "$BIN" -c "$T/ok.ini" check
expect "check: pricing off, said" 0 "pricing off: no [pricing] section" -- "$BIN" -c "$T/ok.ini" check
expect "check via LLMBILL_CONFIG" 0 "ok, 2 sink(s)" -- env LLMBILL_CONFIG="$T/ok.ini" "$BIN" check
expect "check -c after the command" 0 "ok, 2 sink(s)" -- "$BIN" check -c "$T/ok.ini"

printf '[llmbill]\nplugin_dir = %s\ncallbacks = jsonl\n[jsonl]\npath = x\nspeed = 3\n' "$PLUGINS" >"$T/bad.ini"
expect "check unknown key" 1 "bad.ini:6: [jsonl] speed: unknown key for plugin jsonl" -- "$BIN" -c "$T/bad.ini" check
printf '[llmbill]\nplugin_dir = %s\ncallbacks = lagoo\n' "$PLUGINS" >"$T/missing.ini"
expect "check missing plugin" 1 "plugin 'lagoo' not found (searched: $PLUGINS/lagoo.so" -- "$BIN" -c "$T/missing.ini" check
expect "check missing file" 1 "cannot open config" -- "$BIN" -c "$T/nope.ini" check

expect "send delivers" 0 "delivered to 2 sink(s)" -- "$BIN" -c "$T/ok.ini" send --customer acme \
    --model gpt-4o --provider openai --input-tokens 1000 --cached-input-tokens 200 \
    --output-tokens 50 --reasoning-tokens 10 --cost-usd 0.005615 --event-id evt-1 --meta team=ml
if grep -qF '"event_id":"evt-1"' "$T/out/ledger.jsonl" &&
   grep -qF '"cost_usd":0.005615' "$T/out/ledger.jsonl" &&
   grep -qF '"metadata":{"team":"ml"}' "$T/out/ledger.jsonl"; then
    ok "send wrote the ledger line"
else
    bad "send wrote the ledger line"; cat "$T/out/ledger.jsonl"
fi
expect "send needs model" 2 "send needs --model" -- "$BIN" -c "$T/ok.ini" send --customer a --input-tokens 1 --output-tokens 1
expect "send invalid record" 2 "invalid event: input_tokens: must include cached_input_tokens" -- \
    "$BIN" -c "$T/ok.ini" send --customer a --model m --input-tokens 1 --cached-input-tokens 5 --output-tokens 1
expect "send bad number" 2 "input-tokens: 'ten' is not a non-negative integer" -- \
    "$BIN" -c "$T/ok.ini" send --customer a --model m --input-tokens ten --output-tokens 1

cat >"$T/down.ini" <<EOF
[llmbill]
plugin_dir = $TPLUGINS
callbacks = t
shutdown_timeout_ms = 200
retry_base_ms = 20
dead_letter_dir = dl
[t]
plugin = testsink
always = retry
EOF
expect "send to a failing sink: dead-lettered, exit 4" 4 "event evt-down dead-lettered by sink t to $T/dl/t.deadletter.jsonl" -- "$BIN" -c "$T/down.ini" send \
    --customer a --model m --input-tokens 1 --output-tokens 1 --timeout-ms 300 --event-id evt-down
if grep -qF '"event_id":"evt-down"' "$T/dl/t.deadletter.jsonl"; then ok "undelivered event dead-lettered"; else bad "undelivered event dead-lettered"; fi

# a sink slower than --timeout-ms but within shutdown_timeout_ms: close
# delivers it, and send says so from the final counts (it once said "NOT
# delivered" and exited 1, inviting a resend that bills twice)
cat >"$T/slow.ini" <<EOF
[llmbill]
plugin_dir = $TPLUGINS
callbacks = t
shutdown_timeout_ms = 60000
[t]
plugin = testsink
sleep_ms = 1000
EOF
expect "send: slow sink delivered during close, exit 0" 0 "event evt-slow delivered to 1 sink(s)" -- \
    "$BIN" -c "$T/slow.ini" send --customer a --model m --input-tokens 1 --output-tokens 1 \
    --timeout-ms 100 --event-id evt-slow
if [ "$(head -n 1 "$T/log")" = "event evt-slow" ]; then ok "send prints the event id first"; else bad "send prints the event id first"; sed 's/^/     | /' "$T/log"; fi
expect "send --help: a resend must reuse the event id" 0 "A resend MUST reuse the printed event id" -- "$BIN" send --help
# replay's summary comes after close: what close dead-lettered is counted,
# and close says so in one line per sink, not one per event
i=0; : >"$T/many.jsonl"
while [ $i -lt 30 ]; do
    echo "{\"event_id\":\"m-$i\",\"timestamp_ms\":1795732324535,\"customer_id\":\"a\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}" >>"$T/many.jsonl"
    i=$((i + 1))
done
expect "replay: final counts after close" 1 "recorded 30, delivered 0, dead-lettered 30, pending 0" -- \
    "$BIN" -c "$T/down.ini" replay --timeout-ms 100 "$T/many.jsonl"
if [ "$(grep -c "dead-lettered at shutdown to" "$T/log")" -eq 1 ] && ! grep -q "event m-" "$T/log"; then
    ok "shutdown dead letters: one log line per sink"
else
    bad "shutdown dead letters: one log line per sink"; sed 's/^/     | /' "$T/log"
fi

# replay: a bad line is reported by number, the others go on
cp "$T/out/ledger.jsonl" "$T/in.jsonl"
cat >>"$T/in.jsonl" <<'EOF'
{"event_id":"evt-2","timestamp_ms":1795732324535,"customer_id":"b","model":"gpt-4o","input_tokens":5,"output_tokens":1}
{"event_id":"evt-3","model":"gpt-4o","input_tokens":"many"}

{"event_id":"evt-4","timestamp_ms":1795732324536,"user_id":"u","model":"o3","input_tokens":5,"output_tokens":9,"reasoning_tokens":4,"future_key":[1,2]}
{"event_id":"evt-5","model":"gpt-4o","input_tokens":1,"output_tokens":1}
EOF
cat >"$T/replay.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = jsonl
linger_ms = 5
[jsonl]
path = replayed.jsonl
EOF
expect "replay reports bad lines" 1 "in.jsonl:3: input_tokens: expected a non-negative integer" -- \
    "$BIN" -c "$T/replay.ini" replay "$T/in.jsonl"
grep -qF "in.jsonl:6: customer_id, subscription_id, user_id, team_id: at least one is required" "$T/log" \
    && ok "replay names the invalid record's line" || bad "replay names the invalid record's line"
grep -qF "6 lines, 3 recorded, 2 bad" "$T/log" && ok "replay summary" || { bad "replay summary"; cat "$T/log"; }
[ "$(wc -l <"$T/replayed.jsonl")" -eq 3 ] && ok "replay delivered the good lines" || bad "replay delivered the good lines"

! grep -qF "lines read" "$T/log" && ok "no progress line off a terminal" || bad "no progress line off a terminal"

# on a terminal (a pty from script(1)), replay shows a progress line on stderr
if command -v script >/dev/null 2>&1; then
    i=0
    while [ $i -lt 2000 ]; do
        printf '{"customer_id":"c%d","model":"gpt-4o","input_tokens":10,"output_tokens":2}\n' $i
        i=$((i + 1))
    done >"$T/many.jsonl"
    rm -f "$T/replayed.jsonl"
    script -qec "'$BIN' -c '$T/replay.ini' replay '$T/many.jsonl'" /dev/null >"$T/log" 2>&1
    grep -q "replay: [0-9]* lines read, [0-9]* recorded, 0 bad" "$T/log" \
        && ok "progress line on a terminal" || { bad "progress line on a terminal"; cat "$T/log"; }
    grep -qF "2000 lines, 2000 recorded, 0 bad" "$T/log" && [ "$(wc -l <"$T/replayed.jsonl")" -eq 2000 ] \
        && ok "replay on a terminal delivers everything" || bad "replay on a terminal delivers everything"
else
    echo "skip progress line on a terminal (no script(1))"
fi

# a ledger replays into an identical ledger: ids and timestamps are kept
rm -f "$T/replayed.jsonl"
expect "replay a ledger" 0 "1 recorded, 0 bad" -- "$BIN" -c "$T/replay.ini" replay "$T/out/ledger.jsonl"
cmp -s "$T/replayed.jsonl" "$T/out/ledger.jsonl" && ok "replayed ledger is byte-identical" || bad "replayed ledger is byte-identical"
rm -f "$T/replayed.jsonl"
expect "replay from stdin" 0 "delivered 1" -- sh -c "\"$BIN\" -c \"$T/replay.ini\" replay - <\"$T/out/ledger.jsonl\""
expect "replay a dead-letter file" 0 "1 recorded, 0 bad" -- "$BIN" -c "$T/replay.ini" replay "$T/dl/t.deadletter.jsonl"
grep -qF '"event_id":"evt-down"' "$T/replayed.jsonl" && ok "dead letter replayed" || bad "dead letter replayed"
expect "replay missing file" 1 "cannot open" -- "$BIN" -c "$T/replay.ini" replay "$T/none.jsonl"

PRICES=$(dirname "$0")/../data/model_prices.json
expect "price" 0 "gpt-4o: 0.005615 USD" -- "$BIN" price --prices "$PRICES" --model gpt-4o \
    --input-tokens 2006 --cached-input-tokens 1920 --output-tokens 300
grep -qF "  cache reads  0.0024 USD" "$T/log" && ok "price breakdown" || bad "price breakdown"
expect "price unknown model" 1 "model nope is not in the price table" -- "$BIN" price \
    --prices "$PRICES" --model nope --input-tokens 1 --output-tokens 1
expect "price audio" 0 "gpt-realtime: 0.1296 USD" -- "$BIN" price --prices "$PRICES" \
    --model gpt-realtime --input-tokens 10000 --cached-input-tokens 6000 --input-audio-tokens 7000 \
    --cached-audio-tokens 4000 --output-tokens 500 --output-audio-tokens 400
grep -qF "  audio        0.1232 USD" "$T/log" && ok "price audio part" || bad "price audio part"
expect "price web search in a batch" 0 "claude-sonnet-4-5: 0.030225 USD (service tier batch)" -- \
    "$BIN" price --prices "$PRICES" --model claude-sonnet-4-5 --input-tokens 100 \
    --output-tokens 10 --web-search-requests 3 --service-tier batch
expect "price needs a model" 2 "price needs --model" -- "$BIN" price --input-tokens 1

# replay --from: provider response bodies, priced, with stable event ids
SAMPLES=$(dirname "$0")/data/responses
{ cat "$SAMPLES/openai_responses.json"
  echo '{"id":"chatcmpl-2","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":10,"completion_tokens":5}}'
  echo '{"id":"chatcmpl-3","object":"chat.completion","model":"gpt-4o","usage":{"prompt_tokens":'
} >"$T/resp.jsonl"
cat >"$T/from.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = jsonl
linger_ms = 5
[pricing]
file = $PRICES
[jsonl]
path = from.jsonl
EOF
expect "replay --from openai" 1 "resp.jsonl:3: truncated JSON" -- "$BIN" -c "$T/from.ini" replay \
    --from openai --customer fallback-cust "$T/resp.jsonl"
grep -qF '"event_id":"openai-resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b","timestamp_ms":1741476542000,"customer_id":"cust-17"' "$T/from.jsonl" &&
grep -qF '"reasoning_tokens":400,"cost_usd":0.0057}' "$T/from.jsonl" &&
grep -qF '"event_id":"openai-chatcmpl-2","timestamp_ms":1741570283000,"customer_id":"fallback-cust"' "$T/from.jsonl" \
    && ok "replay --from: usage, customer, stable ids, cost" || { bad "replay --from: usage, customer, stable ids, cost"; cat "$T/from.jsonl"; }
expect "check: pricing on, with the table" 0 "pricing on: $PRICES, " -- "$BIN" -c "$T/from.ini" check
expect "replay --from without a customer" 1 "no customer: the body has no 'user'" -- "$BIN" -c "$T/from.ini" \
    replay --from openai "$T/resp.jsonl"
expect "replay --from an unknown provider" 2 "expected openai, azure, anthropic, gemini" -- \
    "$BIN" -c "$T/from.ini" replay --from cohere "$T/resp.jsonl"
expect "replay --from a captured SSE stream" 0 "a captured SSE stream from anthropic" -- \
    "$BIN" -c "$T/from.ini" replay --from anthropic --customer s1 "$SAMPLES/anthropic.sse"
grep -qF '"event_id":"anthropic-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"' "$T/from.jsonl" &&
grep -F 'anthropic-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY' "$T/from.jsonl" | grep -qF '"output_tokens":500' \
    && ok "replay --from SSE: one event" || bad "replay --from SSE: one event"
head -c 600 "$SAMPLES/anthropic.sse" >"$T/cut.sse"
expect "replay --from a cut stream" 1 "incomplete stream" -- \
    "$BIN" -c "$T/from.ini" replay --from anthropic --customer s1 "$T/cut.sse"
expect "replay --from a stream without --customer" 1 "a stream names none (set --customer)" -- \
    "$BIN" -c "$T/from.ini" replay --from anthropic "$SAMPLES/anthropic.sse"
# several captured streams in one file (a proxy log): one event each, split
# after each stream's terminal event ([DONE], message_stop, response.completed)
sed 's|^path = from.jsonl|path = streams.jsonl|' "$T/from.ini" >"$T/streams.ini"
{ sed 's/chatcmpl-7x/chatcmpl-m1/; s/"prompt_tokens":1000/"prompt_tokens":1001/' "$SAMPLES/openai_chat.sse"
  printf '\n\n'
  cat "$SAMPLES/openai_responses.sse"; printf 'data: [DONE]\n\n'
  sed 's/chatcmpl-7x/chatcmpl-m3/; s/"prompt_tokens":1000/"prompt_tokens":1003/' "$SAMPLES/openai_chat.sse"
} >"$T/openai3.sse"
for run in 1 2; do
    expect "replay --from: 3 OpenAI streams in one file (run $run)" 0 "3 streams, 3 recorded, 0 bad" -- \
        "$BIN" -c "$T/streams.ini" replay --from openai --customer m "$T/openai3.sse"
done
grep -qF "3 SSE streams, one event each" "$T/log" && ok "replay --from: says how many streams" ||
    { bad "replay --from: says how many streams"; cat "$T/log"; }
ids=$(sed 's/.*"event_id":"\([^"]*\)".*/\1/' "$T/streams.jsonl" | sort | uniq -c | tr -s ' ' | paste -sd';' -)
[ "$ids" = " 2 openai-chatcmpl-m1; 2 openai-chatcmpl-m3; 2 openai-resp_9" ] &&
grep -F '"event_id":"openai-chatcmpl-m1"' "$T/streams.jsonl" | grep -qF '"input_tokens":1001,' &&
grep -F '"event_id":"openai-resp_9"' "$T/streams.jsonl" | grep -qF '"input_tokens":1000,' &&
grep -F '"event_id":"openai-chatcmpl-m3"' "$T/streams.jsonl" | grep -qF '"input_tokens":1003,' \
    && ok "replay --from: each OpenAI stream billed once, its own counts, the same ids twice" ||
    { bad "replay --from: each OpenAI stream billed once ($ids)"; cat "$T/streams.jsonl"; }
: >"$T/streams.jsonl"
for k in 1 2; do
    sed "s/msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY/msg_m$k/; s/\"output_tokens\":500/\"output_tokens\":5$k/" \
        "$SAMPLES/anthropic.sse"; printf '\n'
done >"$T/anthropic2.sse"
for run in 1 2; do
    expect "replay --from: 2 Anthropic streams in one file (run $run)" 0 "2 streams, 2 recorded, 0 bad" -- \
        "$BIN" -c "$T/streams.ini" replay --from anthropic --customer m "$T/anthropic2.sse"
done
[ "$(grep -cF '"event_id":"anthropic-msg_m1"' "$T/streams.jsonl")" -eq 2 ] &&
[ "$(grep -cF '"event_id":"anthropic-msg_m2"' "$T/streams.jsonl")" -eq 2 ] &&
[ "$(wc -l <"$T/streams.jsonl")" -eq 4 ] &&
grep -F '"event_id":"anthropic-msg_m1"' "$T/streams.jsonl" | grep -qF '"input_tokens":12100,' &&
grep -F '"event_id":"anthropic-msg_m1"' "$T/streams.jsonl" | grep -qF '"output_tokens":51,' &&
grep -F '"event_id":"anthropic-msg_m2"' "$T/streams.jsonl" | grep -qF '"output_tokens":52,' \
    && ok "replay --from: each Anthropic stream billed once, its own counts, the same ids twice" ||
    { bad "replay --from: each Anthropic stream billed once"; cat "$T/streams.jsonl"; }
# a stream cut short inside the file (its last event lacks the blank line)
# and one cut at its end: each a bad item, by ordinal and offset; the whole
# one between them is billed
: >"$T/streams.jsonl"
head -8 "$SAMPLES/anthropic.sse" >"$T/cut3.sse"
off2=$(wc -c <"$T/cut3.sse")
cat "$SAMPLES/anthropic.sse" >>"$T/cut3.sse"
off3=$(wc -c <"$T/cut3.sse")
head -c 600 "$SAMPLES/anthropic.sse" >>"$T/cut3.sse"
expect "replay --from: a stream cut inside the file" 1 "cut3.sse: stream 1 (byte 0): incomplete stream" -- \
    "$BIN" -c "$T/streams.ini" replay --from anthropic --customer m "$T/cut3.sse"
grep -qF "cut3.sse: stream 3 (byte $off3): incomplete stream" "$T/log" &&
! grep -qF "stream 2 (byte $off2)" "$T/log" && grep -qF "3 streams, 1 recorded, 2 bad" "$T/log" &&
[ "$(wc -l <"$T/streams.jsonl")" -eq 1 ] &&
grep -qF '"event_id":"anthropic-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"' "$T/streams.jsonl" \
    && ok "replay --from: cut streams reported, the whole one billed" ||
    { bad "replay --from: cut streams reported, the whole one billed"; cat "$T/log" "$T/streams.jsonl"; }
expect "replay --from a batch result file" 1 "a batch result file (JSON lines) from anthropic" -- \
    "$BIN" -c "$T/from.ini" replay --from anthropic --customer b1 "$SAMPLES/anthropic_batch.jsonl"
grep -qF "anthropic_batch.jsonl:2: batch result is errored, not succeeded: not billed" "$T/log" &&
grep -qF "3 lines, 1 recorded, 2 bad" "$T/log" &&
grep -F '"event_id":"anthropic-msg_01Bat1"' "$T/from.jsonl" | grep -qF '"service_tier":"batch","cost_usd":0.003}' \
    && ok "replay --from batch: billed at batch rates" || { bad "replay --from batch: billed at batch rates"; cat "$T/log"; }
{ cat "$SAMPLES/openrouter.json"; } >"$T/or.jsonl"
expect "replay --from openrouter" 0 "1 lines, 1 recorded, 0 bad" -- "$BIN" -c "$T/from.ini" replay --from openrouter \
    --customer o1 "$T/or.jsonl"
grep -F '"customer_id":"o1"' "$T/from.jsonl" | grep -qF '"metadata":{"provider_cost_usd":"0.004836"}' \
    && ok "replay --from: the provider's cost kept" || { bad "replay --from: the provider's cost kept"; cat "$T/log"; }
# the table's price too: anthropic/claude-sonnet-4.5 from openrouter is openrouter/anthropic/...
grep -F '"customer_id":"o1"' "$T/from.jsonl" | grep -qF '"cost_usd":0.0021,' \
    && ok "replay --from openrouter: priced from the table" || { bad "replay --from openrouter: priced from the table"; cat "$T/from.jsonl"; }
python3 -m json.tool "$SAMPLES/openai_responses.json" >"$T/pretty.json"
expect "replay --from a pretty-printed body" 0 "one response body (pretty-printed JSON) from openai" -- \
    "$BIN" -c "$T/from.ini" replay --from openai "$T/pretty.json"
expect "replay --from a Gemini JSON array" 0 "a Gemini streamGenerateContent JSON array from gemini" -- \
    "$BIN" -c "$T/from.ini" replay --from gemini --customer g1 "$SAMPLES/gemini_array.json"
python3 - "$T/converse.bin" <<'PY'
import struct, sys, zlib
def frame(etype, payload):
    h = b''
    for n, v in ((b':message-type', b'event'), (b':event-type', etype),
                 (b':content-type', b'application/json')):
        h += bytes([len(n)]) + n + b'\x07' + struct.pack('>H', len(v)) + v
    pre = struct.pack('>II', 16 + len(h) + len(payload), len(h))
    m = pre + struct.pack('>I', zlib.crc32(pre)) + h + payload
    return m + struct.pack('>I', zlib.crc32(m))
with open(sys.argv[1], 'wb') as f:
    f.write(frame(b'messageStart', b'{"role":"assistant"}'))
    f.write(frame(b'messageStop', b'{"stopReason":"end_turn"}'))
    f.write(frame(b'metadata', b'{"usage":{"inputTokens":100,"outputTokens":500,'
                  b'"cacheReadInputTokens":10000,"cacheWriteInputTokens":2000,"totalTokens":12600},'
                  b'"metrics":{"latencyMs":800}}'))
PY
expect "replay --from bedrock without a model" 1 "the response names no model (set --model)" -- \
    "$BIN" -c "$T/from.ini" replay --from bedrock --customer w1 "$T/converse.bin"
expect "replay --from a Bedrock event stream" 0 "an AWS event stream (binary) from bedrock" -- \
    "$BIN" -c "$T/from.ini" replay --from bedrock --customer w1 \
    --model anthropic.claude-sonnet-4-5-20250929-v1:0 "$T/converse.bin"
grep -F '"customer_id":"w1"' "$T/from.jsonl" | grep -qF '"input_tokens":12100,"cached_input_tokens":10000,"cache_creation_input_tokens":2000,"output_tokens":500' \
    && ok "replay --from bedrock: normalised" || bad "replay --from bedrock: normalised"

# the journal: a sink that is down keeps events in the spool; drain sends them
cat >"$T/spool-down.ini" <<EOF
[llmbill]
plugin_dir = $TPLUGINS
callbacks = t
shutdown_timeout_ms = 200
retry_base_ms = 20
spool_dir = spool
[t]
plugin = testsink
always = retry
EOF
cat >"$T/spool-up.ini" <<EOF
[llmbill]
plugin_dir = $TPLUGINS
callbacks = t
spool_dir = spool
linger_ms = 5
[t]
plugin = testsink
EOF
expect "send with the sink down: kept in the journal, exit 3" 3 "NOT delivered yet: kept in the journal" -- "$BIN" -c "$T/spool-down.ini" send \
    --customer a --model m --input-tokens 1 --output-tokens 1 --timeout-ms 200
expect "spool status" 0 "sink t            1 event(s) in the journal not yet delivered" -- \
    "$BIN" -c "$T/spool-up.ini" spool status
expect "spool drain" 0 "spool drain: done" -- "$BIN" -c "$T/spool-up.ini" spool drain
expect "spool status after drain" 0 "journal backlog: 0 event(s)" -- "$BIN" -c "$T/spool-up.ini" spool status
# a spool has one writer: while another process holds it, drain is refused
# and status reads it without touching it
# (held until $T/hold goes; waited for up to a generous 60 s)
touch "$T/hold"
flock -o "$T/spool/lock" sh -c 'touch "$1/held"; while [ -e "$1/hold" ]; do sleep 0.05; done' sh "$T" &
locker=$!
i=0
while [ ! -e "$T/held" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
# (a second handle gets its own journal: drain works beside a live writer)
expect "spool drain, spool held by another process" 0 "spool drain: done" -- \
    "$BIN" -c "$T/spool-up.ini" spool drain
expect "spool status, spool held by another process" 0 "journal backlog: 0 event(s)" -- \
    "$BIN" -c "$T/spool-up.ini" spool status
rm -f "$T/hold"
wait "$locker" 2>/dev/null
locker=
expect "spool --help" 0 "usage: llmbill [-c FILE] spool status" -- "$BIN" spool --help
expect "spool bad verb" 2 "usage:" -- "$BIN" -c "$T/spool-up.ini" spool shrink
# status names the backlog of sinks this config lacks: in spool_dir's own
# journal (a sink removed from the config), and in a j-<id> journal kept for
# a sink its writer had (test_adopt: adoption keeps it for such a sink)
cat >"$T/spool-two.ini" <<EOF
[llmbill]
plugin_dir = $TPLUGINS
callbacks = t, gone
shutdown_timeout_ms = 200
retry_base_ms = 20
linger_ms = 5
spool_dir = spool2
[t]
plugin = testsink
[gone]
plugin = testsink
always = retry
EOF
sed 's/^callbacks = t, gone$/callbacks = t/; /^\[gone\]$/,$d' "$T/spool-two.ini" >"$T/spool-one.ini"
for n in 1 2; do
    "$BIN" -c "$T/spool-two.ini" send --customer a --model m --input-tokens 1 --output-tokens 1 \
        --timeout-ms 200 >"$T/log" 2>&1
done
expect "spool status: a removed sink's backlog in spool_dir's journal" 0 \
    "sink gone         2 event(s) in $T/spool2 not yet delivered: not in this config" -- \
    "$BIN" -c "$T/spool-one.ini" spool status
# (t's own count depends on how much it delivered before send gave up: not checked)
grep "sink t " "$T/log" | grep -q "event(s) in the journal not yet delivered$" \
    && ok "spool status: the configured sink as before" || { bad "spool status: the configured sink as before"; cat "$T/log"; }
mv "$T/spool2" "$T/spool-old" && mkdir "$T/spool2" && mv "$T/spool-old" "$T/spool2/j-old"
expect "spool status: a kept j-<id> journal's backlog for a sink not in this config" 0 \
    "sink gone         2 event(s) in $T/spool2/j-old not yet delivered: not in this config" -- \
    "$BIN" -c "$T/spool-one.ini" spool status
expect "spool status: a config with the sink" 0 "sink gone         2 event(s) in the journal not yet delivered" -- \
    "$BIN" -c "$T/spool-two.ini" spool status
grep -qF "not in this config" "$T/log" && { bad "spool status: a configured sink named as not in this config"; cat "$T/log"; } ||
    ok "spool status: a configured sink is not named as missing"

# a request-based sink: check and the close report show its HTTP figures
python3 "$(dirname "$0")/lago_server.py" --api-key k >"$T/lago.port" &
lago=$!
i=0
while ! grep -q PORT "$T/lago.port" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
cat >"$T/lago.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = lago
linger_ms = 5
[lago]
api_base = http://127.0.0.1:$(sed -n 's/PORT //p' "$T/lago.port")
api_key = k
event_code = c
EOF
expect "check: a request-based sink's HTTP line" 0 "1 request(s), 0 with no answer, in flight 0" -- \
    "$BIN" -c "$T/lago.ini" check
expect "check: its last status" 0 "last status 404" -- "$BIN" -c "$T/lago.ini" check
expect "send: the HTTP line of the close report" 0 "last status 200" -- "$BIN" -c "$T/lago.ini" \
    send --customer a --model m --input-tokens 1 --output-tokens 1
kill "$lago"
wait "$lago" 2>/dev/null
lago=
# the server gone: a request with no answer is no status and no answer time
expect "check: a connect failure, said as such" 1 "1 with no answer, in flight 0, 0 requests/s, answers p50 0.0 ms, p99 0.0 ms, last status connect failed" -- \
    "$BIN" -c "$T/lago.ini" check

if [ "$fails" -ne 0 ]; then
    echo "test_cli: $fails failed"
    exit 1
fi
echo "test_cli: ok"
