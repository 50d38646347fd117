"""``edgeplane data query`` and ``data tail`` against a real hub, reading back records
that sites posted as their agents do (``datafeed``)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeplane.client.hub import HubClient
from edgeplane.dataplane import wire
from tests.integration.cli.conftest import Run
from tests.integration.cli.datafeed import Feed, open_feeds
from tests.support.hub import HubProcess
from tests.support.waiting import wait_until

T0 = 1_796_205_600.0
"""2026-12-02T10:00:00Z."""
SHOWN = ("site", "seq", "at", "priority", "body")
"""What a record read back holds of what was posted (``id`` and ``received`` are the hub's)."""


@pytest.fixture
def names() -> tuple[str, str, str]:
    """A stream and two sites of this test alone: records outlive their stream's
    object, which the ``client`` fixture deletes after each test."""
    tag = uuid.uuid4().hex[:8]
    return f"temps-{tag}", f"shop-a-{tag}", f"shop-b-{tag}"


@pytest.fixture
def feeds(client: HubClient, names: tuple[str, str, str]) -> tuple[Feed, Feed]:
    stream, a, b = names
    first, second = open_feeds(client, stream, a, b)
    return first, second


def posted(feed: Feed, records: list[wire.Record]) -> list[dict[str, Any]]:
    """What the hub should answer for ``records`` of ``feed``'s site (all UTF-8)."""
    return [
        {
            "site": feed.site,
            "seq": r.seq,
            "at": r.at,
            "priority": r.priority,
            "body": r.body.decode(),
        }
        for r in records
    ]


def shown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(set(i) == {"id", "received", *SHOWN} for i in items), items
    return [{k: i[k] for k in SHOWN} for i in items]


def sent(feed: Feed, seqs: range, at: float = T0, priority: int = 500) -> list[wire.Record]:
    """Records ``seqs`` of ``feed``, one a second from ``at`` + 0.25 s; posted."""
    records = [feed.record(s, at + s + 0.25, b'{"c":%d}' % s, priority) for s in seqs]
    feed.send(records)
    return records


def as_json(cli: Run, *args: str) -> list[dict[str, Any]]:
    result = cli("data", "query", *args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


def test_query_reads_records_by_site_and_time_in_every_format(
    cli: Run, feeds: tuple[Feed, Feed]
) -> None:
    a, b = feeds
    from_a, from_b = sent(a, range(1, 6)), sent(b, range(1, 4), at=T0 + 10, priority=750)
    stream = a.stream

    everything = as_json(cli, stream)
    assert shown(everything) == posted(a, from_a) + posted(b, from_b)
    assert shown(as_json(cli, stream, "--site", b.site)) == posted(b, from_b)
    window = ("--since", "2026-12-02T10:00:03Z", "--until", "2026-12-02T11:00:12+01:00")
    assert shown(as_json(cli, stream, *window)) == posted(a, from_a[2:]) + posted(b, from_b[:1])
    assert shown(as_json(cli, stream, "--limit", "2")) == posted(a, from_a[:2])

    result = cli("data", "query", stream, "--site", b.site, "-o", "yaml")
    assert yaml.safe_load(result.stdout) == {"items": everything[5:]}
    result = cli("data", "query", stream, "-o", "jsonl")
    assert [json.loads(line) for line in result.stdout.splitlines()] == everything

    table = cli("data", "query", stream, "--site", b.site)
    assert table.exit_code == 0, table.stderr
    assert [line.split() for line in table.stdout.splitlines()] == [
        ["TIME", "SITE", "SEQ", "PRIORITY", "BODY"],
        *(
            [f"2026-12-02T10:00:{10 + s:02d}.250Z", b.site, str(s), "750", f'{{"c":{s}}}']
            for s in range(1, 4)
        ),
    ]


def test_query_pages_to_its_limit_and_reads_relative_times(
    cli: Run, feeds: tuple[Feed, Feed]
) -> None:
    a, b = feeds
    many = sent(a, range(1, 1501))
    assert shown(as_json(cli, a.stream, "--limit", "1200")) == posted(a, many[:1200])
    assert len(as_json(cli, a.stream, "--limit", "100000")) == 1500

    now = time.time()
    recent = [b.record(1, now - 60, b"a minute ago"), b.record(2, now - 7200, b"2 hours ago")]
    b.send(recent)
    site = ("--site", b.site)
    assert shown(as_json(cli, b.stream, *site, "--since", "10m")) == posted(b, recent[:1])
    assert shown(as_json(cli, b.stream, *site, "--since", "1d", "--until", "1h")) == posted(
        b, recent[1:]
    )


def test_the_table_cuts_long_bodies_and_escapes_what_a_site_wrote(
    cli: Run, feeds: tuple[Feed, Feed]
) -> None:
    a, _ = feeds
    long, hostile, binary = b"x" * 100, b"\x1b[31mred\r\nforged", b"\xff\xfe\x00"
    a.send([a.record(s, T0 + s, body) for s, body in enumerate((long, hostile, binary), 1)])

    table = cli("data", "query", a.stream)
    bodies = [line.split()[-1] for line in table.stdout.splitlines()[1:]]
    assert bodies == ["x" * 59 + "…", "\\x1b[31mred\\r\\nforged", "base64://4A"]
    whole = as_json(cli, a.stream)
    assert [r["body"] for r in whole] == ["x" * 100, hostile.decode(), "//4A"]
    assert [r.get("encoding") for r in whole] == [None, None, "base64"]


def test_tail_prints_the_last_records_a_line_each(cli: Run, feeds: tuple[Feed, Feed]) -> None:
    a, b = feeds
    sent(a, range(1, 26))
    sent(b, range(1, 3), at=T0 + 100)

    result = cli("data", "tail", a.stream, "-n", "3", "--site", a.site)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f'2026-12-02T10:00:{s:02d}.250Z {a.site}#{s} {{"c":{s}}}' for s in (23, 24, 25)
    ]
    everyone = cli("data", "tail", a.stream).stdout.splitlines()
    assert [line.split()[1] for line in everyone] == [
        *(f"{a.site}#{s}" for s in range(18, 26)),
        f"{b.site}#1",
        f"{b.site}#2",
    ]


class TailProcess:
    """``edgeplane data tail ...`` in a process of its own, its lines read as they come."""

    def __init__(self, hub: HubProcess, config_file: Path, args: tuple[str, ...]) -> None:
        env = os.environ | {
            "EDGEPLANE_CONFIG": str(config_file),
            "EDGEPLANE_SERVER": hub.url,
            "EDGEPLANE_TOKEN": hub.token,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from edgeplane.main import main; main()", "data", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._read: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._read.put(line.rstrip("\n"))

    def read(self, count: int) -> list[str]:
        """The first ``count`` lines, once printed."""

        def have() -> bool:
            while not self._read.empty():
                self.lines.append(self._read.get())
            return len(self.lines) >= count or self.process.poll() is not None

        wait_until(have, f"{count} lines from tail -f", seen=lambda: self.lines)
        assert len(self.lines) >= count, self.stop()
        return self.lines[:count]

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: its exit code and stderr."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        _, stderr = self.process.communicate(timeout=30)
        return stderr


@pytest.fixture
def tail_process(hub: HubProcess, config_file: Path) -> Iterator[Callable[..., TailProcess]]:
    """Starts ``edgeplane data ARGS`` processes; kills any still running after the test."""
    made: list[TailProcess] = []

    def start(*args: str) -> TailProcess:
        made.append(TailProcess(hub, config_file, args))
        return made[-1]

    yield start
    for process in made:
        process.stop()


def test_tail_follows_new_records_until_ctrl_c(
    tail_process: Callable[..., TailProcess], feeds: tuple[Feed, Feed]
) -> None:
    a, _ = feeds
    sent(a, range(1, 4))
    tail = tail_process("tail", a.stream, "-n", "2", "-f", "--interval", "0.2")
    assert [line.split()[1] for line in tail.read(2)] == [f"{a.site}#2", f"{a.site}#3"]

    sent(a, range(4, 6), at=T0 + 60)
    lines = tail.read(4)
    assert lines[2:] == [f'2026-12-02T10:01:{s:02d}.250Z {a.site}#{s} {{"c":{s}}}' for s in (4, 5)]
    assert tail.interrupt() == (0, "")
    assert tail.lines == lines  # nothing more, nothing twice


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--since", "yesterday"), "--since 'yesterday'"),
        (("--since", "10"), "--since '10'"),
        (("--until", "2026-13-02T10:00:00Z"), "--until '2026-13-02T10:00:00Z'"),
        (("--until", "2026-12-02T10:00:00"), "--until '2026-12-02T10:00:00'"),
    ],
    ids=["words", "no-unit", "no-such-month", "no-offset"],
)
def test_a_bad_time_is_a_usage_error_naming_the_option(
    cli: Run, args: tuple[str, ...], named: str
) -> None:
    result = cli("data", "query", "anything", *args)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith(f"error: {named}: use an RFC 3339 time like ")
    assert "2026-12-02T10:00:00Z" in result.stderr and "10m" in result.stderr
    assert result.stdout == ""


