#!/bin/sh
# Sets everything up, then runs llmbill on the shipped llmbill.ini (no server
# needed): checks the config, sends a few usage events, shows the ledger.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export LLMBILL_PLUGIN_PATH="$PWD/build/plugins"
LB=build/llmbill
echo "== llmbill check"
$LB -c llmbill.ini check
echo
echo "== llmbill send (three LLM calls)"
$LB -c llmbill.ini send --customer acme --provider openai --model gpt-4o \
    --input-tokens 2000 --cached-input-tokens 1500 --output-tokens 300
$LB -c llmbill.ini send --customer acme --provider anthropic --model claude-sonnet-4-5 \
    --input-tokens 12000 --cached-input-tokens 10000 --cache-creation-input-tokens 1000 \
    --output-tokens 800 --meta feature=summarise
$LB -c llmbill.ini send --customer globex --provider openai --model o3 \
    --input-tokens 500 --output-tokens 4000 --reasoning-tokens 3500 --failure
echo
echo "== llmbill price (the breakdown of the second call)"
$LB price --prices data/model_prices.json --model claude-sonnet-4-5 --input-tokens 12000 \
    --cached-input-tokens 10000 --cache-creation-input-tokens 1000 --output-tokens 800
echo
echo "== the ledger (var/usage.jsonl), last 3 lines"
tail -n 3 var/usage.jsonl
