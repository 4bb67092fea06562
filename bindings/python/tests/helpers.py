"""Shared by the tests: a temporary directory, a config with a jsonl ledger
loaded through the real plugin path, and reading the ledger back. The
library comes from $LLMBILL_LIBRARY, the plugins from
$LLMBILL_TEST_PLUGIN_DIR, the price table from $LLMBILL_TEST_PRICES (ctest
sets them to the build's)."""
import json
import os
import shutil
import tempfile
import unittest

PLUGIN_DIR = os.environ.get("LLMBILL_TEST_PLUGIN_DIR", "")
PRICES = os.environ.get("LLMBILL_TEST_PRICES", "")


class LedgerCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llmbill-py-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.ledger = os.path.join(self.dir, "ledger.jsonl")

    def ini(self, extra="", pricing=True):
        text = ("[llmbill]\nplugin_dir = %s\ncallbacks = ledger\nlinger_ms = 5\n"
                "dead_letter_dir = %s\n[ledger]\nplugin = jsonl\npath = %s\n"
                % (PLUGIN_DIR, self.dir, self.ledger))
        if pricing:
            text += "[pricing]\nfile = %s\n" % PRICES
        return text + extra

    def write_ini(self, extra="", pricing=True):
        path = os.path.join(self.dir, "llmbill.ini")
        with open(path, "w") as f:
            f.write(self.ini(extra, pricing))
        return path

    def lines(self):
        if not os.path.exists(self.ledger):
            return []
        with open(self.ledger) as f:
            return [json.loads(line) for line in f if line.strip()]
