"""llmbill for Python: record LLM usage for billing through libllmbill.

    import llmbill
    with llmbill.Billing("llmbill.ini") as billing:
        event_id = billing.record(customer_id="acme", model="gpt-4o",
                                  input_tokens=1200, output_tokens=300)

Each record goes to libllmbill's llmbill_record_json() in one call: the same
validation, journal, retries and exact pricing as from C, and it never waits
for a sink. Costs are decimal.Decimal (or a str holding a decimal), exact to
10^-12; a float is taken by its shortest repr. Errors raise LlmbillError
subclasses carrying the library's reason. A Billing object may be shared by
any number of threads; it belongs to the process that opened it (a forked
child gets ForkedError and opens its own).
"""
import ctypes
import datetime
import decimal
import json
import os
import threading

from . import _lib

__all__ = ["Billing", "LlmbillError", "ConfigError", "InvalidRecord", "QueueFull", "NoPrice",
           "ClosedError", "ForkedError", "SpoolError", "TimeoutError", "library_version"]


class LlmbillError(Exception):
    """A libllmbill call failed. code is the LLMBILL_E* value, reason the
    library's explanation (redacted: never a secret)."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConfigError(LlmbillError):
    """The config did not load (file, line, key and what was expected)."""


class InvalidRecord(LlmbillError, ValueError):
    """The record was refused: the reason names the field. Nothing was recorded."""


class QueueFull(LlmbillError):
    """The bounded queue or journal is full: the record was NOT accepted."""


class NoPrice(LlmbillError):
    """No price for the model, with [pricing] unknown = error."""


class ClosedError(LlmbillError):
    """The handle is closed or closing."""


class ForkedError(LlmbillError):
    """The handle was opened by another process (this one is a fork() child)."""


class SpoolError(LlmbillError):
    """The journal could not be written: the record was NOT accepted."""


class TimeoutError(LlmbillError):  # noqa: A001 (llmbill's own, a subclass of LlmbillError)
    """flush() or close() ran out of time with events still pending."""


_ERRORS = {
    _lib.EINVAL: InvalidRecord, _lib.ECONFIG: ConfigError, _lib.ELOAD: ConfigError,
    _lib.EABI: ConfigError, _lib.ESINK: ConfigError, _lib.EFULL: QueueFull,
    _lib.ENOPRICE: NoPrice, _lib.ECLOSED: ClosedError, _lib.EFORKED: ForkedError,
    _lib.ESPOOL: SpoolError, _lib.ETIMEDOUT: TimeoutError,
}

_lib_handle = None
_lib_lock = threading.Lock()


def _c():
    global _lib_handle
    with _lib_lock:
        if _lib_handle is None:
            _lib_handle = _lib.load()
        return _lib_handle


def library_version():
    """The version string of the libllmbill in use."""
    return _c().llmbill_version_string().decode()


def _error(rc, reason=None):
    c = _c()
    if reason is None:
        reason = (c.llmbill_last_error() or b"").decode("utf-8", "replace")
    if not reason:
        reason = c.llmbill_strerror(rc).decode()
    return _ERRORS.get(rc, LlmbillError)(rc, reason)


def _cost_text(v):
    """A cost as the exact decimal text llmbill parses; never through a float sum."""
    if isinstance(v, bool):
        raise TypeError("cost: expected a Decimal, str or number, not bool")
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            raise ValueError("cost: not a finite number")
        return format(v, "f")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)          # shortest repr: 0.1 is "0.1"
    if isinstance(v, str):
        return v
    raise TypeError("cost: expected a Decimal, str or number, not %s" % type(v).__name__)


_STR_FIELDS = ("event_id", "customer_id", "subscription_id", "user_id", "team_id", "provider",
               "model", "call_type", "request_id", "currency", "service_tier")
_INT_FIELDS = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens",
               "cache_creation_1h_input_tokens", "output_tokens", "reasoning_tokens",
               "input_audio_tokens", "cached_audio_tokens", "input_image_tokens",
               "input_video_tokens", "output_audio_tokens", "output_image_tokens",
               "web_search_requests", "latency_ms")


def usage_json(**fields):
    """The usage JSON form of a record given as keyword arguments (see
    Billing.record). Raises TypeError for an unknown field."""
    out = {}
    for k, v in fields.items():
        if v is None:
            continue
        if k in _STR_FIELDS:
            out[k] = str(v)
        elif k in _INT_FIELDS:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("%s: expected an int" % k)
            out[k] = v
        elif k in ("cost", "cost_usd"):
            out[k] = _cost_text(v)
        elif k == "timestamp":
            if isinstance(v, datetime.datetime):
                v = v.timestamp()
            out["timestamp_ms"] = int(round(float(v) * 1000))
        elif k == "timestamp_ms":
            out[k] = int(v)
        elif k == "status":
            if v not in ("success", "failure"):
                raise ValueError("status: expected 'success' or 'failure'")
            out[k] = v
        elif k == "metadata":
            out[k] = {str(mk): str(mv) for mk, mv in dict(v).items()}
        else:
            raise TypeError("record() got an unknown field %r" % k)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class Billing:
    """One libllmbill handle, opened from an llmbill.ini (or its text with
    ini_text=). Use it as a context manager, or call close(). Thread-safe:
    record(), flush() and stats() may run in any number of threads at once;
    close() waits for the calls in flight and then closes the handle."""

    def __init__(self, config=None, *, ini_text=None, plugin_dir=None):
        if (config is None) == (ini_text is None):
            raise TypeError("Billing() takes a config path or ini_text=, one of them")
        c = _c()
        self._pid = os.getpid()
        self._cv = threading.Condition()
        self._inflight = 0
        self._closed = False
        self._h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(1024)
        opts = _lib.OpenOpts()
        opts.struct_size = ctypes.sizeof(opts)
        opts.errbuf = ctypes.cast(err, ctypes.c_char_p)
        opts.errbuf_len = len(err)
        if plugin_dir is not None:
            self._plugin_dir = os.fsencode(plugin_dir)
            opts.plugin_dir = self._plugin_dir
        if config is not None:
            rc = c.llmbill_open(ctypes.byref(self._h), os.fsencode(config), ctypes.byref(opts))
        else:
            rc = c.llmbill_open_string(ctypes.byref(self._h), ini_text.encode(),
                                       ctypes.byref(opts))
        if rc != 0:
            self._closed = True
            raise _error(rc, err.value.decode("utf-8", "replace"))

    # -- the calls in flight, so that close() never frees the handle under one
    def _enter(self):
        with self._cv:
            if self._closed:
                raise ClosedError(_lib.ECLOSED, "the Billing object is closed")
            if os.getpid() != self._pid:
                raise ForkedError(_lib.EFORKED, "the Billing object was opened by process %d, "
                                  "before fork(): open another in this process" % self._pid)
            self._inflight += 1

    def _leave(self):
        with self._cv:
            self._inflight -= 1
            if self._inflight == 0:
                self._cv.notify_all()

    def record(self, **fields):
        """Records one usage event; returns its event id (generated when
        event_id= is not given). Fields: customer_id, subscription_id,
        user_id, team_id (at least one), model (required), provider,
        call_type, request_id, status ("success"/"failure"), the token
        counts (input_tokens, cached_input_tokens, cache_creation_input_tokens,
        cache_creation_1h_input_tokens, output_tokens, reasoning_tokens, the
        modality counts, web_search_requests), cost_usd (or cost with
        currency) as a Decimal, latency_ms, timestamp (a datetime or Unix
        seconds) or timestamp_ms, service_tier, metadata (a dict of str).
        Never waits for a sink. Raises InvalidRecord (the reason names the
        field), QueueFull, NoPrice, SpoolError, ClosedError or ForkedError;
        nothing is recorded then."""
        return self.record_json(usage_json(**fields))

    def record_json(self, text):
        """Records one event given in the usage JSON form (str or bytes);
        returns its event id. Raises as record() does."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        idbuf = ctypes.create_string_buffer(_lib.EVENT_ID_BUFSZ)
        self._enter()
        try:
            # the GIL is released during the call; the reason is this thread's
            rc = _c().llmbill_record_json(self._h, data, len(data), idbuf, len(idbuf))
            if rc != 0:
                raise _error(rc)
        finally:
            self._leave()
        return idbuf.value.decode()

    def flush(self, timeout=None):
        """Waits until every event recorded so far is delivered or
        dead-lettered (timeout in seconds; None waits forever). Raises
        TimeoutError with events still pending (they stay queued)."""
        ms = -1 if timeout is None else int(timeout * 1000)
        self._enter()
        try:
            rc = _c().llmbill_flush(self._h, ms)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, _c().llmbill_strerror(rc).decode())

    def stats(self, sink=None):
        """Delivery counters as a dict (the totals, or one sink instance's)."""
        st = _lib.Stats()
        st.struct_size = ctypes.sizeof(st)
        self._enter()
        try:
            rc = _c().llmbill_get_stats(self._h, None if sink is None else sink.encode(),
                                        ctypes.byref(st))
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, "%s: %s" % (sink, _c().llmbill_strerror(rc).decode()))
        return {name: getattr(st, name) for name in _lib.STATS_FIELDS}

    def sinks(self):
        """The sink instance names."""
        self._enter()
        try:
            c = _c()
            return [c.llmbill_sink_name(self._h, i).decode()
                    for i in range(c.llmbill_sink_count(self._h))]
        finally:
            self._leave()

    def pricing(self):
        """The pricing applied: a dict with enabled, file, models, unknown."""
        pi = _lib.PricingInfo()
        pi.struct_size = ctypes.sizeof(pi)
        self._enter()
        try:
            _c().llmbill_get_pricing_info(self._h, ctypes.byref(pi))
            return {"enabled": bool(pi.enabled),
                    "file": pi.file.decode() if pi.file else None,
                    "models": pi.models,
                    "unknown": pi.unknown.decode() if pi.unknown else None}
        finally:
            self._leave()

    def close(self):
        """Delivers what is queued (within shutdown_timeout_ms) and closes.
        Waits for calls in flight on other threads first. Idempotent. Raises
        TimeoutError when events had to be dead-lettered (or stay in the
        journal for the next start). In a forked child it only forgets the
        handle: the parent's threads and files are not the child's."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            while self._inflight:
                self._cv.wait()
        if os.getpid() != self._pid:
            return
        rc = _c().llmbill_close(self._h)
        self._h = ctypes.c_void_p()
        if rc != 0:
            raise _error(rc, _c().llmbill_strerror(rc).decode())

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        # a handle never closed: deliver what is queued rather than leak it
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass
