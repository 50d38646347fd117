"""Exhaustion (issue 9, class 3): a hostile client must not use up the hub's file
descriptors, memory, store or event loop, and no answer may carry SQL or stack text.

Each test attacks a real hub process and checks that the attack is refused or bounded
while the hub keeps serving everyone else.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgeplane.hub.throttle import FailedAuthGate
from tests.support.fleet import wait_for
from tests.support.hub import HubProcess, running_hub

API = "/api/v1alpha1"
# What a driver error or a stack trace puts in a message (case matters: "select" is
# also an English word).
LEAKS = ("SELECT ", "[SQL:", "sqlite3", "sqlalchemy", "aiosqlite", "Traceback", 'File "')


def _no_leak(answer: httpx.Response) -> None:
    for text in LEAKS:
        assert text not in answer.text, answer.text[:500]


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    _no_leak(answer)
    body: dict[str, Any] = answer.json()
    return body


# --- selectors (requirement 6) --------------------------------------------------------


def test_a_thousand_term_selector_is_refused_naming_the_limit(hub: HubProcess) -> None:
    terms = ",".join(f"k{i}=v" for i in range(1000))
    answer = httpx.get(
        f"{hub.url}{API}/sites", params={"labelSelector": terms}, headers=hub.headers()
    )
    body = _error(answer, 400)
    assert body["field"] == "labelSelector"
    assert "1000 requirements" in body["message"] and "limit of 50" in body["message"]


def test_a_set_of_a_thousand_values_is_refused(hub: HubProcess) -> None:
    values = ",".join(f"v{i}" for i in range(1000))
    answer = httpx.get(
        f"{hub.url}{API}/sites",
        params={"labelSelector": f"region in ({values})"},
        headers=hub.headers(),
    )
    body = _error(answer, 400)
    assert body["field"] == "labelSelector" and "limit of 100" in body["message"]


def test_a_selector_in_a_spec_is_capped_too(hub: HubProcess) -> None:
    group = {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": "huge"},
        "spec": {
            "selector": {
                "matchExpressions": [{"key": f"k{i}", "operator": "Exists"} for i in range(1000)]
            }
        },
    }
    answer = httpx.post(f"{hub.url}{API}/sitegroups", json=group, headers=hub.headers())
    _error(answer, 422)
    gone = httpx.get(f"{hub.url}{API}/sitegroups/huge", headers=hub.headers())
    assert gone.status_code == 404


def test_no_answer_carries_sql_or_a_trace(hub: HubProcess) -> None:
    """The answers to hostile queries: malformed selectors, huge values, odd versions."""
    hostile = [
        {"labelSelector": "a in (" + "x," * 5000 + ")"},
        {"labelSelector": "(" * 3000},
        {"labelSelector": "a=" + "b" * 10_000},
        {"resourceVersion": "9" * 5000, "watch": "true"},
        {"limit": "-1"},
    ]
    for params in hostile:
        answer = httpx.get(f"{hub.url}{API}/sites", params=params, headers=hub.headers())
        assert 400 <= answer.status_code < 500, (params, answer.status_code, answer.text[:300])
        _no_leak(answer)


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One real hub for the tests that each use their own principal or peer address."""
    data = tmp_path_factory.mktemp("shared") / "hub"
    data.mkdir()
    with running_hub(data) as process:
        yield process


def _port(hub: HubProcess) -> int:
    return int(hub.url.rsplit(":", 1)[1])


