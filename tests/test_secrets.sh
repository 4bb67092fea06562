#!/bin/sh
# Secrets never leave (issue 11 §1): an API key, and a password in api_base's
# userinfo, sent through every channel llmbill writes to (check output, open
# errors, log lines, the "last error" stats line, dead-letter reasons, a body
# excerpt that cuts the key short) by a Lago test server that echoes the
# request's headers; then every byte llmbill wrote (each file it made, its
# stdout and stderr) is searched for the secrets and their pieces.
# usage: test_secrets.sh LLMBILL_BIN PLUGIN_DIR LAGO_SERVER_PY
set -u
BIN=$1 PLUGINS=$2 SERVER=$3
T=$(mktemp -d /tmp/llmbill-secrets-XXXXXX)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
fails=0
ok() { printf 'ok   %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; fails=$((fails + 1)); }

KEY=sk_live_Zq7XvT93pLm2Rk8wQe4
PASS=hunter2Pw9xVb
LUSER=lbuser
B64=$(printf '%s' "$LUSER:$PASS" | base64)
mkdir -p "$T/conf" "$T/work" "$T/out"

python3 "$SERVER" --api-key "$KEY" >"$T/conf/server.out" 2>&1 &
SPID=$!
i=0
while ! grep -q '^PORT ' "$T/conf/server.out" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt 300 ] && { echo "the test Lago server did not start"; cat "$T/conf/server.out"; exit 1; }
    sleep 0.1
done
PORT=$(sed -n 's/^PORT //p' "$T/conf/server.out")
ctl() {
    python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"), timeout=30)' \
        "http://127.0.0.1:$PORT/_control" "$1"
}

ini() {   # ini FILE API_BASE
    cat >"$1" <<EOI
[llmbill]
plugin_dir = $PLUGINS
callbacks = lago
linger_ms = 5
log_level = debug
retry_base_ms = 20
retry_max_ms = 50
shutdown_timeout_ms = 300
dead_letter_dir = $T/work/dl
[lago]
api_base = $2
api_key = $KEY
event_code = llm_usage
charge_by = customer_id
EOI
}
ini "$T/conf/ok.ini" "http://$LUSER:$PASS@127.0.0.1:$PORT"
ini "$T/conf/badbase.ini" "ftp://$LUSER:$PASS@127.0.0.1:$PORT"

# run NAME WANT_EXIT WANT_TEXT -- command: stdout and stderr kept in $T/out
run() {
    name=$1 want=$2 text=$3
    shift 4
    (cd "$T/work" && "$@") >"$T/out/$name.out" 2>"$T/out/$name.err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        bad "$name (exit $got, want $want)"; cat "$T/out/$name.out" "$T/out/$name.err"; return
    fi
    if ! cat "$T/out/$name.out" "$T/out/$name.err" | grep -qF -- "$text"; then
        bad "$name (output lacks: $text)"; cat "$T/out/$name.out" "$T/out/$name.err"; return
    fi
    ok "$name"
}
send() {
    run "$1" "$2" "$3" -- "$BIN" -c "$T/conf/ok.ini" send --customer acme --model gpt-4o \
        --provider openai --input-tokens 10 --output-tokens 5 --event-id "$1" --timeout-ms 2000
}

# check: the URL with its userinfo, and a 400 body holding the key
ctl '{"echo_headers": 1, "echo_key_at": 0, "echo_status": 400}'
run check 1 "answered 400" -- "$BIN" -c "$T/conf/ok.ini" check
# a 400 that echoes the key: dead-lettered with Lago's answer as the reason
ctl '{"echo_headers": 1}'
send dead400 4 "dead-lettered 1"
# the same, the body excerpt now cutting the key short
ctl '{"echo_headers": 1, "echo_key_at": 185}'
send cut400 4 "dead-lettered 1"
# a 503 that echoes the key: retried, "last error" in the stats line, the
# log lines, then dead-lettered at close with the last error in the reason
ctl '{"echo_headers": 1000, "echo_key_at": 0, "echo_status": 503}'
send retry503 4 "last error: Lago answered 503"
ctl '{"echo_headers": 0}'
# an open error quoting api_base
run badbase 1 "is not an http:// or https:// URL" -- "$BIN" -c "$T/conf/badbase.ini" check

if grep -qF "answered 400" "$T/work/dl/lago.deadletter.jsonl" 2>/dev/null &&
   grep -qF "answered 503" "$T/work/dl/lago.deadletter.jsonl"; then
    ok "the reasons reached the dead-letter file"
else
    bad "the reasons reached the dead-letter file"; cat "$T/work/dl/lago.deadletter.jsonl"
fi
if cat "$T/out/check.out" "$T/work/dl/lago.deadletter.jsonl" | grep -qF '[REDACTED]'; then
    ok "the secrets were there to redact"
else
    bad "the secrets were there to redact"
fi

# every byte llmbill wrote: no secret, no piece of one (4 bytes or more at a
# cut), no userinfo in its base64 form
KEY4=$(printf '%s' "$KEY" | cut -c1-4) PASS4=$(printf '%s' "$PASS" | cut -c1-4)
leaks=0
for f in $(find "$T/work" "$T/out" -type f); do
    for s in "$KEY" "$PASS" "$B64" "$KEY4" "$PASS4"; do
        if grep -qF -- "$s" "$f"; then
            bad "$f holds '$s'"; grep -F -- "$s" "$f" | head -n 3; leaks=$((leaks + 1))
        fi
    done
done
[ "$leaks" -eq 0 ] && ok "no secret in $(find "$T/work" "$T/out" -type f | wc -l) files llmbill wrote"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "test_secrets: ok"
