"""Malformed bodies (issue 9, class 9; strict integers of class 2; status sizes of
class 3): every one gets a 400 or 422 naming the field, never a 500, and a refused
write leaves the store exactly as it was, on a real hub.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.security.objects import API, APP
from tests.support.hub import HubProcess

SITE: dict[str, Any] = {
    "apiVersion": "edgeplane.io/v1alpha1",
    "kind": "Site",
    "metadata": {"name": "shop-1"},
    "spec": {},
}
STATUS = {"phase": "Online", "conditions": [{"type": "Ready", "status": "True"}]}
LEAKS = ("Traceback", 'File "', "sqlite", "SELECT", "RecursionError", "AttributeError")


def _client(hub: HubProcess) -> httpx.Client:
    return httpx.Client(base_url=hub.url, headers=hub.headers(), timeout=10)


def _state(client: httpx.Client) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for plural in ("sites", "applications"):
        answer = client.get(f"{API}/{plural}")
        assert answer.status_code == 200, answer.text
        state[plural] = answer.json()
    return state


@contextlib.contextmanager
def _unchanged(client: httpx.Client) -> Iterator[None]:
    """GET before and after: a refused write changes no object and no resourceVersion."""
    before = _state(client)
    yield
    assert _state(client) == before, "a refused write changed the store"


def _refused(answer: httpx.Response, statuses: tuple[int, ...], field: str | None) -> None:
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    body = answer.json()
    assert body["message"], body
    for leak in LEAKS:
        assert leak not in answer.text, answer.text[:300]
    if field is not None:
        assert body["field"] == field, body


def _site_with_status(client: httpx.Client) -> dict[str, Any]:
    assert client.post(f"{API}/sites", json=SITE).status_code == 201
    answer = client.put(f"{API}/sites/shop-1/status", json={**SITE, "status": STATUS})
    assert answer.status_code == 200, answer.text
    stored: dict[str, Any] = answer.json()
    assert stored["status"]["phase"] == "Online"
    return stored


def _raw(client: httpx.Client, method: str, path: str, content: bytes, **headers: str) -> Any:
    return client.request(
        method, path, content=content, headers={"Content-Type": "application/json", **headers}
    )


def test_deeply_nested_json_is_a_400_not_a_500(hub: HubProcess) -> None:
    deep = b'{"apiVersion": "edgeplane.io/v1alpha1", "kind": "Application", "x": ' + (
        b"[" * 1200 + b"]" * 1200 + b"}"
    )
    fair = copy.deepcopy(APP)
    fair["spec"]["overrides"] = [{"site": "shop-1", "values": {"a": _nested(100)}}]
    with _client(hub) as client, _unchanged(client):
        for method, path in (("POST", f"{API}/applications"), ("POST", f"{API}/join")):
            _refused(_raw(client, method, path, deep), (400,), "body")
        # Under Python's recursion limit but past the hub's depth limit: still a 400.
        answer = client.post(f"{API}/applications", json=fair)
        _refused(answer, (400,), None)
        assert "64 deep" in answer.json()["message"]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_non_finite_numbers_are_refused_at_parse(hub: HubProcess) -> None:
    where = "spec.overrides[0].values.x"
    with _client(hub) as client, _unchanged(client):
        for number in ("NaN", "Infinity", "-Infinity", "1e400"):
            text = json.dumps({**APP, "spec": {**APP["spec"], "overrides": "@"}})
            text = text.replace('"@"', f'[{{"site": "shop-1", "values": {{"x": {number}}}}}]')
            answer = _raw(client, "POST", f"{API}/applications", text.encode())
            _refused(answer, (400,), where)


def test_bodies_that_are_not_utf8_json_objects_are_400(hub: HubProcess) -> None:
    with _client(hub) as client:
        stored = _site_with_status(client)
        utf16 = json.dumps(APP).encode("utf-16")
        huge_number = b'{"metadata": {"name": "web"}, "x": ' + b"9" * 5000 + b"}"
        surrogate = json.dumps({**APP, "metadata": {"name": "web", "annotations": {}}})
        surrogate = surrogate.replace("{}", '{"note": "\\ud800"}')
        with _unchanged(client):
            for body in (utf16, b"\xff\xfe{}", huge_number, surrogate.encode(), b"[1]", b"5"):
                _refused(_raw(client, "POST", f"{API}/applications", body), (400,), None)
            # [1] as a status used to erase the stored status.
            _refused(_raw(client, "PUT", f"{API}/sites/shop-1/status", b"[1]"), (400,), "body")
        assert client.get(f"{API}/sites/shop-1").json() == stored


def test_a_status_put_must_carry_a_status_object(hub: HubProcess) -> None:
    with _client(hub) as client:
        stored = _site_with_status(client)
        with _unchanged(client):
            for body in ({**SITE}, {**SITE, "status": None}, {**SITE, "status": 5}):
                answer = client.put(f"{API}/sites/shop-1/status", json=body)
                _refused(answer, (422,), "status")
            answer = client.patch(
                f"{API}/sites/shop-1/status",
                json={"status": [1]},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            _refused(answer, (422,), "status")
        assert client.get(f"{API}/sites/shop-1").json() == stored


def test_malformed_metadata_is_a_422_naming_it(hub: HubProcess) -> None:
    patch = {"Content-Type": "application/merge-patch+json"}
    with _client(hub) as client:
        _site_with_status(client)
        with _unchanged(client):
            for metadata, field in (("x", "metadata"), ({"name": 5}, "metadata.name")):
                body = {**SITE, "metadata": metadata, "status": STATUS}
                _refused(client.put(f"{API}/sites/shop-1", json=body), (422,), field)
                _refused(client.put(f"{API}/sites/shop-1/status", json=body), (422,), field)
                answer = client.patch(f"{API}/sites/shop-1/status", json=body, headers=patch)
                _refused(answer, (422,), field)
                answer = client.patch(f"{API}/sites/shop-1", json=body, headers=patch)
                _refused(answer, (400, 422), None)


def test_strict_bounded_integers(hub: HubProcess) -> None:
    field = "spec.placement.replicas"
    bad: object  # a wrong value of any type
    with _client(hub) as client, _unchanged(client):
        for bad in ("3", True, 3.5, 1e30, 2**31, -1, 10**30):
            body = copy.deepcopy(APP)
            body["spec"]["placement"] = {"mode": "Replicas", "replicas": bad, "division": "Divided"}
            _refused(client.post(f"{API}/applications", json=body), (422,), field)
            # The dry run validates the same way (1e30 with Divided looped there too).
            answer = client.post(f"{API}/applications/dry-run", json=body)
            _refused(answer, (422,), field)
        for path, bad in (
            ("spec.workload.process.ports", [{"name": "web", "port": 65536}]),
            ("spec.workload.process.ports", [{"name": "web", "port": "80"}]),
            ("spec.placement.priority", 2**31),
            ("spec.failover.afterSeconds", 2**40),
        ):
            body = copy.deepcopy(APP)
            *parents, last = path.split(".")
            target = body
            for key in parents:
                target = target.setdefault(key, {})
            target[last] = bad
            answer = client.post(f"{API}/applications", json=body)
            _refused(answer, (422,), None)
            assert answer.json()["field"].startswith(path), answer.json()


def test_resource_versions_in_bodies_are_ascii_digits(hub: HubProcess) -> None:
    patch = {"Content-Type": "application/merge-patch+json"}
    field = "metadata.resourceVersion"
    with _client(hub) as client:
        _site_with_status(client)
        with _unchanged(client):
            for version in ("٣", "²", "1" * 21, "12\n", "abc"):
                metadata = {"name": "shop-1", "resourceVersion": version}
                body = {**SITE, "metadata": metadata, "status": STATUS}
                _refused(client.put(f"{API}/sites/shop-1", json=body), (422,), field)
                _refused(client.put(f"{API}/sites/shop-1/status", json=body), (422,), field)
                answer = client.patch(f"{API}/sites/shop-1/status", json=body, headers=patch)
                _refused(answer, (422,), field)


def test_status_fields_are_bounded(hub: HubProcess) -> None:
    with _client(hub) as client:
        _site_with_status(client)
        too_much: list[tuple[dict[str, Any], str]] = [
            (
                {"conditions": [{"type": "Ready", "status": "True", "message": "m" * 40000}]},
                "status.conditions[0].message",
            ),
            (
                {"conditions": [{"type": f"T{i}", "status": "True"} for i in range(101)]},
                "status.conditions",
            ),
            ({"address": "a" * 3000}, "status.address"),
            ({"agentVersion": "v" * 300}, "status.agentVersion"),
            ({"devices": [{"name": f"d{i}"} for i in range(1025)]}, "status.devices"),
            ({"inventory": {"hostname": "h" * 300}}, "status.inventory.hostname"),
            ({"phase": "Online", "address": "10.0.0.1\x1b]52;c;aGk=\x07"}, "status.address"),
        ]
        with _unchanged(client):
            for status, field in too_much:
                body = {**SITE, "status": status}
                answer = client.put(f"{API}/sites/shop-1/status", json=body)
                _refused(answer, (422,), field)
                answer = client.patch(
                    f"{API}/sites/shop-1/status",
                    json={"status": status},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                _refused(answer, (422,), field)


def test_a_key_twice_in_one_object_is_a_400_naming_it(hub: HubProcess) -> None:
    """Python's json kept the last of two equal keys without a word: a body that reads
    one way here and another way to anything that keeps the first."""
    twice = json.dumps(SITE).replace('"name": "shop-1"', '"name": "shop-1", "name": "shop-2"')
    with _client(hub) as client:
        stored = _site_with_status(client)
        with _unchanged(client):
            _refused(_raw(client, "POST", f"{API}/sites", twice.encode()), (400,), "metadata.name")
            status = b'{"status": {"phase": "Online", "phase": "Offline"}}'
            answer = _raw(
                client,
                "PATCH",
                f"{API}/sites/shop-1/status",
                status,
                **{"Content-Type": "application/merge-patch+json"},
            )
            _refused(answer, (400,), "status.phase")
            join = b'{"token": "ep_a_b", "token": "ep_c_d", "site": "shop-3"}'
            _refused(_raw(client, "POST", f"{API}/join", join), (400,), "token")
        assert client.get(f"{API}/sites/shop-1").json() == stored
