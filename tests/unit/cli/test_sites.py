"""``site token`` flags (TTL and labels) and ``logs`` error paths, against a mock hub."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from edgeplane.api.labels import parse_label_pairs
from edgeplane.cli.sites import parse_ttl
from tests.unit.cli.conftest import SERVER, Handler, MockCli, hub_error

Bind = Callable[[Handler], MockCli]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), (" 1h ", 3600)],
    ids=["bare-seconds", "seconds", "minutes", "hours", "days", "spaces"],
)
def test_ttl_in_seconds(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "use seconds or a duration"),
        ("0", "use seconds or a duration"),
        ("1w", "use seconds or a duration"),
        ("-5m", "use seconds or a duration"),
        ("1.5h", "use seconds or a duration"),
        ("31d", "at most 30d"),
    ],
    ids=["empty", "zero", "unknown-unit", "negative", "fraction", "over-the-hub-limit"],
)
def test_bad_ttl_names_the_flag_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as raised:
        parse_ttl(text)
    assert str(raised.value).startswith(f"--ttl {text!r}")


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("", {}),
        ("region=eu-west", {"region": "eu-west"}),
        ("region=eu-west, tier=edge,", {"region": "eu-west", "tier": "edge"}),
        ("edgeplane.io/zone=a", {"edgeplane.io/zone": "a"}),
        ("empty=", {"empty": ""}),
    ],
    ids=["none", "one", "two-with-spaces", "prefixed-key", "empty-value"],
)
def test_labels_from_pairs(text: str, labels: dict[str, str]) -> None:
    assert parse_label_pairs(text) == labels


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("region", "--labels: 'region' is not KEY=VALUE"),
        ("tier=edge,region", "--labels: 'region' is not KEY=VALUE"),
        ("bad key=x", "--labels: key 'bad key'"),
        ("region=eu west", "--labels: value 'eu west' of 'region'"),
        (f"k={'v' * 64}", "must be no more than 63 characters"),
    ],
    ids=["no-equals", "second-pair-bad", "bad-key", "bad-value", "value-too-long"],
)
def test_bad_label_names_the_pair(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_label_pairs(text)


TOKEN = {"token": "ep_abc_def", "expiresAt": "2026-11-29T01:02:03Z", "labels": {"a": "b"}}


def issued(request: httpx.Request) -> httpx.Response:
    assert json.loads(request.content) == {"labels": {"a": "b"}, "ttlSeconds": 900}
    return httpx.Response(201, json=TOKEN)


def test_token_prints_expiry_and_the_agent_line(mock_cli: Bind) -> None:
    result = mock_cli(issued)("site", "token", "--labels", "a=b", "--ttl", "15m")
    assert result.exit_code == 0, result.stderr
    assert "expires 2026-11-29T01:02:03Z" in result.stdout
    assert "ep_abc_def" in result.stdout
    line = f"edgeplane agent --hub {SERVER} --join-token-file FILE --name SITE --data-dir DIR"
    assert line in result.stdout


def test_token_json_is_the_hub_answer(mock_cli: Bind) -> None:
    result = mock_cli(issued)("site", "token", "--labels", "a=b", "--ttl", "900", "-o", "json")
    assert json.loads(result.stdout) == TOKEN


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ttl", "5x"], "--ttl '5x'"),
        (["--labels", "region"], "'region' is not KEY=VALUE"),
        (["-o", "yaml"], "--output 'yaml' is not known"),
    ],
    ids=["ttl", "labels", "output"],
)
def test_bad_token_flags_are_usage_errors_asking_nothing(
    mock_cli: Bind, args: list[str], expected: str
) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a usage error must not reach the hub")

    result = mock_cli(never)("site", "token", *args)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_logs_prints_the_text_as_it_came(mock_cli: Bind) -> None:
    def lines(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1alpha1/sites/shop-1/logs"
        assert dict(request.url.params) == {"application": "web", "tail": "2"}
        return httpx.Response(200, text="one\ntwo\n")

    result = mock_cli(lines)("logs", "web", "--site", "shop-1", "--tail", "2")
    assert (result.exit_code, result.stdout) == (0, "one\ntwo\n")


@pytest.mark.parametrize(
    ("status", "reason", "message", "code"),
    [
        (404, "NotFound", "application 'web' has no assignment at site 'shop-1'", 1),
        (504, "SiteUnreachable", "site 'shop-1' did not answer within 10 s", 1),
        (403, "Forbidden", "a site token may not read logs", 4),
    ],
    ids=["no-assignment", "site-unreachable", "forbidden"],
)
def test_logs_errors_print_the_hub_message(
    mock_cli: Bind, status: int, reason: str, message: str, code: int
) -> None:
    result = mock_cli(hub_error(status, reason, message))("logs", "web", "--site", "shop-1")
    assert result.exit_code == code
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""


def test_logs_tail_out_of_range_is_a_usage_error(mock_cli: Bind) -> None:
    result = mock_cli(hub_error(500, "x", "x"))("logs", "web", "--site", "s", "--tail", "0")
    assert result.exit_code == 2
