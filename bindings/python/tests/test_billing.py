"""llmbill.Billing over the built libllmbill: records, exact Decimal costs,
errors with the library's reason, stats, threads, fork."""
import ctypes
import decimal
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llmbill  # noqa: E402
from llmbill import _lib  # noqa: E402
from helpers import LedgerCase  # noqa: E402


class RecordTest(LedgerCase):
    def test_record_returns_the_id_and_delivers(self):
        with llmbill.Billing(self.write_ini()) as b:
            eid = b.record(customer_id="acme", model="gpt-4o", provider="openai",
                           input_tokens=1000, cached_input_tokens=200, output_tokens=100,
                           metadata={"feature": "chat"})
            self.assertEqual(len(eid), 36)                       # a generated UUIDv7
            self.assertEqual(b.record(event_id="e-2", customer_id="acme", model="gpt-4o",
                                      cost_usd=decimal.Decimal("0.1234567890123")), "e-2")
            self.assertEqual(b.sinks(), ["ledger"])
            self.assertTrue(b.pricing()["enabled"])
            self.assertGreater(b.pricing()["models"], 1000)
            b.flush(timeout=30)
            st = b.stats()
            self.assertEqual(st["recorded"], 2)
            self.assertEqual(st["delivered"], 2)
            self.assertEqual(st["lost"], 0)                      # every counter of llmbill_stats
            self.assertEqual(st["quarantined"], 0)
            self.assertEqual(st["requests"], 0)                  # the jsonl sink sends none
            self.assertEqual(st["last_transport_error"], 0)
            self.assertEqual(ctypes.sizeof(_lib.Stats), 152)     # sizeof(struct llmbill_stats)
            self.assertEqual(b.stats("ledger")["pending"], 0)
        lines = {e["event_id"]: e for e in self.lines()}
        self.assertEqual(set(lines), {eid, "e-2"})
        # priced by llmbill, exactly: 800 x 2.5e-6 + 200 x 1.25e-6 + 100 x 1e-5
        self.assertEqual(lines[eid]["cost_usd"], 0.00325)
        self.assertEqual(lines[eid]["metadata"], {"feature": "chat"})
        self.assertEqual(lines["e-2"]["cost_usd"], 0.123456789012)   # rounded at 10^-12

    def test_decimal_costs_are_exact(self):
        with llmbill.Billing(self.write_ini(pricing=False)) as b:
            b.record(event_id="d1", customer_id="a", model="m", cost_usd=decimal.Decimal("0.1"))
            b.record(event_id="d2", customer_id="a", model="m", cost_usd="0.2")
            b.record(event_id="d3", customer_id="a", model="m", cost_usd=0.3)
        with open(self.ledger) as f:
            text = f.read()
        # the JSON text, not a float parse of it: exact decimals
        self.assertIn('"event_id":"d1"', text)
        self.assertIn('"cost_usd":0.1}', text)
        self.assertIn('"cost_usd":0.2}', text)
        self.assertIn('"cost_usd":0.3}', text)

    def test_errors_carry_the_reason(self):
        with llmbill.Billing(self.write_ini()) as b:
            with self.assertRaises(llmbill.InvalidRecord) as cm:
                b.record(customer_id="acme", input_tokens=1)
            self.assertIn("model: required", cm.exception.reason)
            self.assertEqual(cm.exception.code, -1)
            with self.assertRaises(llmbill.InvalidRecord) as cm:
                b.record(customer_id="a", model="m", input_tokens=1, cached_input_tokens=5)
            self.assertIn("must include cached_input_tokens", str(cm.exception))
            with self.assertRaises(llmbill.InvalidRecord) as cm:
                b.record(customer_id="a", model="m", cost_usd=decimal.Decimal("-1"))
            self.assertIn("non-negative", cm.exception.reason)
            with self.assertRaises(TypeError):
                b.record(customer_id="a", model="m", tokens=5)
            with self.assertRaises(TypeError):
                b.record(customer_id="a", model="m", input_tokens="5")
            self.assertEqual(b.stats()["rejected_invalid"], 3)
        self.assertEqual(self.lines(), [])

    def test_no_price_names_the_model(self):
        with llmbill.Billing(self.write_ini("unknown = error\n")) as b:
            with self.assertRaises(llmbill.NoPrice) as cm:
                b.record(customer_id="a", model="no-such-model-xyz", input_tokens=1)
            self.assertIn("no-such-model-xyz", cm.exception.reason)

    def test_config_errors(self):
        with self.assertRaises(llmbill.ConfigError) as cm:
            llmbill.Billing(ini_text=self.ini("[pricng]\nunknown = error\n"))
        self.assertIn("did you mean [pricing]?", cm.exception.reason)
        with self.assertRaises(llmbill.ConfigError) as cm:
            llmbill.Billing(os.path.join(self.dir, "missing.ini"))
        self.assertIn("missing.ini", cm.exception.reason)
        with self.assertRaises(TypeError):
            llmbill.Billing()

    def test_closed(self):
        b = llmbill.Billing(ini_text=self.ini())
        b.close()
        b.close()                                   # idempotent
        self.assertTrue(b.closed)
        with self.assertRaises(llmbill.ClosedError):
            b.record(customer_id="a", model="m")
        with self.assertRaises(llmbill.ClosedError):
            b.stats()

    def test_record_json(self):
        with llmbill.Billing(ini_text=self.ini()) as b:
            self.assertEqual(b.record_json('{"event_id":"j1","customer_id":"a","model":"m",'
                                           '"cost_usd":"0.5"}'), "j1")
            with self.assertRaises(llmbill.InvalidRecord) as cm:
                b.record_json('{"customer_id":')
            self.assertIn("truncated JSON", cm.exception.reason)
        self.assertEqual([e["event_id"] for e in self.lines()], ["j1"])


