#!/usr/bin/env python3
"""A Lago-compatible events API for tests (Python 3 stdlib only).

It follows lago-api's contract for POST /api/v1/events, POST
/api/v1/events/batch and GET /api/v1/events/{transaction_id}: bearer auth
(401), 400 on a body that is not JSON, the 422 envelopes, batch limits (100
accepted, 101 rejected), and the Postgres store's duplicate semantics: a
batch with any failing index stores nothing, and a transaction_id Lago
already holds (per external_subscription_id) or that repeats inside the
batch is flagged {"transaction_id":["value_already_exist"]}.

Fault switches, set with POST /_control {"name": value, ...}:
  fail_5xx N          the next N event posts answer status_5xx (default 503)
  rate_limit N        the next N answer 429 with Retry-After / X-RateLimit-Reset
  retry_after S       Retry-After value for 429 ("" to omit); ratelimit_reset S likewise
  reset N             the next N posts are cut (TCP reset) before anything is stored
  reset_after_store N the next N posts are stored, then cut before the answer
  slow_ms MS          every post waits MS before answering (after storing)
  bad_request N       the next N posts answer 400
  api_key K           the key accepted from now on
  expression_fail S   events of external_subscription_id S fail as an expression error
  max_batch N         LAGO_EVENTS_BATCH_MAX_LENGTH
  echo_headers N      the next N API requests (GET or POST, before the auth check)
                      answer 400 with the request's headers in the body, as a
                      careless server or proxy does; echo_key_at K pads the body
                      so that the bearer key starts at byte K of it; echo_status
                      S answers S instead of 400
  not_lago N          the next N event posts and reads answer 200 with a body that is not Lago's
  redirect N          the next N event posts and reads answer 301 to https://elsewhere.example/
  hold B              while true, batch posts wait before anything is stored
  hold_next N         the next batch post waits before anything is stored until "release":
                      true (or the next one held); "posts_after_hold" counts the batch posts
                      whose transaction ids all sort after the held one's (before or after it)
  hold_after N        hold_next 1 once N events are stored (set before the client starts)
  jitter_ms MS        each batch post waits a random 0..MS after storing (answers out of order)
  track B             (true) from now on, count the distinct transaction ids received in batch
                      posts ("distinct_received") and those among them already stored at this
                      moment ("resent_stored")
GET /_stats answers {"stored", "posts", "batch_sizes", "duplicates_flagged",
"max_concurrent" (most posts being handled at once), "gap_after_429_ms" (from
the last 429 to the next post), ...};
GET /_events answers every stored event.

usage: lago_server.py [--port N] [--api-key K]; prints "PORT n" when ready.
"""
import argparse
import datetime
import decimal
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TS_RE = re.compile(r"^\s*[+-]?(\d[\d_]*)?(\.\d+)?([eE][+-]?\d+)?\s*$")
PERMITTED = ("transaction_id", "code", "timestamp", "external_subscription_id",
             "precise_total_amount_cents", "properties")


class State:
    def __init__(self, api_key):
        self.lock = threading.Lock()
        self.api_key = api_key
        self.events = {}            # (ext_sub, txid) -> serialized event
        self.order = []
        self.faults = {"fail_5xx": 0, "status_5xx": 503, "rate_limit": 0, "retry_after": "1",
                       "ratelimit_reset": "1", "reset": 0, "reset_after_store": 0, "slow_ms": 0,
                       "bad_request": 0, "expression_fail": None, "max_batch": 100,
                       "echo_headers": 0, "echo_key_at": 0, "echo_status": 400,
                       "not_lago": 0, "redirect": 0, "hold": False, "jitter_ms": 0,
                       "hold_next": 0, "hold_after": 0}
        self.stats = {"posts": 0, "batch_sizes": [], "duplicates_flagged": 0, "answered": {},
                      "user_agents": [], "connections": 0, "max_concurrent": 0}
        self.concurrent = 0
        self.last_429 = None
        self.tracked = None         # stored keys when tracking began
        self.hold_gen = 0
        self.held_max = ""
        self.post_mins = []         # the smallest transaction id of each batch post
        self.received = set()

    def take(self, name):
        """Consumes one unit of a counting fault."""
        if self.faults.get(name, 0) > 0:
            self.faults[name] -= 1
            return True
        return False


