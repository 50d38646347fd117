"""A tiny line echo over TCP on 127.0.0.1: the traffic the fault tests put faults on.

In process: ``echo_server`` (a thread serving a free port) and ``ask`` (one request on
a new connection). As a program, for use inside a network namespace:
``python -m tests.integration.faults.echo serve PORT`` prints ``ready`` once it
listens; ``... ask PORT --connections C --count N --timeout T`` sends N lines on each
of C connections, prints ``ok <answers>`` and exits 0, or prints the error and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator

HOST = "127.0.0.1"


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(line)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def echo_server(port: int = 0) -> Iterator[int]:
    """Serve on ``port`` (a free one by default) for the block; yield the port."""
    with _Server((HOST, port), _Echo) as server:
        # A short poll interval: shutdown() waits for the loop's next look.
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield int(server.server_address[1])
        finally:
            server.shutdown()
            thread.join()


def exchange(conn: socket.socket, reader: io.BufferedReader, text: str) -> str:
    conn.sendall(text.encode() + b"\n")
    answer = reader.readline()
    if not answer:
        raise ConnectionError("the connection closed before an answer")
    return answer.decode().rstrip("\n")


def ask(port: int, text: str = "ping", timeout: float = 10.0, count: int = 1) -> list[str]:
    """Send ``text`` ``count`` times on one new connection; the answers, in order."""
    conn = socket.create_connection((HOST, port), timeout=timeout)
    with conn, conn.makefile("rb") as reader:
        return [exchange(conn, reader, f"{text}-{i}") for i in range(count)]


def _serve(port: int) -> None:
    with echo_server(port):
        print("ready", flush=True)
        threading.Event().wait()


def _ask(port: int, connections: int, count: int, timeout: float) -> int:
    try:
        answers = [a for _ in range(connections) for a in ask(port, "x", timeout, count)]
    except OSError as e:
        print(f"error {e!r}", flush=True)
        return 1
    print(f"ok {len(answers)}", flush=True)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="echo")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("serve").add_argument("port", type=int)
    asking = sub.add_parser("ask")
    asking.add_argument("port", type=int)
    asking.add_argument("--connections", type=int, default=1)
    asking.add_argument("--count", type=int, default=1)
    asking.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.what == "serve":
        _serve(args.port)
        return 0
    return _ask(args.port, args.connections, args.count, args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