def _connect(hub: HubProcess, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", _port(hub)))
    return sock


def _closed_by_peer(sock: socket.socket, within: float) -> bytes:
    """What the hub sent before it closed ``sock``; fails if it is still open after
    ``within`` seconds."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the hub kept the connection open for {within} s ({received!r})")


def _join(hub: HubProcess, site: str) -> dict[str, str]:
    """A new site's credential, as headers."""
    made = httpx.post(
        f"{hub.url}{API}/jointokens",
        json={"labels": {}, "ttlSeconds": 600},
        headers=hub.headers(),
    )
    assert made.status_code == 201, made.text
    body = {
        "token": made.json()["token"],
        "site": site,
        "inventory": {"cpus": 2, "runtime": "process"},
    }
    joined = httpx.post(f"{hub.url}{API}/join", json=body)
    assert joined.status_code == 201, joined.text
    return {"Authorization": f"Bearer {joined.json()['credential']}"}


def _rss(hub: HubProcess) -> int:
    """The hub process's resident memory, in bytes."""
    for text in Path(f"/proc/{hub.process.pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _too_many(answer: httpx.Response, setting: str) -> None:
    body = _error(answer, 429)
    assert body["reason"] == "TooManyRequests" and setting in body["message"], body
    assert int(answer.headers["retry-after"]) >= 1


# --- connections (requirement 1) -----------------------------------------------------


def test_idle_and_half_sent_connections_are_closed(shared: HubProcess) -> None:
    """Connect and send nothing, or half a request head: both end within the default
    head timeout (10 s), instead of holding a descriptor for ever."""
    with closing(_connect(shared)) as idle, closing(_connect(shared)) as half:
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        assert _closed_by_peer(idle, 20.0).startswith(b"HTTP/1.1 408 ")
        answer = _closed_by_peer(half, 20.0)
        assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_silent_tls_connection_is_closed_within_the_head_timeout(tmp_path: Path) -> None:
    """Over HTTPS (the default) a connection that never starts its TLS handshake is
    closed after --head-timeout, not after asyncio's 60 s handshake timeout: the caps
    and timeouts of the HTTP protocol see a connection only once its handshake is done."""
    data = tmp_path / "hub"
    data.mkdir()
    with running_hub(data, "--head-timeout", "2", tls=True) as tls_hub:
        started = time.monotonic()
        with closing(_connect(tls_hub)) as silent:
            _closed_by_peer(silent, 20.0)
        assert time.monotonic() - started < 20.0


def test_a_peer_holding_many_sockets_is_capped_and_others_are_served(
    shared: HubProcess,
) -> None:
    """An attacker at 127.0.0.2 opens 300 idle sockets: past the cap (256 per peer)
    they are closed at once, and a client at 127.0.0.1 is still answered."""
    with ExitStack() as stack:
        socks = [stack.enter_context(closing(_connect(shared, "127.0.0.2"))) for _ in range(300)]
        refused = 0
        for sock in socks[256:]:
            _closed_by_peer(sock, 5.0)
            refused += 1
        assert refused == 44
        metrics = httpx.get(f"{shared.url}/metrics", headers=shared.headers()).text
        assert "edgeplane_connections_refused_total 44.0" in metrics
        assert httpx.get(f"{shared.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{shared.url}{API}/sites", headers=shared.headers()).status_code == 200

    # Closed sockets give their slots back: the same peer is admitted again.
    def admitted() -> bool:
        with closing(_connect(shared, "127.0.0.2")) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
            sock.settimeout(5)
            return sock.recv(100).startswith(b"HTTP/1.1 200")

    wait_for(admitted, "the peer's slots to come back", timeout=15)


def test_an_oversized_request_head_is_refused(shared: HubProcess) -> None:
    with closing(_connect(shared)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        for _ in range(10):
            sock.sendall(b"X-Pad: " + b"a" * 10_000 + b"\r\n")
        answer = _closed_by_peer(sock, 10.0)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_an_oversized_head_sent_in_one_piece_is_refused(shared: HubProcess) -> None:
    """A head that arrives whole in one read was parsed, and the request run, before its
    size was compared with the limit: 100 KB of headers in one send were answered 200."""
    for pad in (70_000, 100_000, 200_000):
        with closing(_connect(shared)) as sock:
            head = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Pad: " + b"a" * pad + b"\r\n\r\n"
            sock.sendall(head)
            answer = _closed_by_peer(sock, 10.0)
        assert answer.startswith(b"HTTP/1.1 431 "), (pad, answer[:200])
    assert httpx.get(f"{shared.url}/healthz", timeout=5).status_code == 200


# --- rates and watches per principal (requirement 2) ----------------------------------


def test_a_site_over_its_request_rate_gets_429_and_others_are_served(shared: HubProcess) -> None:
    site = _join(shared, "chatty")
    with httpx.Client(base_url=shared.url, headers=site) as client:
        answers = [client.get(f"{API}/assignments") for _ in range(400)]
    statuses = {a.status_code for a in answers}
    assert statuses == {200, 429}, statuses
    _too_many(next(a for a in answers if a.status_code == 429), "--site-rate")
    # Another principal is not slowed by it, and the operator sees what was refused.
    metrics = httpx.get(f"{shared.url}/metrics", headers=shared.headers())
    assert metrics.status_code == 200
    assert 'edgeplane_limited_requests_total{limit="site_rate"}' in metrics.text


def test_a_site_over_its_status_write_rate_gets_429(shared: HubProcess) -> None:
    site = _join(shared, "noisy")
    with httpx.Client(base_url=shared.url, headers=site) as client:
        answers = []
        for i in range(100):
            status = {"status": {"lastHeartbeat": f"2026-01-01T00:00:{i % 60:02d}Z"}}
            answers.append(
                client.patch(
                    f"{API}/sites/noisy/status",
                    content=json.dumps(status),
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            )
    statuses = [a.status_code for a in answers]
    assert 429 in statuses and statuses[0] == 200, statuses
    _too_many(next(a for a in answers if a.status_code == 429), "--status-rate")


def test_a_site_may_hold_only_so_many_watches(shared: HubProcess) -> None:
    site = _join(shared, "watcher")
    url = f"{API}/assignments"
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=shared.url, headers=site, timeout=30))
        for _ in range(8):
            held = stack.enter_context(client.stream("GET", url, params={"watch": "true"}))
            assert held.status_code == 200
        with client.stream("GET", url, params={"watch": "1"}) as ninth:
            assert ninth.status_code == 429
            ninth.read()
        _too_many(ninth, "--site-watches")
    # The watches ended with their connections: the slots are free again.
    with httpx.Client(base_url=shared.url, headers=site, timeout=30) as client:

        def opened() -> bool:
            with client.stream("GET", url, params={"watch": "true"}) as again:
                return again.status_code == 200

        wait_for(opened, "a watch slot to come back", timeout=15)


def test_many_query_fields_do_not_hide_a_watch_from_the_cap(shared: HubProcess) -> None:
    """The cap read at most 100 query fields and took a longer query for no watch, while
    the route read them all: with 101 fields a site opened as many watches as it liked."""
    site = _join(shared, "padded-watcher")
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("watch", "true"),
        *((f"p{i}", "1") for i in range(101)),
    ]
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=shared.url, headers=site, timeout=30))
        statuses = []
        for _ in range(9):
            held = stack.enter_context(client.stream("GET", f"{API}/assignments", params=params))
            statuses.append(held.status_code)
        assert statuses == [200] * 8 + [429], statuses


