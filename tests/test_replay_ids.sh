#!/bin/sh
# replay --from (issue 11 §4): the event id is derived from the response, so
# replaying the same responses twice gives the same ids (billed once by a
# sink that keeps ids, as Lago does), even when the response id is too long
# for an event id, holds bytes an event id may not, or is missing (bodies
# and streams).
# usage: test_replay_ids.sh LLMBILL_BIN PLUGIN_DIR
set -u
BIN=$1 PLUGINS=$2
T=$(mktemp -d /tmp/llmbill-replayid-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }

cat >"$T/r.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = jsonl
linger_ms = 5
[jsonl]
path = ledger.jsonl
EOF
long=$(printf 'x%.0s' $(seq 1 300))
body() { printf '{"id":%s,"object":"chat.completion","created":1700000000,"model":"gpt-4o","user":"%s","usage":{"prompt_tokens":3,"completion_tokens":4}}\n' "$1" "$2"; }
{
    body '"chatcmpl-short"' a
    body "\"chatcmpl-$long\"" b
    body "\"chatcmpl-${long}y\"" c
    body '"has space"' d
    printf '{"object":"chat.completion","model":"gpt-4o","user":"e","usage":{"prompt_tokens":3,"completion_tokens":4}}\n'
} >"$T/resp.jsonl"
for run in 1 2; do
    if ! "$BIN" -c "$T/r.ini" replay --from openai "$T/resp.jsonl" >"$T/out$run" 2>&1; then
        bad "replay run $run"; cat "$T/out$run"
    fi
done
ids=$(sed 's/.*"event_id":"\([^"]*\)".*/\1/' "$T/ledger.jsonl")
n=$(printf '%s\n' "$ids" | wc -l)
distinct=$(printf '%s\n' "$ids" | sort -u | wc -l)
if [ "$n" -eq 10 ] && [ "$distinct" -eq 5 ]; then
    ok "two replays of 5 responses: 10 events, 5 distinct ids"
else
    bad "two replays of 5 responses: $n events, $distinct distinct ids (want 10 and 5)"; printf '%s\n' "$ids"
fi
printf '%s\n' "$ids" | grep -qx 'openai-chatcmpl-short' && ok "a short id is kept" || bad "a short id is kept"
uuids=$(printf '%s\n' "$ids" | sort -u |
        grep -cE '^openai-[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
[ "$uuids" -eq 4 ] && ok "the other four are UUID-shaped hashes" || { bad "UUID-shaped ids: $uuids"; printf '%s\n' "$ids"; }

# a stream whose chunks carry no id: its id comes from the stream's bytes
printf 'data: {"object":"chat.completion.chunk","model":"gpt-4o","choices":[]}\n\ndata: {"object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\ndata: [DONE]\n\n' >"$T/s.sse"
: >"$T/ledger.jsonl"
for run in 1 2; do
    if ! "$BIN" -c "$T/r.ini" replay --from openai --customer acme "$T/s.sse" >"$T/sout$run" 2>&1; then
        bad "stream replay run $run"; cat "$T/sout$run"
    fi
done
sids=$(sed 's/.*"event_id":"\([^"]*\)".*/\1/' "$T/ledger.jsonl")
if [ "$(printf '%s\n' "$sids" | wc -l)" -eq 2 ] && [ "$(printf '%s\n' "$sids" | sort -u | wc -l)" -eq 1 ] &&
   printf '%s\n' "$sids" | grep -qE '^openai-[0-9a-f]{8}-[0-9a-f]{4}-8'; then
    ok "a stream without ids replayed twice: one UUID-shaped id"
else
    bad "a stream without ids replayed twice"; printf '%s\n' "$sids"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "test_replay_ids: ok"
