"""An HTTP service that counts its requests and reports, every second, how many it
served per second (over the last two seconds) to its agent as the custom metric
``requests_per_second`` (``POST $EDGEPLANE_DATA_URL/metrics``): the workload of
``test_workload_metric``. Runs with the interpreter alone (no edgeplane import)."""

import http.server
import json
import os
import threading
import time
import urllib.request

SERVED: list[float] = []
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with LOCK:
            SERVED.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def rate() -> float:
    now = time.monotonic()
    with LOCK:
        SERVED[:] = [t for t in SERVED if now - t <= 2.0]
        return len(SERVED) / 2.0


def report() -> None:
    url = os.environ["EDGEPLANE_DATA_URL"].rstrip("/") + "/metrics"
    headers = {
        "Authorization": f"Bearer {os.environ['EDGEPLANE_DATA_TOKEN']}",
        "Content-Type": "application/json",
    }
    replica = int(os.environ.get("EDGEPLANE_REPLICA", "0"))
    while True:
        time.sleep(1.0)
        body = {"replica": replica, "metrics": {"requests_per_second": rate()}}
        request = urllib.request.Request(url, json.dumps(body).encode(), headers)
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except OSError as e:
            print(f"report not taken: {e}", flush=True)


threading.Thread(target=report, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.serve_forever()
