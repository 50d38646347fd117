"""What a site's credential may do: read its own Site and assignments, write their
status, fetch the artifacts its assignments name, and serve its own request queue
(polled, or through its stream).

``site_rule`` is the pure table (method and path in, a ``Rule`` out); ``SiteAuthorizer``
adds the checks that need the store (is this assignment ours, does one of ours name
this artifact). Assignment lists and watches are narrowed to the site's own label by
``site_requirement``: a ``Requirement`` object that the middleware hands to the list
handler in the ASGI scope, never text that is parsed again (a name ending in a newline
once re-parsed to another site's). Anything not in the table is 403: so a site never
reads, lists or watches ``Revision`` objects (an assignment carries all a site runs;
the templates of other revisions are not its business), and only admins write them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from edgeplane.api.selectors import Operator, Requirement, Selector
from edgeplane.api.wellknown import SITE_LABEL
from edgeplane.hub.errors import ApiError
from edgeplane.store.errors import NotFound
from edgeplane.store.protocol import Store

API = "/api/v1alpha1"


class Check(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    OWN_SITE = "own-site"
    OWN_ASSIGNMENT = "own-assignment"
    NARROW_LIST = "narrow-list"
    NAMED_ARTIFACT = "named-artifact"
    NAMED_SECRET = "named-secret"


@dataclass(frozen=True)
class Rule:
    check: Check
    name: str = ""
    """The site, assignment, ``artifact/version`` or Secret the check is about."""
    site: str = ""
    """For a Secret: the site in the path (it must be the caller)."""


_RULES: list[tuple[set[str], re.Pattern[str], Check]] = [
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)"), Check.OWN_SITE),
    ({"PUT", "PATCH"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/status"), Check.OWN_SITE),
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/requests"), Check.OWN_SITE),
    # Its one stream: assignment events, bookmarks and requests (hub/stream.py).
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/stream"), Check.OWN_SITE),
    ({"POST"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/requests/[^/]+"), Check.OWN_SITE),
    # Taking its new credential while a rotation is pending (hub/tokens.py).
    ({"POST"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/credential"), Check.OWN_SITE),
    # Data home: its record batches, and the streams it reaches (hub/data.py).
    ({"POST"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/data"), Check.OWN_SITE),
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/datastreams"), Check.OWN_SITE),
    # Discovery: the profiles it runs, and what it found (hub/devices.py).
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/discoveryprofiles"), Check.OWN_SITE),
    ({"POST"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/devices"), Check.OWN_SITE),
    # Its applications' endpoints, for its local DNS (hub/endpoints.py).
    ({"GET"}, re.compile(rf"{API}/sites/(?P<n>[^/]+)/endpoints"), Check.OWN_SITE),
    ({"GET"}, re.compile(rf"{API}/assignments"), Check.NARROW_LIST),
    ({"GET"}, re.compile(rf"{API}/assignments/(?P<n>[^/]+)"), Check.OWN_ASSIGNMENT),
    (
        {"PUT", "PATCH"},
        re.compile(rf"{API}/assignments/(?P<n>[^/]+)/status"),
        Check.OWN_ASSIGNMENT,
    ),
    (
        {"GET"},
        re.compile(rf"{API}/artifacts/(?P<n>[^/]+/[^/]+)(/content)?"),
        Check.NAMED_ARTIFACT,
    ),
    # A Secret one of its assignments names (hub/sitesecrets.py).
    ({"GET"}, re.compile(rf"{API}/sites/(?P<site>[^/]+)/secrets/(?P<n>[^/]+)"), Check.NAMED_SECRET),
]


def site_rule(method: str, path: str) -> Rule:
    """The check a site's request needs; DENY for everything not listed. Paths are
    matched whole: ``$`` would let a final newline through."""
    for methods, pattern, check in _RULES:
        if method in methods and (match := pattern.fullmatch(path)):
            groups = match.groupdict()
            return Rule(check, groups.get("n") or "", groups.get("site") or "")
    return Rule(Check.DENY)


def forbidden(site: str, method: str, path: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f"site {site!r} may not {method} {path}: a site credential reads only its own Site "
        "and assignments and writes their status; use an admin token for anything else",
    )


NARROWING = "narrowing"
"""The key in the ASGI scope's state under which a site's ``Requirement`` travels."""


def site_requirement(site: str) -> Requirement:
    """``edgeplane.io/site`` equal to exactly ``site``: built, not parsed, so whatever
    the credential's subject holds can only ever match that very string."""
    return Requirement(SITE_LABEL, Operator.IN, (site,))


def narrowed(selector: Selector, requirement: Requirement | None) -> Selector:
    """``selector`` ANDed with a site's ``requirement`` (unchanged for admins)."""
    if requirement is None:
        return selector
    return Selector((*selector.requirements, requirement))


class SiteAuthorizer:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def check(self, site: str, method: str, path: str) -> Rule:
        """The rule that lets the request through; ApiError 403 when none does."""
        rule = site_rule(method, path)
        allowed = {
            Check.ALLOW: True,
            Check.DENY: False,
            Check.NARROW_LIST: True,
            Check.OWN_SITE: rule.name == site,
        }.get(rule.check)
        if allowed is None:
            allowed = await self._owns(site, rule)
        if not allowed:
            raise forbidden(site, method, path)
        return rule

    async def _owns(self, site: str, rule: Rule) -> bool:
        if rule.check is Check.OWN_ASSIGNMENT:
            try:
                assignment = await self._store.get("Assignment", rule.name)
            except NotFound:
                return False  # 403, not 404: a site learns nothing of others' names
            return bool(assignment["spec"].get("site") == site)
        wanted: tuple[str, ...]
        if rule.check is Check.NAMED_SECRET:
            if rule.site != site:
                return False
            key, wanted = "secrets", (rule.name,)
        else:
            key, wanted = "artifacts", tuple(rule.name.partition("/")[::2])
        page = await self._store.list("Assignment", Selector((site_requirement(site),)))
        for assignment in page.items:
            process = assignment["spec"].get("workload", {}).get("process") or {}
            for used in process.get(key) or []:
                named = (used.get("name"), used.get("version"))[: len(wanted)]
                if named == wanted:
                    return True
        return False
