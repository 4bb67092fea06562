#!/usr/bin/env python3
"""A lean Lago-compatible batch endpoint for the latency-bound benchmark
(Python 3 stdlib only): POST /api/v1/events/batch answers 200
{"events": []} after SLOW_LAGO_DELAY_MS (default 100) ms, counting the events
it received without decoding them, so that the server is never the
bottleneck (one thread per kept-alive connection; the wait holds no lock).
GET /_stats answers {"stored": N, "posts": P, "max_concurrent": C}.

usage: slow_lago.py [--port N] [--api-key K]; prints "PORT n" when ready."""
import argparse
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = int(os.environ.get("SLOW_LAGO_DELAY_MS", "100")) / 1000.0
lock = threading.Lock()
stats = {"stored": 0, "posts": 0, "max_concurrent": 0}
state = {"concurrent": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # the status line and headers, then the body, are two writes: no
        # 40 ms wait for the client's delayed ACK in between
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps(stats).encode()
        self.reply(200 if self.path == "/_stats" else 404, body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        if self.headers.get("Authorization", "") != "Bearer " + self.server.api_key:
            return self.reply(401, b'{"status":401,"error":"Unauthorized"}')
        n = raw.count(b'"transaction_id"')
        with lock:
            state["concurrent"] += 1
            stats["max_concurrent"] = max(stats["max_concurrent"], state["concurrent"])
        time.sleep(DELAY)
        with lock:
            state["concurrent"] -= 1
            stats["stored"] += n
            stats["posts"] += 1
        self.reply(200, b'{"events": []}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="bench-key")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.api_key = args.api_key
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
