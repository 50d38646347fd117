"""toxiproxy between two processes of a test: partitions, latency, bandwidth, resets.

``running_toxiproxy`` starts ``toxiproxy-server`` (built by ``hack/toxiproxy/build``,
found through the cache's ``current`` link) on a free port of 127.0.0.1 and stops it
at the end; ``Toxiproxy`` is a typed client of its HTTP API and ``Proxy`` one proxy,
listening on 127.0.0.1 too, whose methods add or remove toxics. A test puts a proxy
between an agent and the hub by giving the agent the proxy's ``url`` as the hub's.

toxiproxy works on TCP streams, not on packets: for real random packet loss use
``netns`` (nftables drops in a network namespace). Neighbours: ``ports``,
``waiting``; the fixtures are in ``tests/integration/faults/conftest.py``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.ports import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "hack" / "toxiproxy" / "build"
HOST = "127.0.0.1"


class ToxiproxyUnavailable(RuntimeError):
    """The server binary is not built, or the server did not start."""


class ToxiproxyError(RuntimeError):
    """toxiproxy's API refused a request (its status and message are in the text)."""


class Stream(StrEnum):
    """A toxic's direction: ``upstream`` is client to server, ``downstream`` back."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


BOTH_WAYS = (Stream.UPSTREAM, Stream.DOWNSTREAM)


@dataclass(frozen=True)
class Toxic:
    """One toxic as the API lists it."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, int]

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Toxic:
        return cls(
            name=raw["name"],
            type=raw["type"],
            stream=Stream(raw["stream"]),
            toxicity=float(raw["toxicity"]),
            attributes=dict(raw["attributes"]),
        )


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "edgeplane" / "toxiproxy"
    return Path(os.environ.get("EDGEPLANE_TOXIPROXY_CACHE", default))


def find_binary(build: bool = False) -> Path:
    """The cached ``toxiproxy-server``; with ``build``, run the (cached) build first."""
    if build:
        done = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ToxiproxyUnavailable(f"hack/toxiproxy/build failed:\n{done.stderr[-2000:]}")
        return Path(done.stdout.strip().splitlines()[-1])
    binary = cache_dir() / "current" / "toxiproxy-server"
    if not os.access(binary, os.X_OK):
        raise ToxiproxyUnavailable(
            f"{binary} is missing: run `make toxiproxy` (hack/toxiproxy/build) to build it"
        )
    return binary


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        what = f"{response.request.method} {response.request.url.path}"
        raise ToxiproxyError(f"toxiproxy: {what}: {response.status_code} {response.text.strip()}")
    return response