def test_an_until_before_since_is_a_usage_error(cli: Run) -> None:
    result = cli("data", "query", "anything", "--since", "1h", "--until", "2h")
    assert result.exit_code == 2
    assert result.stderr == "error: --until '2h' is before --since '1h': swap them\n"


@pytest.mark.parametrize(
    "command", [("query",), ("tail",), ("tail", "-f")], ids=["query", "tail", "tail-f"]
)
def test_an_unknown_stream_is_the_hubs_not_found(cli: Run, command: tuple[str, ...]) -> None:
    result = cli("data", command[0], "no-such-stream", *command[1:])
    assert result.exit_code == 1
    assert result.stderr == 'error: datastream "no-such-stream" not found\n'
    assert result.stdout == ""


def test_status_shows_what_each_site_reported(cli: Run, client: HubClient) -> None:
    reported = {
        "streams": [
            {"name": "temps", "backlogRecords": 12, "backlogBytes": 3400,
             "oldestUnsentSeconds": 7.5, "sentRecords": 900, "rateRecordsPerSecond": 2.5,
             "dropped": {"expired": 3}},
            {"name": "doors", "backlogRecords": 0, "backlogBytes": 0, "sentRecords": 4},
        ],
        "sentBytes": 123456,
        "failures": 2,
        "lastError": "hub unreachable",
    }  # fmt: skip
    for name, data in (("status-a", reported), ("status-b", None)):
        created = client.create("sites", {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site",
                                          "metadata": {"name": name}})  # fmt: skip
        status: dict[str, Any] = {"phase": "Online", **({"data": data} if data else {})}
        client.replace_status("sites", {**created, "status": status})
    table = cli("data", "status", "--site", "status-a").stdout.splitlines()
    assert table[0].split() == [
        "SITE", "STREAM", "BACKLOG", "BYTES", "OLDEST", "RATE/S", "SENT", "DROPPED", "UPLINK"
    ]  # fmt: skip
    assert table[1].split() == ["status-a", "doors", "0", "0", "-", "-", "4", "-", "2", "failed:",
                                "hub", "unreachable"]  # fmt: skip
    assert table[2].split()[:8] == ["status-a", "temps", "12", "3400", "7.5s", "2.5", "900",
                                    "expired=3"]  # fmt: skip
    shown = json.loads(cli("data", "status", "temps", "-o", "json").stdout)["items"]
    assert [(r["site"], r["backlogRecords"]) for r in shown if r["site"].startswith("status-")] == [
        ("status-a", 12)
    ]
    assert cli("data", "status", "--site", "status-b").stderr == "No data reported.\n"