class ThreadsTest(LedgerCase):
    THREADS, EACH = 8, 2000

    def test_eight_threads_every_event_exactly_once(self):
        ids = [[] for _ in range(self.THREADS)]
        errors = []

        def work(t):
            try:
                for i in range(self.EACH):
                    eid = b.record(customer_id="c%d" % t, model="gpt-4o", input_tokens=10 + i,
                                   output_tokens=1)
                    ids[t].append(eid)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        b = llmbill.Billing(ini_text=self.ini("", pricing=False).replace(
            "linger_ms = 5", "linger_ms = 5\nqueue_max = 65536"))
        threads = [threading.Thread(target=work, args=(t,)) for t in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        b.close()
        self.assertEqual(errors, [])
        sent = [i for per in ids for i in per]
        self.assertEqual(len(sent), self.THREADS * self.EACH)
        self.assertEqual(len(set(sent)), len(sent))              # ids unique
        got = [e["event_id"] for e in self.lines()]
        self.assertEqual(len(got), len(sent))                    # none twice
        self.assertEqual(set(got), set(sent))                    # none lost


@unittest.skipUnless(hasattr(os, "fork"), "needs fork()")
class ForkTest(LedgerCase):
    def test_a_forked_child_is_refused(self):
        b = llmbill.Billing(ini_text=self.ini())
        self.addCleanup(b.close)
        b.record(event_id="parent-1", customer_id="a", model="m")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: every call refuses, nothing is recorded
            code = 1
            try:
                b.record(event_id="child-1", customer_id="a", model="m")
            except llmbill.ForkedError as e:
                code = 0 if "before fork()" in e.reason else 2
            except BaseException:  # noqa: BLE001
                code = 3
            try:
                b.close()               # forgets the handle, releases nothing
            except BaseException:  # noqa: BLE001
                code = 4
            os.write(w, bytes([code]))
            os._exit(0)
        os.close(w)
        code = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        self.assertEqual(code, b"\x00")
        b.record(event_id="parent-2", customer_id="a", model="m")   # the parent goes on
        b.close()
        self.assertEqual(sorted(e["event_id"] for e in self.lines()), ["parent-1", "parent-2"])


if __name__ == "__main__":
    unittest.main()
