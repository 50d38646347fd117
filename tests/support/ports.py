"""A free TCP port on loopback, for a hub, an agent or a fake server a test starts.

The port is free when asked; the process given it binds it moments later (a race every
test harness accepts). Neighbours: ``hub`` (a hub process on one), ``waiting``.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