def parse_ts(v):
    if v is None:
        return decimal.Decimal(repr(time.time()))
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return decimal.Decimal(repr(v))
    if isinstance(v, str) and TS_RE.match(v) and re.search(r"\d", v):
        try:
            return decimal.Decimal(v.strip().replace("_", ""))
        except decimal.InvalidOperation:
            return None
    return None


def iso_ms(d):
    dt = datetime.datetime.fromtimestamp(int(d), datetime.timezone.utc)
    ms = int((d - int(d)) * 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % ms


def blank(v):
    return v is None or (isinstance(v, str) and v.strip() == "")


def amount(v):
    if v is None:
        return None
    try:
        d = decimal.Decimal(str(v))
        return str(d.normalize()) if d == d.to_integral() else str(d)
    except decimal.InvalidOperation:
        return "0.0"


def serialize(ev, ts, lago_id, created):
    props = ev.get("properties")
    return {"lago_id": lago_id, "transaction_id": ev.get("transaction_id"),
            "lago_customer_id": None, "code": ev.get("code"), "timestamp": iso_ms(ts),
            "precise_total_amount_cents": amount(ev.get("precise_total_amount_cents")),
            "properties": props if isinstance(props, dict) else {},
            "lago_subscription_id": None,
            "external_subscription_id": ev.get("external_subscription_id"),
            "created_at": created}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lago-test"
    disable_nagle_algorithm = True   # answer at once (no 40 ms delayed-ACK stalls)

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.state.lock:
            self.server.state.stats["connections"] += 1

    # --- helpers
    def answer(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        st = self.server.state
        with st.lock:
            st.stats["answered"][str(status)] = st.stats["answered"].get(str(status), 0) + 1

    def cut(self):
        """Closes the connection with a TCP reset and no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def echo_headers(self):
        """Answers 400 with the request's headers (the bearer key among them)
        if the echo_headers switch is on; True when it answered."""
        st = self.server.state
        with st.lock:
            if not st.take("echo_headers"):
                return False
            at = st.faults["echo_key_at"]
            status = st.faults["echo_status"]
        auth = self.headers.get("Authorization", "")
        key = auth.split()[-1] if auth.split() else ""
        head = '{"status": %d, "error": "echo", "pad": "' % status
        mid = '", "authorization": "' + auth[:len(auth) - len(key)]
        pad = "x" * max(0, at - len(head) - len(mid))
        body = (head + pad + mid + key + '", "headers": ' +
                json.dumps(dict(self.headers.items())) + "}").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def unprocessable(self, details):
        self.answer(422, {"status": 422, "error": "Unprocessable Entity",
                          "code": "validation_errors", "error_details": details})

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        parts = auth.split()
        return len(parts) >= 2 and parts[1] == self.server.state.api_key

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def odd_answer(self):
        """Answers as something that is not Lago (not_lago, redirect faults)."""
        st = self.server.state
        with st.lock:
            fault = "not_lago" if st.take("not_lago") else "redirect" if st.take("redirect") else None
        if fault == "not_lago":
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif fault == "redirect":
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/api/v1/events/batch")
            self.send_header("Content-Length", "0")
            self.end_headers()
        return fault is not None

    # --- routes
    def do_GET(self):
        st = self.server.state
        if self.path == "/_stats":
            with st.lock:
                out = dict(st.stats)
                out["stored"] = len(st.events)
                out["concurrent"] = st.concurrent
                out["faults"] = dict(st.faults)
            return self.answer(200, out)
        if self.path == "/_events":
            with st.lock:
                out = {"events": [st.events[k] for k in st.order]}
            return self.answer(200, out)
        m = re.match(r"^/api/v1/events/([^/?]+)$", self.path)
        if not m:
            return self.answer(404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})
        if self.echo_headers() or self.odd_answer():
            return None
        if not self.authorized():
            return self.answer(401, {"status": 401, "error": "Unauthorized"})
        txid = m.group(1)
        with st.lock:
            found = [st.events[k] for k in st.order if k[1] == txid]
        if found:
            return self.answer(200, {"event": found[0]})
        return self.answer(404, {"status": 404, "error": "Not Found", "code": "event_not_found"})

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        if self.path == "/_control":
            with st.lock:
                st.faults.update(json.loads(raw or b"{}"))
                if st.faults.pop("release", False):
                    st.hold_gen += 1
                if st.faults.pop("track", False):
                    st.tracked = set(k[1] for k in st.events)
                    st.received = set()
                    st.stats["distinct_received"] = 0
                    st.stats["resent_stored"] = 0
                if "api_key" in st.faults:
                    st.api_key = st.faults.pop("api_key")
            return self.answer(200, {"ok": True})
        if self.path not in ("/api/v1/events", "/api/v1/events/batch"):
            return self.answer(404, {"status": 404, "error": "Not Found", "code": "resource_not_found"})
        if self.echo_headers() or self.odd_answer():
            return None
        with st.lock:
            st.concurrent += 1
            st.stats["max_concurrent"] = max(st.stats["max_concurrent"], st.concurrent)
        try:
            return self.post_events(raw)
        finally:
            with st.lock:
                st.concurrent -= 1

    def post_events(self, raw):
        st = self.server.state
        fault = None
        with st.lock:
            if st.last_429 is not None:     # the first post after a 429
                st.stats["gap_after_429_ms"] = int((time.monotonic() - st.last_429) * 1000)
                st.last_429 = None
            st.stats["posts"] += 1
            st.stats["user_agents"] = (st.stats["user_agents"] + [self.headers.get("User-Agent", "")])[-5:]
            if self.authorized():
                for name in ("reset", "fail_5xx", "rate_limit", "bad_request"):
                    if st.take(name):
                        fault = name
                        break
            faults = dict(st.faults)
        if fault == "reset":
            return self.cut()
        if fault == "fail_5xx":
            code = faults["status_5xx"]
            return self.answer(code, {"status": code, "error": "Service Unavailable"})
        if fault == "rate_limit":
            hdr = {"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0"}
            if faults["retry_after"] != "":
                hdr["Retry-After"] = faults["retry_after"]
            if faults["ratelimit_reset"] != "":
                hdr["X-RateLimit-Reset"] = faults["ratelimit_reset"]
            with st.lock:
                st.last_429 = time.monotonic()
            return self.answer(429, {"status": 429, "error": "Too Many Requests"}, hdr)
        if fault == "bad_request":
            return self.answer(400, {"status": 400, "error": "Bad Request"})
        if not self.authorized():
            return self.answer(401, {"status": 401, "error": "Unauthorized"})
        ctype = self.headers.get("Content-Type", "")
        try:
            body = json.loads(raw) if raw and "json" in ctype else {}
        except ValueError:
            return self.answer(400, {"status": 400, "error": "Bad Request"})
        if not isinstance(body, dict):
            return self.answer(400, {"status": 400, "error": "Bad Request"})
        if self.path == "/api/v1/events":
            return self.single(body)
        return self.batch(body)

    def finish_post(self, status, obj):
        st = self.server.state
        with st.lock:
            cut = st.take("reset_after_store")
            slow = st.faults["slow_ms"]
        if slow:
            time.sleep(slow / 1000.0)
        if faults_jitter := st.faults.get("jitter_ms", 0):
            time.sleep(random.uniform(0, faults_jitter) / 1000.0)
        if cut:
            return self.cut()
        if status == 422:
            return self.unprocessable(obj)
        return self.answer(status, obj)

    def validate(self, ev):
        """Per-event checks of CreateBatchService, in lago-api's order."""
        if not isinstance(ev, dict):
            ev = {}
        ev = {k: ev[k] for k in PERMITTED if k in ev}
        ts = parse_ts(ev.get("timestamp"))
        if ts is None:
            return ev, None, {"timestamp": ["invalid_format"]}
        err = None
        fail = self.server.state.faults.get("expression_fail")
        if fail is not None and ev.get("external_subscription_id") == fail:
            err = "expression_evaluation_failed: Variable: tokens not found"
        mandatory = {}
        if blank(ev.get("transaction_id")):
            mandatory["transaction_id"] = ["value_is_mandatory"]
        if blank(ev.get("code")):
            mandatory["code"] = ["value_is_mandatory"]
        if mandatory:
            err = mandatory
        return ev, ts, err

    def single(self, body):
        ev = body.get("event")
        if ev in (None, {}, "", []) or not isinstance(ev, dict):
            return self.answer(400, {"status": 400, "error": "BadRequest: param is missing or the "
                                     "value is empty or invalid: event"})
        ev, ts, err = self.validate(ev)
        if err is not None:
            return self.unprocessable(err)
        st = self.server.state
        with st.lock:
            key = (ev.get("external_subscription_id"), ev.get("transaction_id"))
            if key in st.events:
                st.stats["duplicates_flagged"] += 1
                dup = True
            else:
                dup = False
                st.events[key] = serialize(ev, ts, str(uuid.uuid4()), now_iso())
                st.order.append(key)
                out = st.events[key]
        if dup:
            return self.unprocessable({"transaction_id": ["value_already_exist"]})
        return self.finish_post(200, {"event": out})

    def batch(self, body):
        st = self.server.state
        evs = body.get("events")
        ids = [ev.get("transaction_id") for ev in evs if isinstance(ev, dict)] \
            if isinstance(evs, list) else []
        ids = [i for i in ids if isinstance(i, str)] or [""]
        with st.lock:
            if st.faults["hold_after"] and len(st.events) >= st.faults["hold_after"]:
                st.faults["hold_after"] = 0
                st.faults["hold_next"] = 1
            held = st.take("hold_next")
            if held:
                st.hold_gen += 1
                gen = st.hold_gen
                st.held_max = max(ids)
                # posts that reached the server first count too: arrival
                # order is not the order the client made them in
                st.stats["posts_after_hold"] = sum(1 for m in st.post_mins if m > st.held_max)
            elif st.hold_gen and min(ids) > st.held_max:
                st.stats["posts_after_hold"] += 1
            if not held:
                st.post_mins.append(min(ids))
        while True:
            with st.lock:
                if not st.faults["hold"] and (not held or st.hold_gen != gen):
                    break
            time.sleep(0.005)
        evs = body.get("events")
        if st.tracked is not None and isinstance(evs, list):
            with st.lock:
                for ev in evs:
                    tx = ev.get("transaction_id") if isinstance(ev, dict) else None
                    if tx is not None and tx not in st.received:
                        st.received.add(tx)
                        st.stats["distinct_received"] += 1
                        if tx in st.tracked:
                            st.stats["resent_stored"] += 1
        if not evs or not isinstance(evs, list):
            return self.unprocessable({"events": ["no_events"]})
        if len(evs) > st.faults["max_batch"]:
            return self.unprocessable({"events": ["too_many_events"]})
        with st.lock:
            st.stats["batch_sizes"].append(len(evs))
        errors, clean = {}, []
        for i, raw in enumerate(evs):
            ev, ts, err = self.validate(raw)
            if err is not None:
                errors[str(i)] = err
            clean.append((ev, ts))
        if errors:
            return self.unprocessable(errors)
        with st.lock:
            seen = set()
            for i, (ev, _) in enumerate(clean):
                key = (ev.get("external_subscription_id"), ev.get("transaction_id"))
                if key in st.events or ev.get("transaction_id") in seen:
                    errors[str(i)] = {"transaction_id": ["value_already_exist"]}
                seen.add(ev.get("transaction_id"))
            if errors:
                st.stats["duplicates_flagged"] += len(errors)
            else:
                out = []
                for ev, ts in clean:
                    key = (ev.get("external_subscription_id"), ev.get("transaction_id"))
                    st.events[key] = serialize(ev, ts, str(uuid.uuid4()), now_iso())
                    st.order.append(key)
                    out.append(st.events[key])
        if errors:
            return self.unprocessable(errors)   # whole batch rolled back
        return self.finish_post(200, {"events": out})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128    # many clients connecting at once: no SYN dropped, no 1 s stall

    def handle_error(self, request, client_address):
        pass    # a client that timed out and hung up is part of the tests


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="test-key")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args.api_key)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
