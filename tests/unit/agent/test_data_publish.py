"""What the agent's data plane answers a publish (``agent.data``), over a real spool:
201 only once on disk, and each refusal with its status and reason, changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeplane.agent.data import DataPlane
from edgeplane.agent.publishing import Publish
from edgeplane.agent.records import MAX_RECORD_BYTES
from edgeplane.agent.streamterms import StreamTerms
from edgeplane.api.wire import Object

ASSIGNMENT: Object = {
    "metadata": {"name": "pub.s1.abc"},
    "spec": {"application": "pub", "site": "s1", "workload": {"process": {"command": "x"}}},
}


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[DataPlane]:
    made = DataPlane(tmp_path, "s1", None, lambda: {"pub.s1.abc": ASSIGNMENT})  # type: ignore[arg-type]
    made.streams = {
        "temps": StreamTerms("temps", 750, 3600.0, 4096, frozenset({"pub"})),
        "doors": StreamTerms("doors", 500, 3600.0, None, frozenset({"other"})),
    }
    yield made
    made.spool.close()
    made._pool.shutdown()


def publish(plane: DataPlane, path: str, body: bytes, token: str | None = "mine") -> Publish:
    if token == "mine":
        token = plane.env_for(ASSIGNMENT)["EDGEPLANE_DATA_TOKEN"]
    return Publish("POST", path, token, "application/x-ndjson", body)


@pytest.mark.parametrize(
    ("path", "body", "token", "status", "reason"),
    [
        ("/v1/streams/temps", b"{}\n", None, 401, "Unauthorized"),
        ("/v1/streams/temps", b"{}\n", "forged", 401, "Unauthorized"),
        ("/v1/streams/nope", b"{}\n", "mine", 404, "UnknownStream"),
        ("/v1/streams/doors", b"{}\n", "mine", 403, "NotAllowed"),
        ("/v1/streams/temps", b'{"a":1}\nnot json\n', "mine", 400, "BadRecord"),
        ("/v1/streams/temps", b'"' + b"x" * 5000 + b'"\n', "mine", 413, "TooLarge"),
        ("/v1/other", b"{}", "mine", 404, "NotFound"),
    ],
    ids=["no-token", "forged", "unknown", "not-ours", "bad-line", "over-maxbytes", "path"],
)
async def test_refusals_change_nothing(
    plane: DataPlane, path: str, body: bytes, token: str | None, status: int, reason: str
) -> None:
    answer = await plane.handle(publish(plane, path, body, token))
    assert (answer.status, answer.body["reason"]) == (status, reason)
    assert plane.spool.backlog() == {}


async def test_records_on_disk_then_201_and_429_once_the_stream_is_full(plane: DataPlane) -> None:
    answer = await plane.handle(publish(plane, "/v1/streams/temps", b'{"c":4.2}\n{"c":4.3}\n'))
    assert (answer.status, answer.body) == (201, {"accepted": 2, "first": 1})
    assert plane.spool.backlog()["temps"].records == 2
    while (
        answer := await plane.handle(publish(plane, "/v1/streams/temps", b"{}\n"))
    ).status == 201:
        pass
    assert (answer.status, answer.body["reason"]) == (429, "stream-full")
    assert "retention.maxBytes" in answer.body["message"]


def test_a_record_is_bounded_so_a_batch_of_it_passes_the_hubs_body_limit() -> None:
    assert MAX_RECORD_BYTES + 64 * 1024 < 1024 * 1024
