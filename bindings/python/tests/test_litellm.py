"""llmbill.litellm.Callback against payloads built from LiteLLM's documented
shapes (StandardLoggingPayload in litellm/types/utils.py, the usage objects
its providers report). LiteLLM itself is not installable here, so the hooks
are called as LiteLLM's logging calls them: (kwargs, response_obj,
start_time, end_time), kwargs["standard_logging_object"] holding the payload."""
import asyncio
import datetime
import decimal
import logging
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llmbill  # noqa: E402
import llmbill.litellm  # noqa: E402
from helpers import LedgerCase  # noqa: E402

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def payload(**over):
    """A StandardLoggingPayload as LiteLLM builds it for a chat completion."""
    p = {
        "id": "chatcmpl-AbC123",
        "trace_id": "trace-1",
        "call_type": "acompletion",
        "stream": False,
        "response_cost": 0.00325,
        "status": "success",
        "custom_llm_provider": "openai",
        "total_tokens": 1100,
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "startTime": T0,
        "endTime": T0 + 0.812,
        "completionStartTime": T0 + 0.3,
        "model": "gpt-4o",
        "model_id": "dep-1",
        "model_group": "gpt-4o",
        "api_base": "https://api.openai.com/v1",
        "metadata": {
            "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
            "user_api_key_alias": None,
            "user_api_key_team_id": "team-7",
            "user_api_key_user_id": "user-3",
            "user_api_key_org_id": None,
            "user_api_key_end_user_id": "cust-42",
            "usage_object": {
                "prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
                "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        },
        "cache_hit": None,
        "cache_key": None,
        "saved_cache_cost": 0.0,
        "request_tags": [],
        "end_user": "cust-42",
        "error_str": None,
        "hidden_params": {"model_id": "dep-1", "response_cost": 0.00325},
    }
    p.update(over)
    return p


def kwargs_for(p, call_id="5a4f-call-1"):
    return {"model": p.get("model"), "litellm_call_id": call_id, "standard_logging_object": p,
            "response_cost": p.get("response_cost")}


def when(t):
    return datetime.datetime.fromtimestamp(t)


class CallbackTest(LedgerCase):
    def setUp(self):
        super().setUp()
        self.cb = llmbill.litellm.Callback(ini_text=self.ini())
        self.addCleanup(self.cb.close)

    def events(self):
        self.cb.billing.flush(timeout=30)
        return {e["event_id"]: e for e in self.lines()}

    def test_openai_chat_cached_tokens(self):
        p = payload()
        self.cb.log_success_event(kwargs_for(p), None, when(T0), when(T0 + 0.812))
        e = self.events()["litellm-5a4f-call-1"]
        self.assertEqual(e["customer_id"], "cust-42")
        self.assertEqual(e["user_id"], "user-3")
        self.assertEqual(e["team_id"], "team-7")
        self.assertEqual(e["model"], "gpt-4o")
        self.assertEqual(e["provider"], "openai")
        self.assertEqual(e["call_type"], "acompletion")
        self.assertEqual(e["request_id"], "chatcmpl-AbC123")
        self.assertEqual((e["input_tokens"], e["cached_input_tokens"], e["output_tokens"]),
                         (1000, 200, 100))
        self.assertEqual(e["latency_ms"], 812)
        self.assertEqual(e["timestamp_ms"], int((T0 + 0.812) * 1000))
        # priced by llmbill: 800 x 2.5e-6 + 200 x 1.25e-6 + 100 x 1e-5
        self.assertEqual(e["cost_usd"], 0.00325)
        self.assertEqual(e["metadata"]["litellm_response_cost"], "0.00325")
        self.assertEqual(self.cb.recorded, 1)

    def test_anthropic_cache_writes_and_reasoning(self):
        usage = {  # LiteLLM's Usage for Anthropic: prompt_tokens counts cache reads and writes
            "prompt_tokens": 12100, "completion_tokens": 500, "total_tokens": 12600,
            "cache_read_input_tokens": 10000, "cache_creation_input_tokens": 2000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
            "prompt_tokens_details": {"cached_tokens": 10000},
            "completion_tokens_details": {"reasoning_tokens": 120},
        }
        p = payload(id="msg_01XYZ", model="claude-sonnet-4-20250514", custom_llm_provider="anthropic",
                    prompt_tokens=12100, completion_tokens=500,
                    metadata={"usage_object": usage, "user_api_key_team_id": "team-9"},
                    end_user=None)
        asyncio.run(self.cb.async_log_success_event(kwargs_for(p, "call-a"), None, None, None))
        e = self.events()["litellm-call-a"]
        self.assertNotIn("customer_id", e)
        self.assertEqual(e["team_id"], "team-9")
        self.assertEqual((e["input_tokens"], e["cached_input_tokens"],
                          e["cache_creation_input_tokens"], e["cache_creation_1h_input_tokens"]),
                         (12100, 10000, 2000, 500))
        self.assertEqual((e["output_tokens"], e["reasoning_tokens"]), (500, 120))
        self.assertIn("cost_usd", e)                     # priced from the table

    def test_web_searches_and_image_tokens(self):
        usage = {"prompt_tokens": 1000, "completion_tokens": 100,
                 "prompt_tokens_details": {"image_tokens": 300},
                 "server_tool_use": {"web_search_requests": 2}}
        p = payload(model="claude-sonnet-4-5", custom_llm_provider="anthropic",
                    prompt_tokens=1000, completion_tokens=100, metadata={"usage_object": usage})
        self.cb.log_success_event(kwargs_for(p, "search"), None, None, None)
        e = self.events()["litellm-search"]
        self.assertEqual((e["web_search_requests"], e["input_image_tokens"]), (2, 300))
        # 1000 x 3e-6 (images at the input rate) + 100 x 1.5e-5 + 2 searches x 0.01
        self.assertEqual(e["cost_usd"], 0.0245)

    def test_failure_is_recorded_unbilled(self):
        p = payload(status="failure", response_cost=0.0, prompt_tokens=0, completion_tokens=0,
                    error_str="RateLimitError", metadata={"user_api_key_user_id": "user-3"},
                    end_user=None)
        self.cb.log_failure_event(kwargs_for(p, "call-f"), None, None, None)
        asyncio.run(self.cb.async_log_failure_event(kwargs_for(p, "call-g"), None, None, None))
        ev = self.events()
        self.assertEqual(ev["litellm-call-f"]["status"], "failure")
        self.assertEqual(ev["litellm-call-f"]["cost_usd"], 0)
        self.assertEqual(ev["litellm-call-g"]["user_id"], "user-3")

    def test_cache_hit_costs_nothing(self):
        p = payload(cache_hit=True, response_cost=0.0, id="chatcmpl-AbC123_cache_hit1767225600")
        self.cb.log_success_event(kwargs_for(p, "call-c"), None, None, None)
        e = self.events()["litellm-call-c"]
        self.assertEqual(e["cost_usd"], 0)
        self.assertEqual(e["metadata"]["cache_hit"], "true")

    def test_logged_twice_billed_once(self):
        p = payload()
        self.cb.log_success_event(kwargs_for(p, "dup"), None, None, None)
        self.cb.log_success_event(kwargs_for(p, "dup"), None, None, None)
        self.cb.billing.flush(timeout=30)
        ids = [e["event_id"] for e in self.lines()]
        self.assertEqual(ids.count("litellm-dup"), 2)   # the ledger sees both ...
        # ... with one event id: a billing sink (Lago's transaction_id) keeps one

    def test_no_identity_is_dropped_and_said(self):
        p = payload(end_user=None, metadata={})
        with self.assertLogs("llmbill.litellm", logging.WARNING) as logs:
            self.cb.log_success_event(kwargs_for(p, "anon"), None, None, None)
            self.cb.log_success_event({"model": "x"}, None, None, None)   # no payload at all
        self.assertEqual(self.cb.dropped, 2)
        self.assertIn("names no end user", logs.output[0])
        self.assertEqual(self.events(), {})

    def test_refused_records_never_raise_into_litellm(self):
        p = payload(prompt_tokens=10, metadata={"usage_object": {"cache_read_input_tokens": 50}})
        with self.assertLogs("llmbill.litellm", logging.ERROR) as logs:
            self.cb.log_success_event(kwargs_for(p, "bad"), None, None, None)
        self.assertIn("must include cached_input_tokens", logs.output[0])
        self.assertEqual(self.cb.dropped, 1)


    def test_totals_that_are_not_counts_are_refused_not_billed_at_zero(self):
        with self.assertLogs("llmbill.litellm", logging.ERROR) as logs:
            for i, (prompt, completion) in enumerate((("12", 5), (10, -1), (10, 5.5), (True, 5))):
                p = payload(prompt_tokens=prompt, completion_tokens=completion,
                            metadata={"usage_object": {}})
                self.cb.log_success_event(kwargs_for(p, "tot-%d" % i), None, None, None)
        self.assertEqual(self.cb.dropped, 4)
        self.assertIn("not billed: input_tokens: expected", logs.output[0])
        self.assertIn("not billed: output_tokens: expected", logs.output[1])
        self.assertIn("not billed: output_tokens: expected", logs.output[2])
        self.assertIn("not billed: input_tokens: expected", logs.output[3])
        self.assertEqual(self.events(), {})
        p = payload(prompt_tokens=None, completion_tokens=None, metadata={"usage_object": {}})
        self.cb.log_success_event(kwargs_for(p, "absent"), None, None, None)  # absent: 0
        self.assertEqual(self.events()["litellm-absent"]["input_tokens"], 0)


class OptionsTest(LedgerCase):
    def test_default_customer_and_litellm_cost(self):
        with llmbill.Billing(ini_text=self.ini(pricing=False)) as b:
            cb = llmbill.litellm.Callback(billing=b, default_customer="house", cost="litellm")
            p = payload(end_user=None, metadata={}, response_cost=0.1)
            cb.log_success_event(kwargs_for(p, "opt"), None, None, None)
            cb.close()                                   # not its handle: stays open
            b.flush(timeout=30)
        e = self.lines()[0]
        self.assertEqual(e["customer_id"], "house")
        self.assertEqual(e["cost_usd"], 0.1)
        with self.assertRaises(ValueError):
            llmbill.litellm.Callback(billing=object(), cost="cheapest")

    def test_event_from_payload_shapes(self):
        ev = llmbill.litellm.event_from_payload
        # OpenAI's cached_tokens when cache_read_input_tokens is 0 or not a count
        for usage, want in (({"cache_read_input_tokens": 0,
                              "prompt_tokens_details": {"cached_tokens": 640}}, 640),
                            ({"cache_read_input_tokens": True,
                              "prompt_tokens_details": {"cached_tokens": 12}}, 12),
                            ({"cache_read_input_tokens": "80"}, 0),
                            ({"prompt_tokens_details": "REDACTED"}, 0),
                            ({}, 0)):
            rec = ev(payload(metadata={"usage_object": usage}))
            self.assertEqual(rec["cached_input_tokens"], want, usage)
        # hidden_params.usage_object when metadata has none
        rec = ev(payload(metadata={}, hidden_params={"usage_object": {
            "completion_tokens_details": {"reasoning_tokens": 7}}}))
        self.assertEqual(rec["reasoning_tokens"], 7)
        self.assertIsNone(ev(payload(end_user=None, metadata={})))
        self.assertEqual(decimal.Decimal(ev(payload(), cost="litellm")["cost_usd"]),
                         decimal.Decimal("0.00325"))


if __name__ == "__main__":
    unittest.main()