class Proxy:
    """One proxy: clients connect to ``listen``, toxiproxy connects to ``upstream``.

    Every toxic applies to new connections and, for most types, to open ones too;
    ``clear`` removes them all. The methods return the proxy, so calls can chain.
    """

    def __init__(self, api: httpx.Client, name: str, listen: str, upstream: str) -> None:
        self._api, self.name, self.listen, self.upstream = api, name, listen, upstream

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what a client of the upstream dials instead."""
        return f"http://{self.listen}"

    def cut(self) -> Proxy:
        """A partition: nothing passes either way and nothing is reset, so both ends
        wait as on a link that went dark (toxic ``timeout`` 0). What was sent during
        the cut is dropped, not delivered later; ``heal`` closes the stalled
        connections (their peers see an EOF) and new ones pass again."""
        for stream in BOTH_WAYS:
            self._add("timeout", stream, {"timeout": 0}, name=f"cut_{stream}")
        return self

    def heal(self) -> Proxy:
        """End a ``cut``; other toxics stay."""
        for stream in BOTH_WAYS:
            self._remove(f"cut_{stream}")
        return self

    def disable(self) -> Proxy:
        """The port closes and open connections drop: new connections are refused,
        as when the far host is up but its service is not."""
        return self._enable(False)

    def enable(self) -> Proxy:
        return self._enable(True)

    def latency(self, ms: int, jitter: int = 0) -> Proxy:
        """Each direction delays its data by ``ms`` ± ``jitter`` milliseconds (uniform),
        so a request and its answer take about twice ``ms`` more."""
        for stream in BOTH_WAYS:
            self._add("latency", stream, {"latency": ms, "jitter": jitter})
        return self

    def bandwidth(self, kilobytes_per_second: int) -> Proxy:
        """At most this many KB/s (toxiproxy's unit: kilobytes, not kilobits) each way."""
        for stream in BOTH_WAYS:
            self._add("bandwidth", stream, {"rate": kilobytes_per_second})
        return self

    def reset(self) -> Proxy:
        """Connections are reset (RST, "connection reset by peer") as soon as the
        client sends: toxic ``reset_peer``. Connections opened before the call are
        closed (FIN) rather than reset, since toxiproxy sets SO_LINGER 0 only at
        connect. Lasts until ``clear``."""
        self._add("reset_peer", Stream.UPSTREAM, {"timeout": 0})
        return self

    def lossy(self, fraction: float, stall_ms: int = 5000, retransmit_ms: int = 200) -> Proxy:
        """An approximation of a link losing ``fraction`` of its packets.

        What it models: a TCP connection on such a link mostly works, but sometimes
        stalls long enough for an application's timeout, and its data arrives late
        (retransmissions). So ``fraction`` of connections (drawn per connection) stall
        upstream for ``stall_ms`` and are then closed, and all data is delayed by a
        random 0 to ``2 * fraction * retransmit_ms`` milliseconds each way (on average
        ``fraction`` times Linux's minimum retransmission timeout).

        What it does not: loss of single packets, and its draw per request. toxiproxy
        draws once per connection (again whenever a toxic of the proxy changes), so a
        keep-alive connection that was spared stays spared; a client that reconnects
        after each failure sees about ``fraction`` of its connections fail. For real
        per-packet loss under the kernel's TCP, use ``tests.support.netns``."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"lossy: fraction must be between 0 and 1, not {fraction}")
        delay = round(fraction * retransmit_ms)
        self._add(
            "timeout", Stream.UPSTREAM, {"timeout": stall_ms}, name="lossy_stall", toxicity=fraction
        )
        for stream in BOTH_WAYS:
            late = {"latency": delay, "jitter": delay}
            self._add("latency", stream, late, name=f"lossy_{stream}")
        return self

    def clear(self) -> Proxy:
        """Remove every toxic (a ``disable``d proxy stays disabled)."""
        for toxic in self.toxics():
            self._remove(toxic.name)
        return self

    def toxics(self) -> list[Toxic]:
        raw = _checked(self._api.get(f"/proxies/{self.name}/toxics")).json()
        return [Toxic.from_wire(t) for t in raw]

    def enabled(self) -> bool:
        return bool(_checked(self._api.get(f"/proxies/{self.name}")).json()["enabled"])

    def _enable(self, enabled: bool) -> Proxy:
        _checked(self._api.post(f"/proxies/{self.name}", json={"enabled": enabled}))
        return self

    def _add(
        self,
        kind: str,
        stream: Stream,
        attributes: Mapping[str, int],
        name: str | None = None,
        toxicity: float = 1.0,
    ) -> None:
        body = {
            "name": name or f"{kind}_{stream}",
            "type": kind,
            "stream": str(stream),
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        _checked(self._api.post(f"/proxies/{self.name}/toxics", json=body))

    def _remove(self, toxic: str) -> None:
        _checked(self._api.delete(f"/proxies/{self.name}/toxics/{toxic}"))


class Toxiproxy:
    """A client of one toxiproxy server's API (``api``: its base URL)."""

    def __init__(self, api: str) -> None:
        self.api = api
        self._http = httpx.Client(base_url=api, timeout=10.0)

    def proxy(self, name: str, upstream: str) -> Proxy:
        """A new proxy on a free port of 127.0.0.1 to ``upstream`` (``host:port``)."""
        listen = f"{HOST}:{free_port()}"
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        created = _checked(self._http.post("/proxies", json=body)).json()
        return Proxy(self._http, name, created["listen"], created["upstream"])

    def remove(self, proxy: Proxy) -> None:
        _checked(self._http.delete(f"/proxies/{proxy.name}"))

    def reset(self) -> None:
        """Every proxy enabled and without toxics (the proxies themselves stay)."""
        _checked(self._http.post("/reset"))

    def version(self) -> str:
        return _checked(self._http.get("/version")).text.strip()

    def close(self) -> None:
        self._http.close()


_DOWN = (httpx.TransportError,)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_toxiproxy(
    binary: Path | None = None, log: IO[bytes] | None = None, within: float = 30.0
) -> Iterator[Toxiproxy]:
    """A toxiproxy server on 127.0.0.1 for the block, its output to ``log``."""
    port = free_port()
    argv = [str(binary or find_binary()), "-host", HOST, "-port", str(port)]
    out = log if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    client = Toxiproxy(f"http://{HOST}:{port}")

    def answering() -> str:
        if process.poll() is not None:
            raise ToxiproxyUnavailable(f"{argv[0]} exited with {process.returncode}")
        return client.version()

    try:
        wait_until(answering, f"toxiproxy-server on {client.api}", within, ignore=_DOWN)
        yield client
    finally:
        client.close()
        stop_process(process)
