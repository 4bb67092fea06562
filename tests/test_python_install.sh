#!/bin/sh
# `pip install bindings/python` works offline (no index: the package builds
# with an in-tree backend of the standard library alone), and the installed
# package records through the built libllmbill, LiteLLM callback included.
# usage: test_python_install.sh SOURCE_DIR LIBLLMBILL PLUGIN_DIR
set -eu
SRC=$1 LIB=$2 PLUGINS=$3
python3 -m pip --version >/dev/null 2>&1 || { echo "test_python_install: no pip here: skipped"; exit 77; }
T=$(mktemp -d /tmp/llmbill-pip-XXXXXX)
trap 'rm -rf "$T"' EXIT
cp -r "$SRC/bindings/python" "$T/src"   # pip may write build files beside the source
PIP_CONFIG_FILE=/dev/null python3 -m pip install --no-index --disable-pip-version-check --quiet \
    --target "$T/site" "$T/src" >"$T/pip.log" 2>&1 || { cat "$T/pip.log"; exit 1; }
test -f "$T/site/llmbill/litellm.py"
ls "$T/site" | grep -q '^llmbill-0.1.0.dist-info$'
cat >"$T/llmbill.ini" <<EOF
[llmbill]
plugin_dir = $PLUGINS
callbacks = jsonl
linger_ms = 5
[jsonl]
path = $T/ledger.jsonl
EOF
cd "$T"
env PYTHONPATH="$T/site" LLMBILL_LIBRARY="$LIB" python3 - <<'EOF'
import decimal, llmbill, llmbill.litellm
assert llmbill.__file__.startswith(__import__("os").getcwd() + "/site/"), llmbill.__file__
with llmbill.Billing("llmbill.ini") as b:
    assert b.record(event_id="pip-1", customer_id="acme", model="gpt-4o",
                    cost_usd=decimal.Decimal("0.25")) == "pip-1"
    cb = llmbill.litellm.Callback(billing=b)
    cb.log_success_event({"litellm_call_id": "c1", "standard_logging_object": {
        "id": "r1", "model": "gpt-4o", "end_user": "acme", "prompt_tokens": 3,
        "completion_tokens": 1, "status": "success"}}, None, None, None)
    assert cb.recorded == 1
EOF
grep -q '"event_id":"pip-1".*"cost_usd":0.25' ledger.jsonl
grep -q '"event_id":"litellm-c1"' ledger.jsonl
echo "test_python_install: ok"