def test_a_peer_guessing_tokens_is_slowed_before_its_tokens_are_looked_at(
    shared: HubProcess,
) -> None:
    """Each refused token costs a store read and a hash: from 127.0.0.3, 100 guesses
    in a row end in 429s, while the admin at 127.0.0.1 is still served."""
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=shared.url, transport=transport) as guesser:
        answers = [
            guesser.get(f"{API}/sites", headers={"Authorization": f"Bearer ep_{i:012x}_guess"})
            for i in range(100)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    _too_many(answers[-1], "--auth-failure-rate")
    assert httpx.get(f"{shared.url}{API}/sites", headers=shared.headers()).status_code == 200


def test_a_peer_cannot_pick_its_address_with_x_forwarded_for(hub: HubProcess) -> None:
    """uvicorn took X-Forwarded-For from 127.0.0.1 as the client's address, so a local
    guesser sending a new one each time was never slowed (100 guesses, 100 401s)."""
    with httpx.Client(base_url=hub.url) as guesser:
        answers = [
            guesser.get(
                f"{API}/sites",
                headers={
                    "Authorization": f"Bearer ep_{i:012x}_guess",
                    "X-Forwarded-For": f"10.0.{i // 250}.{i % 250 + 1}",
                },
            )
            for i in range(100)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    assert "127.0.0.1" in answers[-1].json()["message"], answers[-1].text


def test_an_ipv6_peer_is_limited_by_its_64_not_by_each_address() -> None:
    """Connections were counted by /64 but rates by the whole address: a host with a /64
    took a new source address per guess and a fresh bucket with it. (In process: the
    loopback has no second IPv6 address to send from.)"""
    gate = FailedAuthGate(rate=1.0, burst=5)
    for i in range(5):
        gate.failed({"client": (f"2001:db8:1:2::{i + 1:x}", 40000)})
    limited = gate.check({"client": ("2001:db8:1:2:ffff::9", 40000)})
    assert limited is not None and "2001:db8:1:2::/64" in str(limited)
    assert gate.check({"client": ("2001:db8:1:3::1", 40000)}) is None  # another /64


# --- unread watches (requirement 3) ----------------------------------------------------


def _group(name: str, note: str) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": "SiteGroup",
        "metadata": {"name": name, "annotations": {"note": note}},
        "spec": {"selector": {"matchLabels": {"tier": "edge"}}},
    }


def test_unread_watches_are_ended_and_do_not_grow_memory(hub: HubProcess) -> None:
    """Five watches that are never read while 100 MB of events go by: the hub's
    memory stays bounded and each watch, when read at last, ends with Gone."""
    headers = hub.headers()
    httpx.post(f"{hub.url}{API}/sitegroups", json=_group("big", "x"), headers=headers)
    with ExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=hub.url, headers=headers, timeout=60))
        watches = [
            stack.enter_context(client.stream("GET", f"{API}/sitegroups?watch=true"))
            for _ in range(5)
        ]
        before = _rss(hub)
        with httpx.Client(base_url=hub.url, headers=headers, timeout=60) as writer:
            for i in range(500):
                note = f"{i:06d}" + "n" * 200_000
                answer = writer.put(f"{API}/sitegroups/big", json=_group("big", note))
                assert answer.status_code == 200, answer.text[:300]
        grown = _rss(hub) - before
        assert grown < 50 * 1024 * 1024, f"the hub grew by {grown / 2**20:.0f} MiB"
        for watch in watches:
            last = None
            for text in watch.iter_lines():
                last = json.loads(text) if text else last
            assert last is not None and last["type"] == "ERROR", str(last)[:300]
            assert last["object"]["reason"] == "Gone"


