"""LiteLLM's users in one line:

    import litellm, llmbill.litellm
    litellm.callbacks = [llmbill.litellm.Callback("llmbill.ini")]

Callback implements LiteLLM's CustomLogger interface (log_success_event,
log_failure_event and their async twins). Each call's StandardLoggingPayload
(kwargs["standard_logging_object"]) becomes one llmbill event, so the event
gets llmbill's journal, retries, sinks and exact pricing instead of LiteLLM's
own Lago logger:

  event_id        "litellm-" + kwargs["litellm_call_id"] (else the payload id):
                  LiteLLM logging a call twice bills it once
  customer_id     payload end_user (the request's `user`, or the proxy's
                  end-user id), else default_customer
  user_id/team_id metadata user_api_key_user_id / user_api_key_team_id
  model/provider  payload model / custom_llm_provider
  call_type       payload call_type; request_id: the payload id
  tokens          prompt_tokens, completion_tokens; from metadata.usage_object
                  (or hidden_params.usage_object): cache reads
                  (cache_read_input_tokens, else prompt_tokens_details.cached_tokens),
                  cache writes (cache_creation_input_tokens, 1-hour ones from
                  cache_creation.ephemeral_1h_input_tokens), reasoning
                  (completion_tokens_details.reasoning_tokens), audio
  status/latency  payload status; endTime - startTime
  cost            priced by llmbill's [pricing] (exact); cost="litellm" takes
                  LiteLLM's response_cost instead. A cache hit costs 0.
                  LiteLLM's response_cost always travels as metadata
                  litellm_response_cost, for reconciliation.

A call with no billable identity (no end user, user, team or
default_customer), or one llmbill refuses, is not billed: it is logged on
the "llmbill.litellm" logger and counted in Callback.dropped, never raised
into LiteLLM's request path. LiteLLM itself is not needed to import this
module (it is not installable where llmbill is tested); when it is
installed, Callback subclasses its CustomLogger.
"""
import decimal
import logging
import threading

from . import Billing, LlmbillError

try:  # pragma: no cover - only where LiteLLM is installed
    from litellm.integrations.custom_logger import CustomLogger as _Base
except Exception:  # noqa: BLE001 - any import failure means "no LiteLLM"
    _Base = object

log = logging.getLogger("llmbill.litellm")


