#!/usr/bin/env python3
"""Receives examples/webhook_sink.c's batches (for tests/test_examples.sh):
appends each event_id to the file argv[1] when the bearer token is right,
answers 401 otherwise. Prints its port when ready."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = self.headers.get("Authorization") == "Bearer hook-secret"
        if ok:
            with open(sys.argv[1], "a") as f:
                for ev in body["events"]:
                    f.write(ev["event_id"] + "\n")
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