# --- the event log by bytes (requirement 4) --------------------------------------------


def test_the_event_log_is_bounded_by_bytes(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    data.mkdir()
    budget = 4 * 1024 * 1024
    with running_hub(data, "--event-retention-bytes", str(budget)) as hub:
        headers = hub.headers()
        httpx.post(f"{hub.url}{API}/sitegroups", json=_group("big", "x"), headers=headers)
        with httpx.Client(base_url=hub.url, headers=headers, timeout=60) as writer:
            for i in range(200):
                note = f"{i:06d}" + "n" * 200_000
                answer = writer.put(f"{API}/sitegroups/big", json=_group("big", note))
                assert answer.status_code == 200, answer.text[:300]

        def logged() -> int | None:
            with closing(sqlite3.connect(f"file:{data}/edgeplane.db?mode=ro", uri=True)) as db:
                size = int(
                    db.execute("SELECT coalesce(sum(length(body)), 0) FROM events").fetchone()[0]
                )
            return size if size <= budget + 1024 * 1024 else None

        wait_for(logged, "the event log to be compacted to its byte budget", timeout=60)


# --- the log relay (requirement 5) -----------------------------------------------------


def test_an_answer_nobody_waits_for_is_refused_before_its_body_is_read(
    shared: HubProcess,
) -> None:
    site = _join(shared, "relayer")
    head = (
        f"POST {API}/sites/relayer/requests/0123456789abcdef HTTP/1.1\r\n"
        f"Host: hub\r\nAuthorization: {site['Authorization']}\r\n"
        "Content-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n"
    )
    with closing(_connect(shared)) as sock:
        sock.sendall(head.encode() + b"line\n" * 200)
        answer = _closed_by_peer(sock, 10.0)
    assert answer.startswith(b"HTTP/1.1 410 "), answer[:300]
    assert b"nobody waits" in answer


# --- the token cache (requirement 7) ---------------------------------------------------


def test_header_spellings_do_not_grow_the_token_cache_and_revocation_holds(
    shared: HubProcess,
) -> None:
    site = _join(shared, "speller")
    token = site["Authorization"].removeprefix("Bearer ")
    before = _rss(shared)
    with httpx.Client(base_url=shared.url, timeout=30) as client:
        for i in range(1000):
            spelled = "Bearer " + " " * (50_000 + i) + token
            answer = client.get(f"{API}/sites/speller", headers={"Authorization": spelled})
            assert answer.status_code in (200, 429), answer.text[:200]
    grown = _rss(shared) - before
    assert grown < 20 * 1024 * 1024, f"the hub grew by {grown / 2**20:.0f} MiB"
    deleted = httpx.delete(f"{shared.url}{API}/sites/speller", headers=shared.headers())
    assert deleted.status_code == 200, deleted.text
    answer = httpx.get(
        f"{shared.url}{API}/sites/speller", headers={"Authorization": "Bearer  " + token}
    )
    assert answer.status_code == 401