def _count(v):
    """A token count: a non-negative int (bool, str, float and None are not)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return 0
    return v


def _total(v):
    """prompt_tokens or completion_tokens: absent is 0; a value that is not a
    count goes to llmbill as text, which refuses the record naming the field
    (logged and counted in dropped), never billed as 0 tokens."""
    if v is None:
        return 0
    return v if _count(v) == v and not isinstance(v, bool) else str(v)


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _usage_object(p):
    u = _get(p, "metadata", "usage_object") or _get(p, "hidden_params", "usage_object")
    return u if isinstance(u, dict) else {}


def event_from_payload(p, kwargs=None, default_customer=None, cost="llmbill"):
    """The llmbill record (keyword arguments for Billing.record) for one
    StandardLoggingPayload, or None when it names no one to bill."""
    kwargs = kwargs or {}
    meta = p.get("metadata") if isinstance(p.get("metadata"), dict) else {}
    usage = _usage_object(p)
    rec = {
        "customer_id": p.get("end_user") or default_customer,
        "user_id": meta.get("user_api_key_user_id"),
        "team_id": meta.get("user_api_key_team_id") or meta.get("team_id"),
        "model": p.get("model") or kwargs.get("model"),
        "provider": p.get("custom_llm_provider"),
        "call_type": p.get("call_type"),
        "request_id": p.get("id"),
        "status": "failure" if p.get("status") == "failure" else "success",
    }
    if not (rec["customer_id"] or rec["user_id"] or rec["team_id"]):
        return None
    call_id = kwargs.get("litellm_call_id") or p.get("id")
    if call_id:
        rec["event_id"] = "litellm-%s" % call_id
    rec["input_tokens"] = _total(p.get("prompt_tokens"))
    rec["output_tokens"] = _total(p.get("completion_tokens"))
    cached = _count(usage.get("cache_read_input_tokens")) or \
        _count(_get(usage, "prompt_tokens_details", "cached_tokens"))
    writes = _count(usage.get("cache_creation_input_tokens")) or \
        _count(_get(usage, "prompt_tokens_details", "cache_creation_tokens"))
    writes_1h = _count(_get(usage, "cache_creation", "ephemeral_1h_input_tokens")) or \
        _count(_get(usage, "prompt_tokens_details", "cache_creation_token_details",
                    "ephemeral_1h_input_tokens"))
    rec["cached_input_tokens"] = cached
    rec["cache_creation_input_tokens"] = writes
    rec["cache_creation_1h_input_tokens"] = writes_1h
    rec["reasoning_tokens"] = _count(_get(usage, "completion_tokens_details", "reasoning_tokens"))
    rec["input_audio_tokens"] = _count(_get(usage, "prompt_tokens_details", "audio_tokens"))
    rec["output_audio_tokens"] = _count(_get(usage, "completion_tokens_details", "audio_tokens"))
    rec["input_image_tokens"] = _count(_get(usage, "prompt_tokens_details", "image_tokens"))
    rec["output_image_tokens"] = _count(_get(usage, "completion_tokens_details", "image_tokens"))
    # server-side web searches (LiteLLM's Usage.server_tool_use), billed per request
    rec["web_search_requests"] = _count(_get(usage, "server_tool_use", "web_search_requests"))
    start, end = p.get("startTime"), p.get("endTime")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start > 0:
        rec["latency_ms"] = int(round((end - start) * 1000))
        rec["timestamp_ms"] = int(round(end * 1000))
    rc = p.get("response_cost")
    md = {"source": "litellm"}
    if isinstance(rc, (int, float)) and not isinstance(rc, bool):
        md["litellm_response_cost"] = repr(rc)
    for key in ("model_group", "trace_id"):
        if isinstance(p.get(key), str) and p.get(key):
            md["litellm_" + key] = p[key][:4096]
    if p.get("cache_hit") is True:
        md["cache_hit"] = "true"
        rec["cost_usd"] = decimal.Decimal(0)     # LiteLLM bills a cache hit at 0
    elif rec["status"] == "failure":
        rec["cost_usd"] = decimal.Decimal(0)     # a failed call is not billed
    elif cost == "litellm" and "litellm_response_cost" in md:
        rec["cost_usd"] = decimal.Decimal(md["litellm_response_cost"])
    rec["metadata"] = md
    return {k: v for k, v in rec.items() if v is not None}


class Callback(_Base):
    """A LiteLLM CustomLogger that records every call's usage with llmbill.

    Callback("llmbill.ini") opens its own Billing handle; Callback(billing=b)
    shares one. default_customer bills calls that name no one; cost="litellm"
    trusts LiteLLM's response_cost instead of llmbill's pricing. The hooks
    never raise and never wait for a sink."""

    def __init__(self, config=None, *, billing=None, default_customer=None, cost="llmbill",
                 **billing_kwargs):
        if cost not in ("llmbill", "litellm"):
            raise ValueError("cost: expected 'llmbill' or 'litellm'")
        if _Base is not object:  # pragma: no cover
            super().__init__()
        self._own = billing is None
        self.billing = billing if billing is not None else Billing(config, **billing_kwargs)
        self.default_customer = default_customer
        self.cost = cost
        self.recorded = 0
        self.dropped = 0
        self._count_lock = threading.Lock()

    def _counted(self, ok):
        with self._count_lock:
            if ok:
                self.recorded += 1
            else:
                self.dropped += 1

    def _record(self, kwargs):
        p = (kwargs or {}).get("standard_logging_object")
        if not isinstance(p, dict):
            self._counted(False)
            log.warning("llmbill: a LiteLLM call without a standard_logging_object was not billed")
            return None
        rec = event_from_payload(p, kwargs, self.default_customer, self.cost)
        if rec is None:
            self._counted(False)
            log.warning("llmbill: LiteLLM call %s names no end user, user or team: not billed "
                        "(set default_customer)", p.get("id"))
            return None
        try:
            event_id = self.billing.record(**rec)
        except LlmbillError as e:
            self._counted(False)
            log.error("llmbill: LiteLLM call %s not billed: %s", p.get("id"), e.reason)
            return None
        except (TypeError, ValueError) as e:     # refused by record()'s own checks
            self._counted(False)
            log.error("llmbill: LiteLLM call %s not billed: %s", p.get("id"), e)
            return None
        self._counted(True)
        return event_id

    # LiteLLM's CustomLogger hooks (sync calls, then async calls and the proxy)
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs)      # never waits: llmbill's record only queues

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs)

    def close(self):
        """Closes the Billing handle this callback opened (delivering what is queued)."""
        if self._own:
            self.billing.close()
