#!/usr/bin/env python3
"""Every config key and CLI flag has exactly one reference place.

- Every key the code accepts ([llmbill], sink sections and [pricing] in
  core/config/open.c; each shipped plugin's option table in plugins/*/)
  has a row in a "| key |" table of docs/configuration.md (a plugin's
  options under its "### `NAME`" heading), and no other docs page has a
  "| key |" table row for it.
- Every flag the CLI accepts (the getopt tables in core/cli/*.c, and
  main.c's) has a row in a "| flag |" table of docs/cli.md, and no other
  page has a "| flag |" table.
- The man pages render with man -l (no warnings), point to those pages,
  and llmbill(1) names every command.
usage: test_docs.py SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
failures = []


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def c_list(text, name):
    m = re.search(r"static const char \*const %s\[\] = \{(.*?)\};" % name, text, re.S)
    if not m:
        failures.append("core/config/open.c: no list %s[] (the test reads the keys from it)" % name)
        return []
    return re.findall(r'"([a-z0-9_]+)"', m.group(1))


def tables(md, header):
    """{first-cell code names: heading} of every table whose header's first cell is header."""
    rows, heading, in_table = {}, "", False
    for line in md.splitlines():
        if line.startswith("#"):
            heading = line.strip("# ").strip()
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:
            in_table = cells[0] == header
            continue
        if set(cells[0]) <= set("-: "):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            rows.setdefault(name.split()[0], []).append(heading)
    return rows


docs = {f: read("docs/" + f) for f in sorted(os.listdir(os.path.join(SRC, "docs"))) if f.endswith(".md")}

# ---- config keys
open_c = read("core/config/open.c")
want = {}
for key in c_list(open_c, "main_keys"):
    want.setdefault(key, set()).add("`[llmbill]`")
for key in c_list(open_c, "common_keys"):
    want.setdefault(key, set()).add("Sink instance sections `[NAME]`")
m = re.search(r"pricing_keys\[\] = \{(.*?)\}", open_c)
for key in re.findall(r'"([a-z0-9_]+)"', m.group(1) if m else ""):
    want.setdefault(key, set()).add("`[pricing]` and `[price.MODEL]`")
if not m:
    failures.append("core/config/open.c: no pricing_keys[]")
plugins = 0
for plugin in sorted(os.listdir(os.path.join(SRC, "plugins"))):
    pdir = os.path.join(SRC, "plugins", plugin)
    if not os.path.isdir(pdir):
        continue
    for f in sorted(os.listdir(pdir)):
        if f.endswith(".c"):
            for key in re.findall(r'\{\s*"([a-z0-9_]+)",\s*LLMBILL_OPT_', read("plugins/%s/%s" % (plugin, f))):
                want.setdefault(key, set()).add("`%s`" % plugin)
                plugins += 1
if plugins == 0 or len(want) < 30:
    failures.append("found only %d keys (%d plugin options): the extraction broke" % (len(want), plugins))

ref = tables(docs["configuration.md"], "key")
for key, headings in sorted(want.items()):
    for h in sorted(headings):
        if h not in ref.get(key, []):
            failures.append("docs/configuration.md: key %s (%s) has no row under '%s'" % (key, h, h))
for page, md in docs.items():
    if page == "configuration.md":
        continue
    for key in tables(md, "key"):
        failures.append("docs/%s: a key table row for %s (the reference is configuration.md)" % (page, key))

# ---- CLI flags
flags = set()
for f in sorted(os.listdir(os.path.join(SRC, "core/cli"))):
    if f.endswith(".c"):
        text = read("core/cli/" + f)
        flags.update("--" + x for x in re.findall(r'\{\s*"([a-z0-9-]+)",\s*(?:required|no|optional)_argument', text))
        flags.update(re.findall(r'strcmp\(argv\[i\], "(--[a-z-]+)"\)', text))
if len(flags) < 30:
    failures.append("found only %d CLI flags: the extraction broke" % len(flags))
cli = tables(docs["cli.md"], "flag")
for flag in sorted(flags):
    if flag not in cli:
        failures.append("docs/cli.md: flag %s has no row" % flag)
for page, md in docs.items():
    if page != "cli.md" and tables(md, "flag"):
        failures.append("docs/%s: a flag table (the reference is cli.md)" % page)

# ---- man pages
commands = ["check", "send", "replay", "price", "spool"]
for page, must in (("llmbill.1", ["cli.md"] + commands), ("llmbill.ini.5", ["configuration.md"]),
                   ("llmbill_record.3", ["llmbill_record_json", "llmbill_last_error"])):
    path = os.path.join(SRC, "docs/man", page)
    if not os.path.exists(path):
        failures.append("docs/man/%s: missing" % page)
        continue
    text = read("docs/man/" + page)
    for word in must:
        if word not in text:
            failures.append("docs/man/%s: does not mention %s" % (page, word))
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANROFFSEQ="")
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, env=env)
        if r.returncode != 0 or r.stderr.strip() or len(r.stdout) < 400:
            failures.append("man -l docs/man/%s: rc %d, %s" % (page, r.returncode, r.stderr.strip()[:300]))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("test_docs: ok, %d keys, %d flags, 3 man pages" % (len(want), len(flags)))
