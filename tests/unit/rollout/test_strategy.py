"""Strategies (``rollout.strategy``): ``spec.rollout`` with its defaults, amounts, and
which wave each site is in (groups first-match, cumulative steps, the ``rest``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from edgeplane.rollout import Amount, Strategy, WaveSpec, waves_of
from edgeplane.rollout.strategy import parse_amount
from tests.unit.rollout.fleets import site, sites


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (None, Strategy((WaveSpec("all", percent=100),), application="a")),
        (
            {},
            Strategy((), Amount(25, True), 30.0, True, Amount(0), 600.0, None, application="a"),
        ),
        (
            {
                "groups": [
                    {"name": "c", "siteGroup": "cs", "requireApproval": True, "maxUnavailable": 1}
                ],
                "maxUnavailable": 3,
                "minSuccessSeconds": 5,
                "autoRollback": False,
                "failureThreshold": "10%",
                "progressDeadlineSeconds": 60,
                "gates": {"maxRestarts": 2, "http": {"path": "/healthz", "port": 80}},
            },
            Strategy(
                (WaveSpec("c", "cs", None, True, Amount(1)),),
                Amount(3),
                5.0,
                False,
                Amount(10, True),
                60.0,
                2,
                application="a",
            ),
        ),
        (
            {"steps": ["1%", {"percent": "50%", "requireApproval": True}]},
            Strategy(
                (WaveSpec("step-1", percent=1), WaveSpec("step-2", None, 50, True)),
                Amount(25, True),
                30.0,
                True,
                Amount(0),
                600.0,
                None,
                application="a",
            ),
        ),
    ],
    ids=["none-is-today's-behaviour", "empty-is-the-defaults", "every-field", "steps"],
)
def test_from_spec(rollout: dict[str, Any] | None, expected: Strategy) -> None:
    assert Strategy.from_spec(rollout, "a") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, Amount(3)), ("25%", Amount(25, True)), ("4", Amount(4)), (0, Amount(0))],
    ids=["count", "percent", "count-as-text", "zero"],
)
def test_parse_amount(raw: Any, expected: Amount) -> None:
    assert parse_amount(raw, "rollout.maxUnavailable") == expected


@pytest.mark.parametrize(
    "raw",
    ["101%", "x", -1, True, 1.5, "%"],
    ids=["over-100", "word", "negative", "bool", "float", "bare-percent"],
)
def test_parse_amount_refuses(raw: Any) -> None:
    says = "rollout.maxUnavailable: " + repr(raw) + " is not a count or a percentage: write 2"
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_amount(raw, "rollout.maxUnavailable")


@pytest.mark.parametrize(
    ("amount", "total", "expected"),
    [
        (Amount(25, True), 10, 2),
        (Amount(100, True), 7, 7),
        (Amount(3), 2, 3),
        (Amount(10, True), 5, 0),
    ],
    ids=["percent-rounds-down", "all", "count-as-is", "rounds-to-zero"],
)
def test_amount_of(amount: Amount, total: int, expected: int) -> None:
    assert amount.of(total) == expected


GROUPS = {"groups": [{"name": "canary", "siteGroup": "c"}, {"name": "eu", "siteGroup": "eu"}]}


@pytest.mark.parametrize(
    ("rollout", "views", "expected"),
    [
        (
            GROUPS,
            [site("a", groups=["c", "eu"]), site("b", groups=["eu"]), site("z")],
            [("canary", ["a"]), ("eu", ["b"]), ("rest", ["z"])],
        ),
        (GROUPS, [site("a", groups=["eu"])], [("canary", []), ("eu", ["a"])]),
        ({}, [site("b"), site("a")], [("rest", ["a", "b"])]),
        (None, [site("b"), site("a")], [("all", ["a", "b"])]),
    ],
    ids=[
        "first-group-wins-then-rest",
        "rest-omitted-when-empty",
        "no-groups-all-rest",
        "no-rollout-one-wave",
    ],
)
def test_waves_by_groups(
    rollout: dict[str, Any] | None, views: list[Any], expected: list[tuple[str, list[str]]]
) -> None:
    waves = waves_of(Strategy.from_spec(rollout, "a"), views)
    assert [(w.name, sorted(w.sites)) for w in waves] == expected


@pytest.mark.parametrize(
    ("steps", "count", "sizes"),
    [
        (["1%", "10%", "50%", "100%"], 200, [2, 18, 80, 100]),
        (["1%", "10%", "50%"], 200, [2, 18, 80, 100]),
        (["1%", "2%", "3%"], 10, [1, 1, 1, 7]),
        (["50%", "100%"], 1, [1, 0]),
        (["10%"], 0, [0]),
    ],
    ids=["cumulative", "rest-takes-the-remainder", "at-least-one-each", "none-left", "no-sites"],
)
def test_waves_by_steps(steps: list[str], count: int, sizes: list[int]) -> None:
    waves = waves_of(Strategy.from_spec({"steps": steps}, "a"), sites(count))
    assert [len(w.sites) for w in waves] == sizes
    assert sorted(s for w in waves for s in w.sites) == sorted(v.name for v in sites(count))


def test_step_order_is_stable_and_per_application() -> None:
    fleet = sites(50)
    first = waves_of(Strategy.from_spec({"steps": ["10%"]}, "a"), fleet)[0].sites
    again = waves_of(Strategy.from_spec({"steps": ["10%"]}, "a"), list(reversed(fleet)))[0].sites
    other = waves_of(Strategy.from_spec({"steps": ["10%"]}, "b"), fleet)[0].sites
    assert first == again and first != other
