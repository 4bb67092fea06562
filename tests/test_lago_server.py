#!/usr/bin/env python3
"""Checks tests/lago_server.py against lago-api's contract (the cases the
reference lists from lago-api's own specs). Stdlib only."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
proc = subprocess.Popen([sys.executable, os.path.join(HERE, "lago_server.py"), "--port", "0"],
                        stdout=subprocess.PIPE, text=True)
BASE = "http://127.0.0.1:%s" % proc.stdout.readline().split()[1]
failures = 0


def call(method, path, body=None, key="test-key", ctype="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if key:
        req.add_header("Authorization", "Bearer " + key)
    req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(name, cond):
    global failures
    print(("ok   " if cond else "FAIL ") + name)
    failures += 0 if cond else 1


def ev(txid, sub="sub_1", **kw):
    e = {"transaction_id": txid, "external_subscription_id": sub, "code": "llm"}
    e.update(kw)
    return e


try:
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("a")]}, key="wrong")
    check("401 on a bad key", st == 401 and b == {"status": 401, "error": "Unauthorized"})
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("a")]}, key=None)
    check("401 on no key", st == 401)
    st, b = call("POST", "/api/v1/events/batch", b"{not json")
    check("400 on a body that is not JSON", st == 400 and b["error"] == "Bad Request")
    st, b = call("POST", "/api/v1/events", {"nope": 1})
    check("400 when event is missing (single)",
          st == 400 and b["error"].startswith("BadRequest: param is missing"))
    st, b = call("POST", "/api/v1/events/batch", {"events": []})
    check("422 no_events", st == 422 and b["error_details"] == {"events": ["no_events"]})
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("x%d" % i) for i in range(101)]})
    check("101 events rejected", st == 422 and b["error_details"] == {"events": ["too_many_events"]})
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("ok%d" % i) for i in range(100)]})
    check("100 events accepted", st == 200 and len(b["events"]) == 100)
    st, b = call("POST", "/api/v1/events/batch",
                 {"events": [ev("t1", timestamp="2024-03-14 12:00:00 UTC")]})
    check("ISO timestamp rejected", st == 422 and b["error_details"] == {"0": {"timestamp": ["invalid_format"]}}
          and b["code"] == "validation_errors" and b["error"] == "Unprocessable Entity")
    st, b = call("POST", "/api/v1/events", {"event": ev("t2", timestamp="1780586634.1")})
    check("numeric string timestamp echoed with ms", st == 200 and b["event"]["timestamp"] == "2026-06-04T15:23:54.100Z")
    st, b = call("POST", "/api/v1/events", {"event": ev("t3", precise_total_amount_cents="abc")})
    check("invalid amount stored as 0", st == 200 and b["event"]["precise_total_amount_cents"] == "0.0")
    st, b = call("POST", "/api/v1/events", {"event": {"transaction_id": "t4", "code": "llm",
                 "external_subscription_id": "s", "timestamp": None, "precise_total_amount_cents": None,
                 "properties": None}})
    check("nulls for optional fields accepted", st == 200 and b["event"]["properties"] == {})
    st, b = call("POST", "/api/v1/events", {"event": ev("t2")})
    check("single duplicate: 422 value_already_exist",
          st == 422 and b["error_details"] == {"transaction_id": ["value_already_exist"]})
    before = call("GET", "/_stats")[1]["stored"]
    for pos in (0, 1, 2):
        events = [ev("new-%d-%d" % (pos, i)) for i in range(3)]
        events[pos] = ev("ok5")
        st, b = call("POST", "/api/v1/events/batch", {"events": events})
        check("duplicate at index %d flags only it" % pos,
              st == 422 and b["error_details"] == {str(pos): {"transaction_id": ["value_already_exist"]}})
    check("a batch with a duplicate stores nothing", call("GET", "/_stats")[1]["stored"] == before)
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("in"), ev("other"), ev("in"), ev("in")]})
    check("repeats inside a batch: later ones flagged",
          st == 422 and sorted(b["error_details"]) == ["2", "3"])
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev("ok5", sub="sub_2")]})
    check("the same transaction_id under another subscription is new", st == 200)
    st, b = call("POST", "/api/v1/events/batch", {"events": [ev(""), ev("v", timestamp="x")]})
    check("validation errors per index",
          st == 422 and b["error_details"] == {"0": {"transaction_id": ["value_is_mandatory"]},
                                               "1": {"timestamp": ["invalid_format"]}})
    st, b = call("GET", "/api/v1/events/ok5")
    check("GET an event", st == 200 and b["event"]["transaction_id"] == "ok5")
    st, b = call("GET", "/api/v1/events/missing")
    check("GET a missing event: event_not_found", st == 404 and b["code"] == "event_not_found")
    st, b = call("GET", "/api/v1/nothing")
    check("unknown route: resource_not_found", st == 404 and b["code"] == "resource_not_found")
    call("POST", "/_control", {"rate_limit": 1, "retry_after": "3", "ratelimit_reset": "4"})
    req = urllib.request.Request(BASE + "/api/v1/events/batch", data=json.dumps({"events": [ev("r")]}).encode(),
                                 method="POST", headers={"Authorization": "Bearer test-key",
                                                         "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req)
        check("429 with rate-limit headers", False)
    except urllib.error.HTTPError as e:
        check("429 with rate-limit headers", e.code == 429 and e.headers["Retry-After"] == "3"
              and e.headers["X-RateLimit-Reset"] == "4")
finally:
    proc.terminate()
    proc.wait()
print("test_lago_server: %d failed" % failures if failures else "test_lago_server: ok")
sys.exit(1 if failures else 0)
