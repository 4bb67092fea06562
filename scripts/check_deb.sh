#!/bin/sh
# The Debian package, end to end: cpack -G DEB from a built tree, its
# metadata (name, dependencies) and file list, then the package unpacked
# under a temporary root (not installed: no root needed, nothing on the
# system changes) and its llmbill run from there: it must find its plugins
# and price table relative to its library, as an install moved elsewhere
# does. Run by .ci/run; ~25 s (dpkg-shlibdeps).
# usage: scripts/check_deb.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "check_deb: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/pkg/*.deb)
dpkg-deb -I "$deb" >"$work/info"
grep -q '^ Package: llmbill$' "$work/info" || fail "package name"
for dep in libcurl4 libinih1 libc6; do
    grep '^ Depends:' "$work/info" | grep -q "$dep" || fail "Depends lacks $dep: $(grep Depends "$work/info")"
done
dpkg-deb -c "$deb" | awk '{print $6}' >"$work/files"
for f in usr/bin/llmbill usr/lib/libllmbill.so.0 usr/lib/llmbill/plugins/lago.so \
         usr/lib/llmbill/plugins/jsonl.so usr/lib/llmbill/plugins/stdout.so \
         usr/share/llmbill/model_prices.json usr/include/llmbill/llmbill.h \
         usr/include/llmbill/sink.h usr/lib/pkgconfig/llmbill.pc usr/share/man/man1/llmbill.1 \
         usr/share/man/man5/llmbill.ini.5 usr/share/man/man3/llmbill_record.3; do
    grep -qx "./$f" "$work/files" || fail "$f is not in the package"
done
dpkg-deb -x "$deb" "$work/root"
cat >"$work/llmbill.ini" <<INI
[llmbill]
callbacks = ledger
[ledger]
plugin = jsonl
path = $work/usage.jsonl
[pricing]
INI
run() { env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$work/root/usr/lib" "$work/root/usr/bin/llmbill" "$@"; }
run -c "$work/llmbill.ini" check >"$work/check.out" 2>&1 || { cat "$work/check.out"; fail "llmbill check failed"; }
grep -q "$work/root/usr/share/llmbill/model_prices.json" "$work/check.out" ||
    { cat "$work/check.out"; fail "the price table was not found next to the unpacked library"; }
run -c "$work/llmbill.ini" send --customer acme --model gpt-4o --input-tokens 1000 --output-tokens 100 \
    >"$work/send.out" 2>&1 || { cat "$work/send.out"; fail "llmbill send failed"; }
grep -q '"customer_id":"acme"' "$work/usage.jsonl" || fail "the event is not in the ledger"
grep -q '"cost_usd":0.0035' "$work/usage.jsonl" || { cat "$work/usage.jsonl"; fail "not priced from the packaged table"; }
echo "check_deb: $(basename "$deb"): $(wc -l <"$work/files") entries, depends and files right, runs unpacked"
