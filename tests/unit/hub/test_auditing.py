"""What goes into the audit log (``hub.auditing.kept``) and how an answer is called."""

from __future__ import annotations

import pytest

from edgeplane.hub.auditing import kept, outcome

API = "/api/v1alpha1"


@pytest.mark.parametrize(
    ("method", "path", "status", "role", "expected"),
    [
        ("POST", f"{API}/applications", 201, "admin", True),
        ("DELETE", f"{API}/sites/s1", 200, "operator", True),
        ("POST", f"{API}/applications", 422, "operator", True),
        ("GET", f"{API}/applications", 200, "viewer", False),
        ("GET", f"{API}/tokens", 403, "viewer", True),
        ("GET", f"{API}/sites", 401, None, True),
        ("POST", f"{API}/join", 201, None, True),
        ("POST", f"{API}/sites/s1/heartbeat", 204, "site", False),
        ("PUT", f"{API}/sites/s1/status", 200, "site", False),
        ("PATCH", f"{API}/assignments/a-s1/status", 200, "site", False),
        ("POST", f"{API}/sites/s1/data", 201, "site", False),
        ("POST", f"{API}/sites/s1/heartbeat", 403, "viewer", True),
        ("PUT", f"{API}/sites/s1/status", 200, "admin", True),  # an admin's, not routine
        ("POST", f"{API}/sites/s1/credential", 201, "site", True),
        ("POST", f"{API}/sites/s1/heartbeat\nx", 204, "site", True),
    ],
)
def test_kept(method: str, path: str, status: int, role: str | None, expected: bool) -> None:
    assert kept(method, path, status, role) is expected


def test_outcome() -> None:
    assert [outcome(s) for s in (200, 201, 401, 403, 404, 409, 500, 503)] == [
        "allowed",
        "allowed",
        "denied",
        "denied",
        "refused",
        "refused",
        "failed",
        "failed",
    ]
