"""What a user's role may do: ``viewer`` reads, ``operator`` also runs applications,
``admin`` does everything (sites, tokens, policies, the audit log).

A pure table, as ``authz`` is for sites: a method and a path in, the least role that
may make that request out.
Paths are matched whole (``\\Z``, never ``$``, which lets a final newline through).
``can_i`` answers ``edgeplane auth can-i VERB KIND`` from the same table, so what the
CLI says is what the middleware does.

* **viewer**: GET on the fleet's objects, their explain, revisions, endpoints and
  records, artifacts, a site's logs, the API's discovery and ``/openapi.json``,
  ``/metrics``;
* **operator**: and writes of Applications (with dry-run, rollouts and reported
  metrics), DataStreams, DiscoveryProfiles and Devices, and artifact uploads;
* **admin**: everything else, and all of the above: Sites, SiteGroups, Policies,
  Assignments and Revisions by hand, any ``/status``, tokens, join tokens, credential
  rotation, the audit log.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from edgeplane.api.kinds import UnknownKind, kind_info
from edgeplane.api.labels import check_dns1123_subdomain
from edgeplane.hub.errors import ApiError

API = "/api/v1alpha1"
_NAME = r"[^/]+"


class Role(enum.IntEnum):
    """User roles, each allowed what the one below it is and more."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


USER_ROLES = {role.label: role for role in Role}
"""The roles a user token may carry (``POST /tokens``); "site" and "join" are not."""

READ_METHODS = frozenset({"GET", "HEAD"})
OPERATED_KINDS = ("applications", "datastreams", "discoveryprofiles", "devices")
"""What an operator writes (never their ``/status``: controllers and sites do)."""
_KINDS = "|".join(("sites", "sitegroups", "policies", "assignments", "revisions", *OPERATED_KINDS))
_VIEWER_READS = re.compile(
    rf"(?:{API}/(?:{_KINDS})(?:/{_NAME}(?:/explain|/revisions|/endpoints)?)?"
    rf"|{API}/datastreams/{_NAME}/records"
    rf"|{API}/artifacts(?:/{_NAME}/{_NAME}(?:/content)?)?"
    rf"|{API}/sites/{_NAME}/logs"
    rf"|{API}/auth/(?:can-i|whoami)"
    rf"|{API}|/openapi\.json|/metrics)\Z"
)
_OPERATOR_WRITES: list[tuple[frozenset[str], re.Pattern[str]]] = [
    (frozenset({"POST"}), re.compile(rf"{API}/(?:{'|'.join(OPERATED_KINDS)})\Z")),
    (
        frozenset({"PUT", "PATCH", "DELETE"}),
        re.compile(rf"{API}/(?:{'|'.join(OPERATED_KINDS)})/{_NAME}\Z"),
    ),
    (
        frozenset({"POST"}),
        re.compile(rf"{API}/applications/(?:dry-run|{_NAME}/(?:rollout|metrics))\Z"),
    ),
    (frozenset({"PUT"}), re.compile(rf"{API}/artifacts/{_NAME}/{_NAME}\Z")),
]


def least_role(method: str, path: str) -> Role:
    """The least role that may make this request."""
    if method in READ_METHODS and _VIEWER_READS.match(path):
        return Role.VIEWER
    if any(method in methods and pattern.match(path) for methods, pattern in _OPERATOR_WRITES):
        return Role.OPERATOR
    return Role.ADMIN


def allows(role: str, method: str, path: str) -> bool:
    """Whether a user token of ``role`` may make this request."""
    held = USER_ROLES.get(role)
    return held is not None and held >= least_role(method, path)


SITES_ONLY = re.compile(rf"{API}/sites/{_NAME}/secrets/{_NAME}\Z")
"""A Secret's values, for the site that runs what needs them (``hub.sitesecrets``)."""


def refused(subject: str, role: str, method: str, path: str) -> ApiError:
    """The 403 for a user whose role falls short, naming the role it needs."""
    if SITES_ONLY.match(path):
        return ApiError(
            403,
            "Forbidden",
            f"{subject!r} may not {method} {path}: only that site's credential reads a "
            "Secret's values, no user does (admins included)",
            "role",
        )
    needs = least_role(method, path).label
    return ApiError(
        403,
        "Forbidden",
        f"{subject!r} (role {role}) may not {method} {path}: that needs role {needs}; "
        f"ask an admin for a token with it (`edgeplane token create --role {needs}`)",
        "role",
    )


VERBS = {
    "get": "GET",
    "list": "GET",
    "watch": "GET",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
}
"""``can-i``'s verbs, as kubectl has them, and the method each is."""


@dataclass(frozen=True)
class Answer:
    allowed: bool
    role: str
    needs: str
    """The least role that may."""
    method: str
    path: str


class BadQuestion(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def can_i(role: str, verb: str, kind: str, name: str = "") -> Answer:
    """Whether ``role`` may ``verb`` the ``kind`` (one object when ``name`` is given, or
    a ``kind/subresource`` such as ``applications/rollout``)."""
    method = VERBS.get(verb.lower())
    if method is None:
        raise BadQuestion(f"unknown verb {verb!r}: use one of {', '.join(VERBS)}", "verb")
    base, _, sub = kind.partition("/")
    try:
        plural = kind_info(base).plural
    except UnknownKind as e:
        raise BadQuestion(str(e), "kind") from None
    if name and (problem := check_dns1123_subdomain(name)):
        raise BadQuestion(f"name {problem}", "name")
    one = name or "x"
    path = f"{API}/{plural}"
    if sub:
        if sub not in ("status", "explain", "revisions", "endpoints", "rollout", "metrics"):
            raise BadQuestion(f"unknown subresource {sub!r} of {plural}", "kind")
        path, method = f"{path}/{one}/{sub}", ("POST" if sub in ("rollout", "metrics") else method)
    elif name or verb.lower() in ("get", "update", "patch", "delete"):
        path = f"{path}/{one}"
    return Answer(allows(role, method, path), role, least_role(method, path).label, method, path)
