"""The demo service: a tiny HTTP server that says which application and site it is.

Run by the edgeplane process runtime from its artifact directory. It listens on
``$PORT`` (picked by the agent), answers ``GET /`` with JSON and ``GET /healthz``
with ``ok``, and exits cleanly on SIGTERM.
"""

import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()
VERSION = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "VERSION")).read().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            facts = {
                "application": os.environ.get("EDGEPLANE_APPLICATION"),
                "site": os.environ.get("EDGEPLANE_SITE"),
                "version": VERSION,
                "message": os.environ.get("MESSAGE", "hello from the edge"),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "uptimeSeconds": round(time.time() - STARTED, 1),
            }
            body, kind = (json.dumps(facts) + "\n").encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"demo-service {VERSION} listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        print("demo-service stopping", flush=True)


if __name__ == "__main__":
    main()
