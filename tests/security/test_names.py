"""Names and labels (issue 9, class 1): a name that only looks like another must be
refused, on a real hub.

``re.match`` with ``$`` accepts a final newline, so a site could join as "victim\\n"
and be handed a credential whose narrowed selector re-parsed to the victim's site.
Every name, label key and value, annotation key, artifact name and version is now
fully matched (ASCII only, no control characters, no trailing whitespace); each
refusal is a 422 naming the field, and leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import httpx

from tests.support.hub import HubProcess

API = "/api/v1alpha1"
APP: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "web", "labels": {"team": "retail"}},
    "spec": {
        "workload": {"process": {"command": "python3", "args": ["-m", "http.server"]}},
        "placement": {"mode": "Replicas", "replicas": 0},
    },
}
HOSTILE_SUFFIXES = ["\n", "\r", "\x00", "\x1b[2J", " ", "\t", "\u00a0", "\u0663"]
"""A final newline (what ``$`` lets through), other controls, trailing whitespace and
an Arabic-Indic digit (what ``str.isdigit`` and ``\\d`` let through)."""


def _client(hub: HubProcess) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10)


def _state(client: httpx.Client) -> dict[str, Any]:
    """Everything a refused write could have touched: each kind's list, without the
    list's own resourceVersion, and the store's current resourceVersion."""
    state: dict[str, Any] = {}
    for plural in ("sites", "applications"):
        answer = client.get(f"{API}/{plural}")
        assert answer.status_code == 200, answer.text
        state[plural] = answer.json()["items"]
        state[f"{plural}-rv"] = answer.json()["metadata"]["resourceVersion"]
    return state


@contextlib.contextmanager
def _unchanged(client: httpx.Client) -> Iterator[None]:
    before = _state(client)
    yield
    assert _state(client) == before, "a refused write changed the store"


def _refused(answer: httpx.Response, field: str) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text[:500]
    body: dict[str, Any] = answer.json()
    assert body["field"] == field, body
    assert body["message"], body
    return body


def _join_token(client: httpx.Client) -> str:
    answer = client.post(f"{API}/jointokens", json={"labels": {"region": "eu"}})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def test_joining_as_the_victim_with_a_suffix_is_refused(hub: HubProcess) -> None:
    with _client(hub) as client:
        victim = client.post(f"{API}/join", json={"token": _join_token(client), "site": "victim"})
        assert victim.status_code == 201, victim.text
        token = _join_token(client)
        for suffix in HOSTILE_SUFFIXES:
            with _unchanged(client):
                body = {"token": token, "site": f"victim{suffix}"}
                _refused(client.post(f"{API}/join", json=body), "site")
        # The refusals did not burn the token: it still joins under an honest name.
        honest = client.post(f"{API}/join", json={"token": token, "site": "attacker"})
        assert honest.status_code == 201, honest.text


def test_joining_with_a_hostile_label_is_refused(hub: HubProcess) -> None:
    with _client(hub) as client:
        token = _join_token(client)
        for suffix in HOSTILE_SUFFIXES:
            with _unchanged(client):
                body = {"token": token, "site": "shop-1", "labels": {"tier": f"edge{suffix}"}}
                _refused(client.post(f"{API}/join", json=body), "labels[tier]")
            with _unchanged(client):
                body = {"token": token, "site": "shop-1", "labels": {f"tier{suffix}": "edge"}}
                _refused(client.post(f"{API}/join", json=body), f"labels[tier{suffix}]")


def _with(path: str, value: Any) -> dict[str, Any]:
    """``APP`` with the dotted ``path`` set to ``value``."""
    obj = copy.deepcopy(APP)
    target: Any = obj
    *parents, last = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return obj


CASES: list[tuple[str, Any, str]] = [
    ("metadata.name", "web{}", "metadata.name"),
    ("metadata.labels", {"team{}": "retail"}, "metadata.labels[team{}]"),
    ("metadata.labels", {"team": "retail{}"}, "metadata.labels[team]"),
    (
        "metadata.annotations",
        {"example.com/note{}": "x"},
        "metadata.annotations[example.com/note{}]",
    ),
    (
        "spec.workload.process.artifacts",
        [{"name": "shelf-vision{}", "version": "1.0"}],
        "spec.workload.process.artifacts[0].name",
    ),
    (
        "spec.workload.process.artifacts",
        [{"name": "shelf-vision", "version": "1.0{}"}],
        "spec.workload.process.artifacts[0].version",
    ),
    ("spec.placement.siteGroups", ["eu-stores{}"], "spec.placement.siteGroups[0]"),
    ("spec.resources", {"cpu": "500m{}"}, "spec.resources.cpu"),
]


def _fill(value: Any, suffix: str) -> Any:
    if isinstance(value, str):
        return value.replace("{}", suffix)
    if isinstance(value, list):
        return [_fill(v, suffix) for v in value]
    if isinstance(value, dict):
        return {_fill(k, suffix): _fill(v, suffix) for k, v in value.items()}
    return value


def test_objects_with_hostile_names_are_refused(hub: HubProcess) -> None:
    with _client(hub) as client:
        for path, value, field in CASES:
            for suffix in HOSTILE_SUFFIXES:
                body = _with(path, _fill(value, suffix))
                with _unchanged(client):
                    answer = client.post(f"{API}/applications", json=body)
                    assert answer.status_code == 422, (path, suffix, answer.text[:300])
                    assert answer.json()["field"] == _fill(field, suffix), answer.json()
        # The same objects without the suffix are accepted: the refusal was the suffix.
        # (After every refusal: an accepted Application gets a Revision from the
        # placement controller in the background, which would move the store.)
        for path, value, _field in CASES:
            created = client.post(f"{API}/applications", json=_with(path, _fill(value, "")))
            assert created.status_code == 201, (path, created.text[:300])
            assert client.delete(f"{API}/applications/web").status_code == 200


def test_a_control_character_in_the_url_path_is_a_400(hub: HubProcess) -> None:
    """Routes end in "$", which matches before a final newline, so
    "/tokens/rotate-admin%0A" rotated the admin token and "/sites/x/status%0A" wrote a
    status. No name holds a control character: a path with one is refused first."""
    site = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": {"name": "shop-1"}}
    old = hub.token
    with _client(hub) as client:
        assert client.post(f"{API}/sites", json=site).status_code == 201
        with _unchanged(client):
            for method, path in (
                ("POST", f"{API}/tokens/rotate-admin%0A"),
                ("PUT", f"{API}/sites/shop-1/status%0A"),
                ("GET", f"{API}/sites/shop-1%0D"),
                ("DELETE", f"{API}/sites/shop-1%00"),
                ("GET", "/healthz%0A"),
            ):
                body = {**site, "status": {"phase": "Online"}} if method == "PUT" else None
                answer = client.request(method, path, json=body)
                assert answer.status_code == 400, (path, answer.text)
                assert answer.json()["field"] == "path"
        assert hub.token == old and client.get(f"{API}/sites").status_code == 200
    anonymous = httpx.post(f"{hub.url}{API}/join%0A", json={}, timeout=10)
    assert (anonymous.status_code, anonymous.json()["field"]) == (400, "path")


def test_a_selector_matches_names_whole_too(hub: HubProcess) -> None:
    """The selector parser took Unicode whitespace (\\s without re.ASCII) for spaces, so
    "tier=edge\\u00a0" selected tier=edge, and "\\x1f" or "\\u2028" were trimmed."""
    with _client(hub) as client:
        metadata = {"name": "edge-1", "labels": {"tier": "edge"}}
        site = {"apiVersion": "edgeplane.io/v1alpha1", "kind": "Site", "metadata": metadata}
        assert client.post(f"{API}/sites", json=site).status_code == 201
        for selector in (
            "tier=edge\u00a0",
            "\u00a0tier",
            "tier=edge\x1f",
            "tier in (x,\u2028edge)",
        ):
            answer = client.get(f"{API}/sites", params={"labelSelector": selector})
            assert answer.status_code == 400, (selector, answer.text[:200])
            assert answer.json()["field"] == "labelSelector"
        spaced = client.get(
            f"{API}/sites", params={"labelSelector": " tier = edge , tier in (edge) "}
        )
        assert [s["metadata"]["name"] for s in spaced.json()["items"]] == ["edge-1"]
